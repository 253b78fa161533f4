from django.contrib import admin

from inspection.models import Defect
from results.mes import admin as mes_admin  # noqa: F401  (registers API clients)


@admin.register(Defect)
class DefectAdmin(admin.ModelAdmin[Defect]):
    list_display = ["inspection", "label", "confidence", "area"]
    list_filter = ["label"]
    search_fields = ["inspection__serial", "label"]
    list_select_related = ["inspection__line"]
    raw_id_fields = ["inspection"]
