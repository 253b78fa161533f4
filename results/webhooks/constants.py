from django.db import models


class EventType(models.TextChoices):
    """What a subscription may ask to be told of."""

    INSPECTION_FINISHED = "inspection.finished", "An inspection finished (done, failed or expired)"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries exhausted)"
    CANCELLED = "cancelled", "Cancelled"


# Secrets in the Standard Webhooks format: `whsec_` and base64 of 32 random bytes.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# Message ids (the `webhook-id` header): `msg_` and a random UUID's hex.
MESSAGE_ID_PREFIX = "msg_"
# Results read from a subscription's feed per fan-out step.
FAN_OUT_BATCH = 500
# How much of an error a recorded attempt keeps.
ERROR_TEXT_CHARS = 500
# Deliveries claimed per send round, per sending thread (KENSA_WEBHOOK_CONCURRENCY).
SEND_ROUNDS_PER_THREAD = 8
# Bytes of a receiver's answer read at most; a longer answer's connection is closed.
ANSWER_BYTES = 64 * 1024
# Subscriptions one API client may hold (so that its list is bounded).
MAX_SUBSCRIPTIONS_PER_CLIENT = 50
