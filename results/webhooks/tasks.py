"""The notify worker's task: fan finished results out to deliveries, then send what is due.

Finished results wake it at once (`wake`, subscribed to the "finished" event in
results/apps.py), at most one message waiting on the broker at a time however many results
finish; beat sends it every KENSA_WEBHOOK_SWEEP_SECONDS as the backstop, for retries that fall
due and for a wake-up lost with the broker.
"""

import logging
import time
from collections import Counter
from collections.abc import Sequence

from celery import shared_task

from inspection.ingest.dispatch import broker_client
from inspection.payloads import InspectionPayload
from inspection.per_process import PerProcess
from inspection.queues import NOTIFY_QUEUE

logger = logging.getLogger(__name__)

TASK_NAME = "results.webhooks.tasks.deliver_webhooks"
WAKE_KEY = "kensa:webhooks:wake"
# A wake-up whose message was lost (a broker restart) stops holding back new ones after this.
WAKE_TTL_SECONDS = 30
# A task sends for at most this long, then hands over to a fresh message, so that beat's and
# the wake-ups' messages are never left waiting behind one long backlog.
SEND_BUDGET_SECONDS = 60

_broker = PerProcess(lambda: broker_client(2.0))


def wake(_finished: Sequence[InspectionPayload] = ()) -> None:
    """Ask the notify worker to run, unless a message asking it already waits: one Redis SET
    per round of finished results, and one broker message per wake-up."""
    try:
        if _broker.get().set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL_SECONDS):
            deliver_webhooks.apply_async(queue=NOTIFY_QUEUE)
    except Exception as exc:  # the broker away: beat's next run delivers them
        logger.warning("Could not wake the webhook sender (beat will): %r", exc)


@shared_task(name=TASK_NAME, acks_late=True, ignore_result=True)
def deliver_webhooks() -> dict[str, int]:
    """Idempotent (claims are conditional), so late acknowledgement is safe."""
    from results.webhooks.services import deliveries_fan_out, deliveries_send_due

    # From here on a finished result sends a new wake-up: this run may read the feed too early
    # for it.
    _broker.get().delete(WAKE_KEY)
    summary: Counter[str] = Counter()
    summary["fanned_out"] = deliveries_fan_out()
    started = time.monotonic()
    while True:
        sent = deliveries_send_due()
        summary.update(sent)
        if not sent:
            break
        if time.monotonic() - started > SEND_BUDGET_SECONDS:
            wake()
            break
        summary["fanned_out"] += deliveries_fan_out()
    return dict(summary)
