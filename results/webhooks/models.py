"""Webhook subscriptions, their deliveries (one per result and subscription) and every attempt."""

import base64
import secrets
import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from inspection.models import Inspection
from lines.models import ProductionLine
from results.webhooks.constants import MESSAGE_ID_PREFIX, SECRET_BYTES, SECRET_PREFIX, DeliveryState, EventType


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    return MESSAGE_ID_PREFIX + uuid.uuid4().hex


def validate_events(value: object) -> None:
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not value or not all(isinstance(event, str) for event in value):
        raise ValidationError("Events are a non-empty list of event types.")
    unknown = sorted(set(value) - set(EventType.values))
    if unknown:
        raise ValidationError(f"Unknown events: {', '.join(unknown)}.")


class WebhookSubscription(models.Model):
    """A receiver that is sent every finished result of its lines, signed (Standard Webhooks).

    It reads the MES feed by its own cursor, (`feed_position`, `inspection_id`) of the last result
    it made a delivery for, so an outage of Kensa's workers or of the receiver delays results and
    loses none. The secret is kept as is (signing needs it); after a rotation the previous one
    signs too until `previous_secret_expires_at`. A receiver answering 410 Gone disables the
    subscription (`active` off, `disabled_at`, `disabled_reason`).
    """

    name = models.CharField(max_length=200, unique=True)
    url = models.URLField(max_length=2000, help_text="http(s) address of the receiver, in an allowed network.")
    events = models.JSONField(default=list, validators=[validate_events])
    all_lines = models.BooleanField(default=False, help_text="Every line, present and future.")
    lines = models.ManyToManyField(
        ProductionLine, blank=True, related_name="+", help_text="The lines it hears of, unless it hears of all."
    )
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The feed position of the last result fanned out; none yet: from the subscription's start.
    cursor_position = models.BigIntegerField(null=True, blank=True, editable=False)
    cursor_inspection_id = models.UUIDField(null=True, blank=True, editable=False)
    # The API client that made it over the API (it alone sees and deletes it there); none when
    # an admin made it.
    api_client = models.ForeignKey(
        "results.ApiClient", null=True, blank=True, on_delete=models.CASCADE, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name

    @property
    def after(self) -> tuple[int, uuid.UUID] | None:
        """The cursor as finished_inspections_after takes it; None: from the subscription's start."""
        if self.cursor_position is None or self.cursor_inspection_id is None:
            return None
        return (self.cursor_position, self.cursor_inspection_id)

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one while its
        overlap lasts."""
        now = now or timezone.now()
        keys = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            keys.append(self.previous_secret)
        return keys


class WebhookDelivery(models.Model):
    """One result for one subscription: a message with a stable `message_id` (the
    `webhook-id` header, the same on every attempt and after "send again"), so that a receiver
    de-duplicates by it. `next_attempt_at` is also the claim: a sender moves it past its own
    request's time-out before sending, so that a second sender skips the row and a sender that
    died hands it back when that time passes.

    Unique per (subscription, inspection, feed position): a result that QA queues again and
    that finishes anew is a new result, with a delivery of its own."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    inspection = models.ForeignKey(Inspection, on_delete=models.CASCADE, related_name="+")
    feed_position = models.BigIntegerField()
    event = models.CharField(max_length=50, choices=EventType.choices, default=EventType.INSPECTION_FINISHED)
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id, editable=False)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts are retried until then (KENSA_WEBHOOK_RETRY_FOR_SECONDS after it was made, or
    # after "send again").
    retry_until = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        # Sending again reaches outside the plant's database: its own right, not "change".
        permissions = [("send_webhookdelivery", "Can send webhook deliveries again")]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "inspection", "feed_position"], name="webhook_delivery_unique_per_result"
            )
        ]
        indexes = [
            # The senders' claim: pending rows, soonest due first.
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due", condition=models.Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} to {self.subscription}"


class WebhookAttempt(models.Model):
    """One request to a receiver, or one refused before it was sent: an audit record."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_records")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery.message_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
