"""Reads for QA review: the queue's order, each defect's current decision, and model quality."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, StrIndex, Substr

from inspection.constants import Status, Verdict
from inspection.models import Defect, Inspection
from results.review.constants import LOW_CONFIDENCE, SAMPLE_BUCKETS, Decision, Disposition
from results.review.models import DefectReview, PartDisposition

HEX = Value("0123456789abcdef")


def _hex_digit(text: Any, position: int) -> Any:
    return StrIndex(HEX, Substr(text, position, 1)) - 1


def sample_bucket() -> ExpressionWrapper:
    """0..255 from the first two hex digits of the inspection's id, in SQL that PostgreSQL and
    SQLite both run (the id's text starts with them on both)."""
    text = Cast("id", CharField())
    return ExpressionWrapper(_hex_digit(text, 1) * 16 + _hex_digit(text, 2), output_field=IntegerField())


def in_sample() -> Q:
    """Passed parts in their line's sample (constants.SAMPLE_BUCKETS says why it is drawn so);
    needs the `sample_bucket` annotation."""
    return Q(verdict=Verdict.PASS, sample_bucket__lt=F("line__review_sample_rate") * SAMPLE_BUCKETS)


def latest_disposition(field_name: str = "disposition") -> Subquery:
    latest = PartDisposition.objects.filter(inspection=OuterRef("pk")).order_by("-at", "-id")
    return Subquery(latest.values(field_name)[:1])


def latest_decision(field_name: str = "decision") -> Subquery:
    latest = DefectReview.objects.filter(defect=OuterRef("pk")).order_by("-at", "-id")
    return Subquery(latest.values(field_name)[:1])


def reviewed() -> Q:
    """QA has dispositioned the part or judged one of its defects."""
    return Q(Exists(PartDisposition.objects.filter(inspection=OuterRef("pk")))) | Q(
        Exists(DefectReview.objects.filter(defect__inspection=OuterRef("pk")))
    )


# The queue's order: its rank, then the newest first within a rank (the id settles ties, so
# "next" is always the same one).
QUEUE_ORDERING = ("queue_rank", "-received_at", "id")


def review_queue(queryset: QuerySet[Inspection]) -> QuerySet[Inspection]:
    """Finished parts QA should look at, with `queue_rank`: 0 the model's `review` verdicts, 1
    fails whose surest defect is below LOW_CONFIDENCE, 2 the sample of passes. Parts already
    reviewed leave the queue."""
    ranked = (
        queryset.filter(status=Status.DONE)
        .annotate(
            max_confidence=Subquery(
                Defect.objects.filter(inspection=OuterRef("pk")).order_by("-confidence").values("confidence")[:1],
                output_field=FloatField(),
            ),
            sample_bucket=sample_bucket(),
        )
        .annotate(
            queue_rank=Case(
                When(verdict=Verdict.REVIEW, then=Value(0)),
                When(Q(verdict=Verdict.FAIL) & Q(max_confidence__lt=LOW_CONFIDENCE), then=Value(1)),
                When(in_sample(), then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
    )
    return ranked.filter(~reviewed(), queue_rank__lt=3)


def queue_next(queryset: QuerySet[Inspection], *, after: Inspection) -> Inspection | None:
    """The inspection that follows `after` in the review queue made of `queryset` (the lines
    the reviewer sees): the next in QUEUE_ORDERING when `after` is in the queue, else (QA has
    just reviewed it, or opened one from outside the queue) the queue's head. After the last
    one it starts again from the head; None when the queue holds nothing else."""
    queue = review_queue(queryset)
    others = queue.exclude(pk=after.pk).order_by(*QUEUE_ORDERING)
    place = queue.filter(pk=after.pk).values("queue_rank", "received_at").first()  # type: ignore[misc]
    if place is not None:
        rank, received = place["queue_rank"], place["received_at"]
        following = others.filter(
            Q(queue_rank__gt=rank)
            | Q(queue_rank=rank, received_at__lt=received)
            | Q(queue_rank=rank, received_at=received, id__gt=after.pk)
        ).first()
        if following is not None:
            return following
    return others.first()


def defects_with_state(inspection: Inspection) -> list[Defect]:
    """The inspection's defects, each with its current decision (`decision`, `new_label`, `by`,
    `at`; None when nobody has judged it) and how many decisions it has had."""
    return list(
        inspection.defects.annotate(
            decision=latest_decision(),
            new_label=latest_decision("new_label"),
            decided_by=latest_decision("by"),
            decided_at=latest_decision("at"),
            decisions=Count("reviews"),
        ).order_by("-confidence", "id")
    )


def dispositions_of(inspection: Inspection) -> list[PartDisposition]:
    return list(inspection.dispositions.order_by("-at", "-id"))


# --- model quality ----------------------------------------------------------------------------


@dataclass
class LabelQuality:
    label: str
    reviewed: int = 0
    confirmed: int = 0
    rejected: int = 0
    relabelled: int = 0

    @property
    def precision(self) -> float | None:
        """Of the defects QA judged, the share the model named right."""
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass
class ModelQuality:
    """One line x model version. Escapes are a part's, not a label's (a passed part has no
    defect to name), so they are counted per line x version, from the sampled passes only: a
    pass QA happened to open is no unbiased draw."""

    line: str
    model: str
    labels: list[LabelQuality] = field(default_factory=list)
    sampled_passes: int = 0
    escapes: int = 0

    @property
    def escape_rate(self) -> float | None:
        return self.escapes / self.sampled_passes if self.sampled_passes else None

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "model": self.model,
            "labels": [
                {
                    "label": q.label,
                    "reviewed": q.reviewed,
                    "confirmed": q.confirmed,
                    "rejected": q.rejected,
                    "relabelled": q.relabelled,
                    "precision": q.precision,
                }
                for q in self.labels
            ],
            "sampled_passes": self.sampled_passes,
            "escapes": self.escapes,
            "escape_rate": self.escape_rate,
        }


def model_quality(*, line_ids: frozenset[int] | set[int] | None = None) -> list[ModelQuality]:
    """Per line x model version x label, from each defect's and each part's current decision."""
    defects = Defect.objects.filter(inspection__model__isnull=False).annotate(decision=latest_decision())
    parts = Inspection.objects.filter(status=Status.DONE, model__isnull=False).annotate(
        sample_bucket=sample_bucket(), disposition=latest_disposition()
    )
    if line_ids is not None:
        defects = defects.filter(inspection__line_id__in=line_ids)
        parts = parts.filter(line_id__in=line_ids)
    counts = (
        defects.filter(decision__isnull=False)
        .values("inspection__line__code", "inspection__model__name", "inspection__model__version", "label")
        .annotate(
            reviewed=Count("id"),
            confirmed=Count("id", filter=Q(decision=Decision.CONFIRMED)),
            rejected=Count("id", filter=Q(decision=Decision.REJECTED)),
            relabelled=Count("id", filter=Q(decision=Decision.RELABELLED)),
        )
        .order_by("inspection__line__code", "inspection__model__name", "inspection__model__version", "label")
    )
    escapes = (
        parts.filter(in_sample(), disposition__isnull=False)
        .values("line__code", "model__name", "model__version")
        .annotate(sampled=Count("id"), escapes=Count("id", filter=Q(disposition=Disposition.FAIL)))
        .order_by("line__code", "model__name", "model__version")
    )
    table: dict[tuple[str, str], ModelQuality] = {}

    def row(line: str, name: str, version: str) -> ModelQuality:
        model = f"{name}@{version}"
        return table.setdefault((line, model), ModelQuality(line=line, model=model))

    for c in counts:
        row(c["inspection__line__code"], c["inspection__model__name"], c["inspection__model__version"]).labels.append(
            LabelQuality(
                label=c["label"],
                reviewed=c["reviewed"],
                confirmed=c["confirmed"],
                rejected=c["rejected"],
                relabelled=c["relabelled"],
            )
        )
    for e in escapes:
        quality = row(e["line__code"], e["model__name"], e["model__version"])
        quality.sampled_passes, quality.escapes = e["sampled"], e["escapes"]
    return [table[key] for key in sorted(table)]
