import functools
import hashlib
import json
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from inspection.constants import TERMINAL_STATUSES, ModelAction, ModelFormat, ModelStage, Status, TaskType, Verdict


class InspectionModel(models.Model):
    """A versioned defect model in storage: a torchvision architecture with its state dict, or a
    TorchScript archive.

    `labels` are the classifier's outputs in order; `good_labels` those that mean a good part.
    `thresholds` maps a label to the confidence at which it counts (others use
    `default_threshold`). `sha256` is checked every time a worker loads the artifact.
    """

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    task = models.CharField(max_length=32, choices=TaskType.choices, default=TaskType.CLASSIFICATION)
    format = models.CharField(max_length=16, choices=ModelFormat.choices, default=ModelFormat.STATE_DICT)
    architecture = models.CharField(
        max_length=64, blank=True, help_text="torchvision model name (e.g. mobilenet_v3_small) for state dicts"
    )
    artifact = models.FileField(upload_to="models/", max_length=300)
    sha256 = models.CharField(max_length=64)
    labels = models.JSONField(default=list)
    good_labels = models.JSONField(default=list)
    input_size = models.PositiveIntegerField(default=224, validators=[MinValueValidator(16)])
    mean = models.JSONField(default=list)
    std = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict, blank=True)
    default_threshold = models.FloatField(default=0.5)
    line = models.ForeignKey(
        "lines.ProductionLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="model_versions",
        help_text="The line this version is made for; promoting it puts it into production there.",
    )
    stage = models.CharField(max_length=16, choices=ModelStage.choices, default=ModelStage.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="model_version_unique")]
        # Who may put a version into production on a line (or take it back out) is not who may
        # register or edit a draft: see inspection/admin.py.
        permissions = [("promote_inspectionmodel", "Can promote and roll back model versions on lines")]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def threshold_for(self, label: str) -> float:
        return float(self.thresholds.get(label, self.default_threshold))

    def has_served(self) -> bool:
        """Whether this version judges, or has judged, any line's parts."""
        return self.stage != ModelStage.DRAFT or self.lines.exists() or Inspection.objects.filter(model=self).exists()

    @property
    def thresholds_version(self) -> str:
        """Names the thresholds that judge with this version (12 hex digits of their digest).
        They cannot change once the version has served (inspection/admin.py), so a result's
        model version and this name say what judged it."""
        return thresholds_version(self.thresholds, self.default_threshold)


@functools.lru_cache(maxsize=256)
def _thresholds_digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def thresholds_version(thresholds: dict[str, float], default_threshold: float) -> str:
    canonical = json.dumps({"default": default_threshold, "labels": thresholds}, sort_keys=True)
    return _thresholds_digest(canonical)


