"""Webhooks with real processes: an inspection worker finishes results and wakes the notify
worker (a Celery worker on `notify` alone), which signs and sends them to a real receiver that
fails at first and then recovers; beat is the backstop that sends the retries."""

import time

import pytest
from standardwebhooks import Webhook

from results.webhooks.constants import DeliveryState
from results.webhooks.models import WebhookDelivery
from results.webhooks.services import subscription_create
from results.webhooks.tasks import TASK_NAME, WAKE_KEY
from tests.factories import make_line, make_model
from tests.inspection.test_worker import accept
from tests.processes import process_env, start_beat, start_notify_worker, start_worker
from tests.results.test_webhooks import finished
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOK_ENV = {
    "KENSA_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "KENSA_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "KENSA_WEBHOOK_RETRY_CAP_SECONDS": "1",
    "KENSA_WEBHOOK_SWEEP_SECONDS": "0.5",
}


@pytest.fixture(autouse=True)
def _allowed(settings):
    """This process makes the subscriptions; the worker processes get WEBHOOK_ENV."""
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def test_finished_results_reach_a_recovering_receiver_through_the_notify_worker(tmp_path, redis_client):
    line = make_line(model=make_model(always="spot"))

    def fail_first_three(_record, everything):
        return (500, {}) if len(everything) <= 3 else (200, {})

    redis_client.delete(WAKE_KEY)
    env = process_env(**WEBHOOK_ENV)
    with Receiver(secrets=[], answer=fail_first_three) as receiver:
        subscription, secret = subscription_create(name="mes", url=receiver.url, all_lines=True)
        receiver.secrets.append(secret)
        processes = [start_worker(env, tmp_path), start_notify_worker(env, tmp_path), start_beat(env, tmp_path)]
        try:
            rows = [accept(line) for _ in range(4)]
            deadline = time.monotonic() + 120  # the worker loads torch and the model first
            while time.monotonic() < deadline:
                delivered = WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count()
                if delivered == len(rows):
                    break
                time.sleep(0.3)
        finally:
            for process in processes:
                process.stop()
        inspection_log, notify_log = processes[0].tail(10**7), processes[1].tail(10**7)
    accepted = {r.webhook_id: r.json["data"]["id"] for r in receiver.received}
    assert sorted(set(accepted.values())) == sorted(str(row.id) for row in rows), notify_log[-3000:]
    assert all(Webhook(secret).verify(r.body, r.headers)["data"]["verdict"] == "fail" for r in receiver.received)
    assert len(receiver.received) >= len(rows) + 3  # three 500s, then every result
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == len(rows)
    # The webhook task ran on the notify worker only: the inspection worker never took it.
    # (Celery logs "Task <name>[<id>] received" for each message a worker takes.)
    assert f"Task {TASK_NAME}[" in notify_log
    assert f"Task {TASK_NAME}[" not in inspection_log
    assert "Task inspection.tasks.inspect_images[" in inspection_log


def test_a_finished_result_wakes_the_notify_worker_without_beat(tmp_path, redis_client):
    line = make_line()
    redis_client.delete(WAKE_KEY)
    notify = start_notify_worker(process_env(**WEBHOOK_ENV), tmp_path)
    try:
        with Receiver(secrets=[]) as receiver:
            subscription_create(name="mes", url=receiver.url, all_lines=True)
            (row,) = finished(line)  # announced in this process: its wake-up goes to the broker
            deadline = time.monotonic() + 30
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        notify.stop()
    assert receiver.ids_of_results() == [str(row.id)]
