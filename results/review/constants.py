from django.db import models


class Decision(models.TextChoices):
    """QA's judgement of one defect the model found."""

    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected (false positive)"
    RELABELLED = "relabelled", "Relabelled"


class Disposition(models.TextChoices):
    """QA's judgement of the part as a whole."""

    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"


class ReviewState(models.TextChoices):
    UNREVIEWED = "unreviewed", "Not reviewed"
    REVIEWED = "reviewed", "Reviewed"


REVIEW_PERMISSION = "results.review_inspection"
EXPORT_PERMISSION = "results.export_inspections"

# A fail whose surest defect is below this confidence goes to the head of the queue after the
# `review` verdicts: the model was unsure, so QA's look is worth most there. A constant rather
# than a setting until a plant asks to tune it.
LOW_CONFIDENCE = 0.7

# The sample of passes: an inspection is in its line's sample when the first two hex digits of
# its id (a random UUID4), read as 0..255, fall below rate x 256. The same inspection is always
# in or out, whoever asks and when, and the choice knows nothing of the image, so the escapes
# found in the sample estimate the escapes among all passes without bias.
SAMPLE_BUCKETS = 256
