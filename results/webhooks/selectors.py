"""Reads about webhook subscriptions: how far behind each one runs (results/webhooks/metrics.py)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from inspection.models import Inspection
from results.selectors import finished_inspections_after
from results.webhooks.constants import DeliveryState, EventType
from results.webhooks.models import WebhookDelivery, WebhookSubscription


@dataclass(frozen=True)
class Backlog:
    pending: int  # deliveries made and not yet delivered (nor given up)
    oldest_pending_seconds: float  # since the oldest of them was made; 0 when none
    fan_out_lag_seconds: float  # since the oldest result without its delivery yet finished; 0 when none


def webhook_backlogs() -> dict[str, Backlog]:
    """Per active subscription, by name. The senders' backlog is one query on the pending rows'
    index; the fan-out's is one indexed feed read per subscription, as for MQTT publishers."""
    now = timezone.now()
    pending = {
        row["subscription_id"]: (row["count"], row["oldest"])
        for row in WebhookDelivery.objects.filter(state=DeliveryState.PENDING)
        .values("subscription_id")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    }
    backlogs = {}
    for subscription in WebhookSubscription.objects.filter(active=True).order_by("name"):
        count, oldest = pending.get(subscription.id, (0, None))
        backlogs[subscription.name] = Backlog(
            pending=count,
            oldest_pending_seconds=seconds_since(oldest, now),
            fan_out_lag_seconds=fan_out_lag_seconds(subscription, now),
        )
    return backlogs


def fan_out_lag_seconds(subscription: WebhookSubscription, now: datetime) -> float:
    if EventType.INSPECTION_FINISHED not in subscription.events:
        return 0.0
    rows = Inspection.objects.all()
    if not subscription.all_lines:
        rows = rows.filter(line__in=subscription.lines.all())
    after = None
    if subscription.cursor_position is not None and subscription.cursor_inspection_id is not None:
        after = (subscription.cursor_position, subscription.cursor_inspection_id)
    oldest = finished_inspections_after(after=after, limit=1, queryset=rows.only("id", "finished_at", "feed_position"))
    return seconds_since(oldest[0].finished_at if oldest else None, now)


def seconds_since(moment: datetime | None, now: datetime) -> float:
    return 0.0 if moment is None else max(0.0, (now - moment).total_seconds())
