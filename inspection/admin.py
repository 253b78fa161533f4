"""The registry's and the lifecycle's admin: model versions, their audit trail, inspections.

Every action names the permission it needs, so a staff user who may only look is never
offered it, and a POST naming it anyway is answered "No action selected" with nothing done.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from inspection.errors import KensaError
from inspection.inference.registry import model_promote, model_rollback
from inspection.lifecycle.sweeper import inspections_requeue
from inspection.models import Defect, Inspection, InspectionModel, ModelEvent
from lines.admin import LineLimitedAdminMixin, ProductionLineAdmin, VisibleLineFilter, visible_choices_filter
from lines.models import ProductionLine

PROMOTE_PERMISSION = "inspection.promote_inspectionmodel"


def can_promote(request: HttpRequest) -> bool:
    """Promoting a version and rolling a line back both choose which model judges a line's
    parts from the next image on: one authority (a QA lead's), held apart from editing drafts
    or a line's settings, so a custom permission rather than `change` on either model."""
    return request.user.has_perm(PROMOTE_PERMISSION)


class ReadOnlyAdminMixin:
    """For records nobody edits by hand, superusers included: audit trails and the model's own
    output. They can be viewed (with a view permission), never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InspectionModel)
class InspectionModelAdmin(LineLimitedAdminMixin, admin.ModelAdmin[InspectionModel]):
    """Versions of the user's lines only (a version for no line is a superuser's or a plant
    admin's to see), so a supervisor promotes on their own lines alone."""

    list_display = ["name", "version", "line", "stage", "task", "architecture", "input_size", "created_at"]
    list_filter = ["stage", ("line", VisibleLineFilter), "task", "architecture"]
    search_fields = ["name", "version", "sha256"]
    readonly_fields = ["sha256", "stage", "created_at"]
    actions = ["promote"]

    # What judges parts is fixed once a version has served: results name the model version
    # and its thresholds_version, and both must keep meaning what judged them.
    JUDGING_FIELDS = ["labels", "good_labels", "thresholds", "default_threshold", "artifact", "task", "format"]

    def get_readonly_fields(self, request: HttpRequest, obj: InspectionModel | None = None) -> list[str]:
        fixed = obj is not None and obj.has_served()
        return [*self.readonly_fields, *(self.JUDGING_FIELDS if fixed else [])]

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return can_promote(request)

    @admin.action(description="Promote the selected version to production on its line", permissions=["promote"])
    def promote(self, request: HttpRequest, queryset: QuerySet[InspectionModel]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            event = model_promote(model=queryset.get(), by=request.user.get_username())
        except KensaError as refusal:
            self.message_user(request, refusal.message, messages.ERROR)
            return
        self.message_user(request, f"{event.model} now serves line {event.line}.", messages.SUCCESS)


VisibleModelFilter = visible_choices_filter("line_id")


@admin.register(ModelEvent)
class ModelEventAdmin(LineLimitedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[ModelEvent]):
    list_display = ["at", "line", "action", "model", "previous", "by"]
    list_filter = ["action", ("line", VisibleLineFilter)]
    readonly_fields = ["at", "line", "action", "model", "previous", "by"]


class DefectInline(ReadOnlyAdminMixin, admin.TabularInline[Defect, Inspection]):
    model = Defect
    extra = 0
    fields = ["label", "confidence", "box", "area"]
    readonly_fields = ["label", "confidence", "box", "area"]


@admin.register(Inspection)
class InspectionAdmin(LineLimitedAdminMixin, admin.ModelAdmin[Inspection]):
    list_display = ["id", "line", "station", "serial", "status", "verdict", "error_code", "received_at"]
    list_filter = ["status", "verdict", ("line", VisibleLineFilter), "error_code"]
    search_fields = ["serial", "=id"]
    date_hierarchy = "received_at"
    list_select_related = ["line", "station__line"]
    inlines = [DefectInline]
    readonly_fields = [field.name for field in Inspection._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Queue the selected failed or expired inspections again", permissions=["change"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        count = inspections_requeue(inspection_ids=queryset.values_list("id", flat=True))
        skipped = queryset.count() - count
        note = f" ({skipped} skipped: only failed or expired ones are queued again)" if skipped else ""
        self.message_user(request, f"{count} inspections queued again{note}.", messages.SUCCESS)


@admin.action(description="Roll back the selected lines to their previous model", permissions=["promote"])
def roll_back_model(modeladmin: ProductionLineAdmin, request: HttpRequest, queryset: QuerySet[ProductionLine]) -> None:
    for line in queryset:
        try:
            event = model_rollback(line=line, by=request.user.get_username())
        except KensaError as refusal:
            modeladmin.message_user(request, refusal.message, messages.ERROR)
            continue
        modeladmin.message_user(request, f"Line {line.code} is back on {event.model}.", messages.SUCCESS)


class LineWithModelAdmin(ProductionLineAdmin):
    """The line's admin with the registry's roll-back. A line's model is the registry's business:
    the action (and the permission it needs) joins the line's admin from here, so that lines/
    never imports inspection/ (docs/architecture.md)."""

    actions = [*ProductionLineAdmin.actions, roll_back_model]

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return can_promote(request)


admin.site.unregister(ProductionLine)
admin.site.register(ProductionLine, LineWithModelAdmin)
