"""QA's review records: append-only, beside the model's own output (inspection.models.Defect and
Inspection.verdict), which they never change. A new decision is a new row naming the one it
replaces (`previous`), so the trail reads who changed what, when and from what."""

from django.db import models
from django.utils import timezone

from inspection.models import Defect, Inspection
from results.review.constants import Decision, Disposition


class ReviewRecord(models.Model):
    """What every review record holds besides its decision: why, who, when, and the record it
    replaces."""

    reason = models.TextField(blank=True)
    # The user's name rather than a key, as ModelEvent does: the trail outlives the account.
    by = models.CharField(max_length=150)
    at = models.DateTimeField(default=timezone.now)
    previous = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="superseded_by"
    )

    class Meta:
        abstract = True
        ordering = ["-at", "-id"]


class DefectReview(ReviewRecord):
    """QA's decision on one defect: confirmed, rejected as a false positive, or relabelled (to
    one of the model version's labels, `new_label`)."""

    # CASCADE: a review goes with the image it judges when retention or QA removes it.
    defect = models.ForeignKey(Defect, on_delete=models.CASCADE, related_name="reviews")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    new_label = models.CharField(max_length=100, blank=True)

    class Meta(ReviewRecord.Meta):
        indexes = [models.Index(fields=["defect", "-at", "-id"], name="defect_review_latest")]

    def __str__(self) -> str:
        label = f" as {self.new_label}" if self.new_label else ""
        return f"defect {self.defect_id}: {self.decision}{label} by {self.by}"


class PartDisposition(ReviewRecord):
    """QA's pass or fail of a part. `escape` is stored, not derived: it says the model passed the
    part QA failed, as the verdict stood when QA decided."""

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="dispositions")
    disposition = models.CharField(max_length=8, choices=Disposition.choices)
    escape = models.BooleanField(default=False)

    class Meta(ReviewRecord.Meta):
        indexes = [models.Index(fields=["inspection", "-at", "-id"], name="disposition_latest")]
        # Reviewing is not editing an inspection (which `change` on it allows), and exporting the
        # list in bulk is a right of its own.
        permissions = [
            ("review_inspection", "Can review defects and disposition parts"),
            ("export_inspections", "Can export the inspection list as CSV"),
        ]

    def __str__(self) -> str:
        return f"{self.inspection_id}: {self.disposition} by {self.by}"
