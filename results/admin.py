from django.contrib import admin

from inspection.models import Defect


@admin.register(Defect)
class DefectAdmin(admin.ModelAdmin[Defect]):
    list_display = ["inspection", "label", "confidence", "area"]
    list_filter = ["label"]
    search_fields = ["inspection__serial", "label"]
    list_select_related = ["inspection__line"]
    raw_id_fields = ["inspection"]
