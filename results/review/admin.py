"""QA review in the admin: the review records (read-only), and the inspection's admin with the
image and its boxes, per-defect decisions, the part's disposition, the queue, bulk actions, the
CSV export and the model quality page.

The inspection's admin is registered by inspection/admin.py, and inspection/ never imports
results/ (docs/architecture.md): so this module unregisters it and registers a subclass that
adds the review, as inspection/admin.py does with the line admin's roll-back action.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from inspection.admin import InspectionAdmin, ReadOnlyAdminMixin, VisibleModelFilter
from inspection.errors import KensaError
from inspection.models import Defect, Inspection
from lines.admin import LineLimitedAdminMixin, VisibleLineFilter, VisibleStationFilter
from lines.selectors import line_limited, visible_line_ids_for_user
from results.review.constants import EXPORT_PERMISSION, REVIEW_PERMISSION, Decision, Disposition
from results.review.export import dataset_zip, inspections_csv
from results.review.filters import QUEUE_PARAMETER, DefectLabelFilter, ReviewQueueFilter, ReviewStateFilter
from results.review.models import DefectReview, PartDisposition
from results.review.selectors import (
    QUEUE_ORDERING,
    defects_with_state,
    dispositions_of,
    model_quality,
    queue_next,
    review_queue,
)
from results.review.services import (
    defect_review_record,
    defects_confirm_unreviewed,
    part_disposition_record,
    parts_pass,
)


@admin.register(DefectReview)
class DefectReviewAdmin(LineLimitedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[DefectReview]):
    """QA's decisions on defects: an audit trail, so nobody edits or deletes one by hand."""

    list_display = ["at", "defect", "decision", "new_label", "by", "previous"]
    list_filter = ["decision", ("defect__inspection__line", VisibleLineFilter)]
    line_field = "defect__inspection__line_id"
    search_fields = ["defect__inspection__serial", "by"]
    list_select_related = ["defect", "previous"]


@admin.register(PartDisposition)
class PartDispositionAdmin(LineLimitedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[PartDisposition]):
    """QA's dispositions of parts: an audit trail, like DefectReviewAdmin."""

    list_display = ["at", "inspection", "disposition", "escape", "by", "previous"]
    list_filter = ["disposition", "escape", ("inspection__line", VisibleLineFilter)]
    line_field = "inspection__line_id"
    search_fields = ["inspection__serial", "by"]
    list_select_related = ["inspection__line", "previous"]


def boxes_of(defects: list[Defect]) -> list[dict[str, Any]]:
    """Each boxed defect as an SVG rectangle in the image's pixels (classification defects have
    no box: they are listed, not drawn)."""
    boxes = []
    for defect in defects:
        if not defect.box or len(defect.box) != 4:
            continue
        x0, y0, x1, y1 = (float(v) for v in defect.box)
        boxes.append(
            {
                "id": defect.id,
                "x": x0,
                "y": y0,
                "w": max(x1 - x0, 1.0),
                "h": max(y1 - y0, 1.0),
                "label": defect.label,
                "confidence": defect.confidence,
                "state": getattr(defect, "decision", None) or "unreviewed",
            }
        )
    return boxes


