"""Reads about webhook subscriptions: how far behind each one runs (results/webhooks/metrics.py)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from inspection.models import Inspection
from results.selectors import seconds_behind
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


def subscription_results(subscription: WebhookSubscription) -> QuerySet[Inspection]:
    """The finished inspections a subscription is told of: its lines' (the fan-out's feed)."""
    rows = Inspection.objects.terminal()
    return rows if subscription.all_lines else rows.filter(line__in=subscription.lines.all())


def fan_out_lag_seconds(subscription: WebhookSubscription, now: datetime) -> float:
    if EventType.INSPECTION_FINISHED not in subscription.events:
        return 0.0
    return seconds_behind(after=subscription.after, queryset=subscription_results(subscription), now=now)


def seconds_since(moment: datetime | None, now: datetime) -> float:
    return 0.0 if moment is None else max(0.0, (now - moment).total_seconds())
