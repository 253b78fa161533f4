"""Webhook backlogs on /metrics (results/webhooks/metrics.py): how many deliveries a subscription
has pending and how old the oldest is, while its receiver fails; how long results have waited for
the fan-out; all back to 0 once everything is delivered."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inspection.models import Inspection
from results.webhooks.models import WebhookDelivery
from results.webhooks.services import deliveries_fan_out, deliveries_send_due
from tests.factories import make_line
from tests.results.test_webhooks import _webhook_settings, finished, run_until_settled, subscribe  # noqa: F401
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

FAMILIES = (
    "kensa_webhook_pending_deliveries",
    "kensa_webhook_oldest_pending_seconds",
    "kensa_webhook_fan_out_lag_seconds",
)


def webhook_samples() -> dict[tuple[str, str], float]:
    """(metric, subscription) -> value, from /metrics as Prometheus reads it."""
    answer = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")  # /metrics answers loopback
    assert answer.status_code == 200
    samples = {}
    for text in answer.content.decode().splitlines():
        name, _, rest = text.partition("{")
        if name in FAMILIES:
            labels, value = rest.rsplit(" ", 1)
            samples[(name, labels.removeprefix('subscription="').removesuffix('"}'))] = float(value)
    return samples


def test_a_failing_receivers_backlog_shows_and_clears():
    line = make_line()
    failing = True
    with Receiver(secrets=[], answer=lambda _r, _all: (503, {}) if failing else (204, {})) as receiver:
        subscription, _ = subscribe(receiver.url)
        name = subscription.name
        assert webhook_samples() == {(family, name): 0.0 for family in FAMILIES}

        rows = finished(line, 3)
        # Results the fan-out has not reached, as if they had finished two minutes ago (all
        # three: they finished together, in no set order in the feed).
        two_minutes_ago = timezone.now() - timedelta(seconds=120)
        Inspection.objects.filter(id__in=[row.id for row in rows]).update(finished_at=two_minutes_ago)
        waiting = webhook_samples()
        assert 120 <= waiting[("kensa_webhook_fan_out_lag_seconds", name)] < 180
        assert waiting[("kensa_webhook_pending_deliveries", name)] == 0

        # Fanned out, and refused by the receiver: pending, the oldest made a minute ago.
        deliveries_fan_out()
        deliveries_send_due()
        WebhookDelivery.objects.filter(inspection_id=rows[1].id).update(
            created_at=timezone.now() - timedelta(seconds=60)
        )
        backlog = webhook_samples()
        assert backlog[("kensa_webhook_fan_out_lag_seconds", name)] == 0.0
        assert backlog[("kensa_webhook_pending_deliveries", name)] == 3
        assert 60 <= backlog[("kensa_webhook_oldest_pending_seconds", name)] < 120
        assert len(receiver.received) >= 3

        failing = False
        run_until_settled()
    assert webhook_samples() == {(family, name): 0.0 for family in FAMILIES}
