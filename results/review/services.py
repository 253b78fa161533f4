"""QA's decisions, written as new records: nothing here updates or deletes a row, and nothing
touches the model's own output (Defect, Inspection.verdict)."""

from collections.abc import Iterable

from django.db import transaction

from inspection.constants import Status, Verdict
from inspection.errors import KensaError
from inspection.models import Defect, Inspection
from results.review.constants import Decision, Disposition
from results.review.models import DefectReview, PartDisposition

# The model's verdict each disposition agrees with; any other needs QA's reason. A `review`
# verdict is the model asking, so neither answer contradicts it.
AGREES = {Disposition.PASS: {Verdict.PASS, Verdict.REVIEW}, Disposition.FAIL: {Verdict.FAIL, Verdict.REVIEW}}


def _reviewable(inspection: Inspection) -> None:
    if inspection.status != Status.DONE or not inspection.verdict:
        raise KensaError("review_not_finished", "The inspection has no verdict yet: there is nothing to review.")


@transaction.atomic
def defect_review_record(
    *, defect: Defect, decision: str, by: str, new_label: str = "", reason: str = ""
) -> DefectReview:
    """QA's decision on one defect, naming the decision it replaces."""
    if decision not in Decision.values:
        raise KensaError("review_decision_invalid", f"{decision!r} is not one of {', '.join(Decision.values)}.")
    # Locked, so two reviewers' decisions on one defect each name the other's as previous,
    # never the same one (the trail stays a line, not a fork).
    defect = Defect.objects.select_for_update(of=("self",)).select_related("inspection__model").get(pk=defect.pk)
    _reviewable(defect.inspection)
    if decision == Decision.RELABELLED:
        model = defect.inspection.model
        labels = [label for label in (model.labels if model else []) if label != defect.label]
        if new_label not in labels:
            raise KensaError(
                "review_label_invalid", f"Relabel to one of the model's other labels: {', '.join(labels) or 'none'}."
            )
    elif new_label:
        raise KensaError("review_label_invalid", "Only a relabel names a new label.")
    previous = defect.reviews.order_by("-at", "-id").first()
    return DefectReview.objects.create(
        defect=defect, decision=decision, new_label=new_label, reason=reason.strip(), by=by, previous=previous
    )


@transaction.atomic
def part_disposition_record(*, inspection: Inspection, disposition: str, by: str, reason: str = "") -> PartDisposition:
    """QA's pass or fail of a part; failing a part the model passed is an escape."""
    if disposition not in Disposition.values:
        raise KensaError("review_decision_invalid", f"{disposition!r} is not pass or fail.")
    inspection = Inspection.objects.select_for_update().get(pk=inspection.pk)
    _reviewable(inspection)
    reason = reason.strip()
    if inspection.verdict not in AGREES[Disposition(disposition)] and not reason:
        raise KensaError(
            "review_reason_required",
            f"The model said {inspection.verdict}: say why the part should {disposition} instead.",
        )
    previous = inspection.dispositions.order_by("-at", "-id").first()
    return PartDisposition.objects.create(
        inspection=inspection,
        disposition=disposition,
        reason=reason,
        escape=disposition == Disposition.FAIL and inspection.verdict == Verdict.PASS,
        by=by,
        previous=previous,
    )


@transaction.atomic
def defects_confirm_unreviewed(*, inspection_ids: Iterable[object], by: str) -> int:
    """Confirm every defect of these inspections that nobody has reviewed yet; a defect QA
    already judged keeps that judgement (a bulk click must not overrule a deliberate one)."""
    defects = Defect.objects.filter(
        inspection_id__in=list(inspection_ids), inspection__status=Status.DONE, reviews__isnull=True
    ).order_by("id")
    count = 0
    for defect in defects:
        defect_review_record(defect=defect, decision=Decision.CONFIRMED, by=by)
        count += 1
    return count


@transaction.atomic
def parts_pass(*, inspection_ids: Iterable[object], by: str) -> tuple[int, int]:
    """Pass these parts where the model did not fail them (that needs a reason each, which a bulk
    action has none of); returns (passed, skipped)."""
    passed = skipped = 0
    for inspection in Inspection.objects.filter(id__in=list(inspection_ids)).order_by("id"):
        try:
            part_disposition_record(inspection=inspection, disposition=Disposition.PASS, by=by)
        except KensaError:
            skipped += 1
        else:
            passed += 1
    return passed, skipped
