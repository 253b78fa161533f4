from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from inspection.lifecycle import inspections_requeue
from inspection.models import Inspection, InspectionModel
from results.models import Defect


@admin.register(InspectionModel)
class InspectionModelAdmin(admin.ModelAdmin[InspectionModel]):
    list_display = ["name", "version", "task", "architecture", "input_size", "created_at"]
    list_filter = ["task", "architecture"]
    search_fields = ["name", "version", "sha256"]
    readonly_fields = ["sha256", "created_at"]


class DefectInline(admin.TabularInline[Defect, Inspection]):
    model = Defect
    extra = 0
    fields = ["label", "confidence", "box", "area"]
    readonly_fields = ["label", "confidence", "box", "area"]
    can_delete = False


@admin.register(Inspection)
class InspectionAdmin(admin.ModelAdmin[Inspection]):
    list_display = ["id", "line", "station", "serial", "status", "verdict", "error_code", "received_at"]
    list_filter = ["status", "verdict", "line", "error_code"]
    search_fields = ["serial", "=id"]
    date_hierarchy = "received_at"
    list_select_related = ["line", "station__line"]
    inlines = [DefectInline]
    readonly_fields = [field.name for field in Inspection._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Queue the selected failed or expired inspections again")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        count = inspections_requeue(inspection_ids=queryset.values_list("id", flat=True))
        skipped = queryset.count() - count
        note = f" ({skipped} skipped: only failed or expired ones are queued again)" if skipped else ""
        self.message_user(request, f"{count} inspections queued again{note}.", messages.SUCCESS)