class ModelEvent(models.Model):
    """A promotion or roll-back of a line's model: what, from what, who and when."""

    line = models.ForeignKey("lines.ProductionLine", on_delete=models.PROTECT, related_name="model_events")
    action = models.CharField(max_length=16, choices=ModelAction.choices)
    model = models.ForeignKey(InspectionModel, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(InspectionModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    by = models.CharField(max_length=150, help_text="The user, or the command, that did it.")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.line_id}: {self.action} {self.model} by {self.by}"


class ResumableUpload(models.Model):
    """An image arriving in pieces over the tus protocol (`/api/v1/uploads/`).

    The bytes received so far live in a part file on the web host's disk (`part_path`);
    `offset` counts them. When the last byte arrives the upload becomes an Inspection, exactly
    as a direct upload does, and the part file is removed. Abandoned uploads expire.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    station = models.ForeignKey("lines.Station", on_delete=models.CASCADE, related_name="uploads")
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    inspection = models.ForeignKey(
        "inspection.Inspection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="upload_expires")]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.offset}/{self.length})"


def claim_stale_before(now: datetime) -> datetime:
    """Claims taken before this have outlived KENSA_CLAIM_LEASE_SECONDS: their worker is presumed dead."""
    return now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)


class InspectionQuerySet(models.QuerySet["Inspection"]):
    """The rules about which rows are in which state of the lifecycle, written once: the ORM
    paths use these methods and the hand-written claim statement is compiled from `claimable`
    (inspection/lifecycle/claims.py)."""

    def unowned(self, *, now: datetime, stale: datetime | None = None) -> "InspectionQuerySet":
        """No live worker owns the row: queued, or running since before `stale` (by default
        the claim lease before `now`)."""
        stale = claim_stale_before(now) if stale is None else stale
        return self.filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale))

    def claimable(self, *, now: datetime, stale: datetime | None = None) -> "InspectionQuerySet":
        """Unowned, still within its deadline and with attempts left: a worker may take it."""
        return self.unowned(now=now, stale=stale).filter(deadline_at__gte=now, attempts__lt=F("attempt_limit"))

    def waiting(self) -> "InspectionQuerySet":
        """Accepted and not finished: queued, or claimed by a worker."""
        return self.filter(status__in=[Status.QUEUED, Status.RUNNING])

    def terminal(self) -> "InspectionQuerySet":
        """Finished for good: done, failed or expired."""
        return self.filter(status__in=TERMINAL_STATUSES)


class Inspection(models.Model):
    """One image of one part, from upload to verdict. The database is the source of truth.

    `attempts` counts claims: a worker writes results only while the attempt it claimed is
    still the current one, so a redelivered message never produces a second result.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    line = models.ForeignKey("lines.ProductionLine", on_delete=models.PROTECT, related_name="inspections")
    station = models.ForeignKey("lines.Station", on_delete=models.PROTECT, related_name="inspections")
    serial = models.CharField(max_length=128, db_index=True)
    image_key = models.CharField(max_length=300)
    image_sha256 = models.CharField(max_length=64)
    image_bytes = models.PositiveBigIntegerField()
    image_format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    captured_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    deadline_at = models.DateTimeField(help_text="After this the verdict is of no use: the part has moved on.")
    attempts = models.PositiveIntegerField(default=0)
    attempt_limit = models.PositiveIntegerField(
        default=3, help_text="Claims allowed before the inspection is failed as poison (too_many_attempts)."
    )
    error_code = models.CharField(max_length=64, blank=True)
    model = models.ForeignKey(
        InspectionModel, on_delete=models.PROTECT, null=True, blank=True, related_name="inspections"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Milliseconds spent in each step.")
    idempotency_key = models.CharField(
        max_length=255, blank=True, help_text="The station's Idempotency-Key: its retries return this inspection."
    )

    feed_position = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Where the result stands in the MES feed (inspection/feed.py); set when it finished.",
    )

    objects = InspectionQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status", "queued_at"], name="inspection_status_queued"),
            models.Index(fields=["status", "deadline_at"], name="inspection_status_deadline"),
            models.Index(fields=["line", "finished_at", "id"], name="inspection_line_finished"),
            models.Index(fields=["finished_at", "id"], name="inspection_finished"),
            models.Index(fields=["line", "status"], name="inspection_line_status"),
            models.Index(
                fields=["feed_position", "id"], name="inspection_feed", condition=Q(feed_position__isnull=False)
            ),
            models.Index(
                fields=["line", "feed_position", "id"],
                name="inspection_line_feed",
                condition=Q(feed_position__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="inspection_idempotency_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.line_id}:{self.serial} ({self.status})"


class Defect(models.Model):
    """A defect the model found on an inspection's image: the model's own output, written with
    the verdict in the worker's result round and never edited afterwards.

    `box` is `[x0, y0, x1, y1]` in pixels of the original image and `area` its size in pixels;
    both are empty for classification models, which say what is wrong but not where.
    """

    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="defects")
    label = models.CharField(max_length=100)
    confidence = models.FloatField()
    box = models.JSONField(null=True, blank=True)
    area = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when defects belonged to the results app.
        db_table = "results_defect"
        ordering = ["inspection", "-confidence", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.confidence:.2f})"