class InspectionReviewAdmin(InspectionAdmin):
    change_form_template = "admin/results/review/inspection_change_form.html"
    change_list_template = "admin/results/review/inspection_change_list.html"
    list_filter = [
        ReviewQueueFilter,
        ReviewStateFilter,
        "verdict",
        "status",
        ("line", VisibleLineFilter),
        ("station", VisibleStationFilter),
        DefectLabelFilter,
        ("model", VisibleModelFilter),
        "received_at",
        "error_code",
    ]
    actions = [*InspectionAdmin.actions, "confirm_defects", "disposition_pass", "export_dataset"]
    list_display = ["received" if name == "received_at" else name for name in InspectionAdmin.list_display]

    @admin.display(description="received", ordering="received_at")
    def received(self, inspection: Inspection) -> str:
        # To the second: parts pass a station seconds apart, and QA matches them to the line's log.
        return timezone.localtime(inspection.received_at).strftime("%Y-%m-%d %H:%M:%S")

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def in_queue(self, request: HttpRequest) -> bool:
        return request.GET.get(QUEUE_PARAMETER) == "1"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Inspection]:
        # The queue is built here rather than in its filter: the admin orders the root queryset
        # before any filter runs, and ordering by the rank needs its annotation first.
        if self.in_queue(request):
            rows = line_limited(self.model._default_manager.get_queryset(), visible_line_ids_for_user(request.user))
            queue = review_queue(rows)
            return queue.select_related(*self.list_select_related).order_by(*QUEUE_ORDERING)
        return super().get_queryset(request)

    def get_ordering(self, request: HttpRequest) -> Any:
        # The queue's own order, unless the user sorts by a column.
        if self.in_queue(request) and ORDER_VAR not in request.GET:
            return list(QUEUE_ORDERING)
        return super().get_ordering(request)

    # --- bulk actions -------------------------------------------------------------------------

    @admin.action(description="Confirm every unreviewed defect of the selected inspections", permissions=["review"])
    def confirm_defects(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        count = defects_confirm_unreviewed(
            inspection_ids=queryset.values_list("id", flat=True), by=request.user.get_username()
        )
        self.message_user(request, f"{count} defects confirmed.", messages.SUCCESS)

    @admin.action(description="Disposition the selected parts: pass", permissions=["review"])
    def disposition_pass(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> None:
        passed, skipped = parts_pass(
            inspection_ids=queryset.values_list("id", flat=True), by=request.user.get_username()
        )
        note = f" ({skipped} skipped: unfinished, or failed by the model, which needs a reason each)" if skipped else ""
        self.message_user(request, f"{passed} parts passed{note}.", messages.SUCCESS)

    @admin.action(description="Export the reviewed ones as a training data set (zip)", permissions=["export"])
    def export_dataset(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> HttpResponseBase | None:
        try:
            return dataset_zip(queryset)
        except KensaError as refusal:
            self.message_user(request, f"{refusal.message} ({refusal.code})", messages.ERROR)
            return None

    # --- pages --------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view  # staff session, and CSRF on every POST
        own = [
            path("export.csv", wrap(self.export_view), name="inspection_inspection_export"),
            path("quality/", wrap(self.quality_view), name="inspection_inspection_quality"),
            path(
                "<path:object_id>/review/defects/<int:defect_id>/",
                wrap(require_POST(self.defect_review_view)),
                name="inspection_inspection_review_defect",
            ),
            path(
                "<path:object_id>/review/next/",
                wrap(self.next_view),
                name="inspection_inspection_review_next",
            ),
            path(
                "<path:object_id>/review/disposition/",
                wrap(require_POST(self.disposition_view)),
                name="inspection_inspection_review_disposition",
            ),
        ]
        # Before the defaults: their `<path:object_id>/` would swallow these.
        return own + super().get_urls()

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Inspection | None = None,
    ) -> HttpResponse:
        """The review beside the change page, from the row the admin has already read."""
        if obj is not None:
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def review_context(self, request: HttpRequest, inspection: Inspection) -> dict[str, Any]:
        model = inspection.model
        labels = list(model.labels) if model else []
        defects = defects_with_state(inspection)
        return {
            "review": {
                "inspection": inspection,
                "image_url": reverse("inspection-image", args=[inspection.id]),
                "defects": defects,
                "boxes": boxes_of(defects),
                "dispositions": dispositions_of(inspection),
                "model": model,
                "thresholds": [(label, model.threshold_for(label)) for label in labels] if model else [],
                "labels": labels,
                "decisions": Decision.choices,
                "can_review": self.has_review_permission(request),
                "opts": self.opts,
            }
        }

    def _inspection_for_review(self, request: HttpRequest, object_id: str) -> Inspection:
        if not self.has_review_permission(request):
            raise PermissionDenied
        inspection = self.get_object(request, object_id)
        if inspection is None:
            raise Http404("No inspection has this id.")
        return inspection

    def _back(self, inspection: Inspection) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:inspection_inspection_change", args=[inspection.pk]))

    def defect_review_view(self, request: HttpRequest, object_id: str, defect_id: int) -> HttpResponse:
        inspection = self._inspection_for_review(request, object_id)
        defect = get_object_or_404(inspection.defects, pk=defect_id)
        try:
            defect_review_record(
                defect=defect,
                decision=request.POST.get("decision", ""),
                new_label=request.POST.get("new_label", ""),
                reason=request.POST.get("reason", ""),
                by=request.user.get_username(),
            )
        except KensaError as refusal:
            self.message_user(request, f"{refusal.message} ({refusal.code})", messages.ERROR)
        else:
            self.message_user(request, f"Defect {defect.label} ({defect.confidence:.2f}): decision recorded.")
        return self._back(inspection)

    def disposition_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        inspection = self._inspection_for_review(request, object_id)
        try:
            record = part_disposition_record(
                inspection=inspection,
                disposition=request.POST.get("disposition", ""),
                reason=request.POST.get("reason", ""),
                by=request.user.get_username(),
            )
        except KensaError as refusal:
            self.message_user(request, f"{refusal.message} ({refusal.code})", messages.ERROR)
        else:
            escape = " It is recorded as an escape." if record.escape else ""
            self.message_user(request, f"Part {inspection.serial}: {record.disposition}.{escape}")
        return self._back(inspection)

    def next_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """The `n` key: the inspection after this one in the review queue of the user's lines
        (selectors.queue_next), worked out when asked, so that reviews others made meanwhile
        count, and a page's load never pays for ranking the queue."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        inspection = self.get_object(request, object_id)
        if inspection is None:
            raise Http404("No inspection has this id.")
        visible = line_limited(Inspection.objects.all(), visible_line_ids_for_user(request.user))
        following = queue_next(visible, after=inspection)
        if following is None:
            self.message_user(request, "The review queue holds nothing else.")
            return HttpResponseRedirect(reverse("admin:inspection_inspection_changelist") + f"?{QUEUE_PARAMETER}=1")
        return HttpResponseRedirect(reverse("admin:inspection_inspection_change", args=[following.pk]))

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as filtered on the changelist (the same query string), as CSV."""
        if not (self.has_view_permission(request) and request.user.has_perm(EXPORT_PERMISSION)):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return inspections_csv(changelist.get_queryset(request))

    def quality_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Model quality from QA reviews",
            "opts": self.opts,
            "rows": model_quality(line_ids=visible_line_ids_for_user(request.user)),
            "dispositions": Disposition.choices,
        }
        return TemplateResponse(request, "admin/results/review/quality.html", context)


admin.site.unregister(Inspection)
admin.site.register(Inspection, InspectionReviewAdmin)
