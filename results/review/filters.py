"""The inspection list's filters for QA: the review queue, review state, defect label."""

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from inspection.models import Defect, Inspection
from results.review.constants import ReviewState
from results.review.selectors import reviewed

QUEUE_PARAMETER = "queue"


class ReviewQueueFilter(admin.SimpleListFilter):
    """QA's queue: `review` verdicts, then unsure fails, then the sample of passes; unreviewed
    only. The choice lives here; the admin's get_queryset builds the queue (selectors.review_queue),
    as it must be annotated before the admin orders it by `queue_rank`."""

    title = "review queue"
    parameter_name = QUEUE_PARAMETER

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1", "To review, most useful first")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> QuerySet[Inspection]:
        return queryset


class ReviewStateFilter(admin.SimpleListFilter):
    title = "review state"
    parameter_name = "review_state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(ReviewState.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> QuerySet[Inspection]:
        if self.value() == ReviewState.REVIEWED:
            return queryset.filter(reviewed())
        if self.value() == ReviewState.UNREVIEWED:
            return queryset.exclude(reviewed())
        return queryset


class DefectLabelFilter(admin.SimpleListFilter):
    """Parts with a defect of this label (by the model's label; Exists, so a part with two such
    defects is listed once)."""

    title = "defect label"
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = Defect.objects.order_by("label").values_list("label", flat=True).distinct()
        return [(label, label) for label in labels]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Inspection]) -> QuerySet[Inspection]:
        if not self.value():
            return queryset
        return queryset.filter(Exists(Defect.objects.filter(inspection=OuterRef("pk"), label=self.value())))
