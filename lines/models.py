import hashlib
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from lines.constants import STATION_KEY_PREFIX, Priority

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,47}$",
    "Use 1-48 lower-case letters, digits and hyphens, starting with a letter or digit.",
)


class ProductionLine(models.Model):
    """A production line: its stations upload images, which its inspection model judges.

    `priority` chooses the worker queue and the image's place in a worker's batches;
    `deadline_seconds` is how long an image may wait for a verdict before it is no longer worth
    one (the part has moved on) and is marked expired; `latency_target_ms`, when set, is how
    soon the line wants its verdicts, which bounds the batches that less urgent lines' images
    may make it ride in (docs/priority.md).
    """

    code = models.CharField(max_length=48, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    active = models.BooleanField(default=True)
    deadline_seconds = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1)])
    latency_target_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Milliseconds from upload to verdict this line aims at. While its images wait, a worker "
        "keeps the batches it adds lower-priority images to small enough to meet it. Empty: no target.",
    )
    queue_limit = models.PositiveIntegerField(
        default=2000,
        validators=[MinValueValidator(1)],
        help_text="Images waiting (queued or running) above which uploads are refused with 503.",
    )
    inspection_model = models.ForeignKey(
        "inspection.InspectionModel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lines",
        help_text="The model that judges this line's images.",
    )
    review_sample_rate = models.FloatField(
        default=0.02,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of passed parts put in QA's review queue (0 to 1), so escapes can be estimated.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


def hash_station_key(key: str) -> str:
    """Station keys are 256-bit random tokens, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(key.encode()).hexdigest()


class Station(models.Model):
    """A camera PC or PLC gateway on a line. It authenticates uploads with its API key."""

    line = models.ForeignKey(ProductionLine, on_delete=models.PROTECT, related_name="stations")
    code = models.CharField(max_length=48, validators=[code_validator])
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    key_prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["line__code", "code"]
        constraints = [models.UniqueConstraint(fields=["line", "code"], name="station_code_unique_per_line")]

    def __str__(self) -> str:
        return f"{self.line.code}/{self.code}"

    def set_new_key(self) -> str:
        """Give the station a new key and return it; only its digest is kept."""
        prefix = secrets.token_hex(4)
        key = f"{STATION_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        self.key_prefix = prefix
        self.key_hash = hash_station_key(key)
        return key


class LineAccess(models.Model):
    """Which lines a plant user sees: on dashboards, their live feeds, the API read with a
    session, images and the admin's lists.

    A user without one sees no line (an account made for something else shows nothing by
    accident); superusers and holders of `lines.see_every_line` (the plant admins' group) see
    every line without one. `all_lines` is an explicit choice, as on API clients: deleting the
    last line of a limited user must not let that user see every line.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="line_access")
    all_lines = models.BooleanField(default=False, help_text="Sees every line, present and future.")
    lines = models.ManyToManyField(
        ProductionLine, blank=True, related_name="+", help_text="The lines the user sees, unless all lines."
    )

    class Meta:
        verbose_name = "line access"
        verbose_name_plural = "line access"
        permissions = [("see_every_line", "Can see every line without a line access record")]

    def __str__(self) -> str:
        return f"line access of {self.user}"
