"""Webhooks against a real HTTP receiver (tests/webhook_receiver.py) that verifies every request
with the standardwebhooks package: signing, retries until the receiver recovers, 410, redirects,
allowed networks, secret rotation, "send again", lines and re-finished results."""

import threading
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook

from inspection.constants import ErrorCode, Status
from inspection.lifecycle.finish import inspections_finish
from inspection.lifecycle.sweeper import inspections_requeue
from inspection.models import Inspection
from inspection.payloads import InspectionPayload
from inspection.queues import NOTIFY_QUEUE
from results.webhooks.constants import DeliveryState
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from results.webhooks.services import (
    deliveries_fan_out,
    deliveries_send_due,
    delivery_send_again,
    subscription_create,
    subscription_rotate_secret,
)
from results.webhooks.tasks import WAKE_KEY, wake
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.threads import closing_connections
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    settings.KENSA_WEBHOOK_TIMEOUT_SECONDS = 5.0
    settings.KENSA_WEBHOOK_RETRY_BASE_SECONDS = 0.01
    settings.KENSA_WEBHOOK_RETRY_CAP_SECONDS = 0.05
    return settings


def finished(line, count: int = 1) -> list[Inspection]:
    """`count` inspections of `line`, ended (failed) so that they are in the feed."""
    rows = [accept(line) for _ in range(count)]
    inspections_finish(
        Inspection.objects.filter(id__in=[row.id for row in rows]),
        status=Status.FAILED,
        error_code=ErrorCode.IMAGE_DECODE_FAILED,
    )
    return rows


def subscribe(url: str, **options) -> tuple[WebhookSubscription, str]:
    return subscription_create(name=f"mes-{url}-{options.get('name', '')}", url=url, all_lines=True, **options)


def run_until_settled(rounds: int = 200) -> None:
    """Fan out and send, round after round, until nothing is pending."""
    deliveries_fan_out()
    for _ in range(rounds):
        deliveries_send_due()
        if not WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists():
            return
        # Retries of a few hundredths of a second (the fixture's base and cap).
        threading.Event().wait(0.02)
    raise AssertionError("deliveries still pending")


@override_settings(KENSA_PUBLIC_URL="https://kensa.plant.example")
def test_a_delivery_is_the_result_signed_as_standard_webhooks_says():
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscription, secret = subscribe(receiver.url)
        receiver.secrets.append(secret)
        assert secret.startswith("whsec_")
        rows = finished(line, 3)
        run_until_settled()
    assert sorted(receiver.ids_of_results()) == sorted(str(row.id) for row in rows)
    for record in receiver.received:
        body = Webhook(secret).verify(record.body, record.headers)  # raises when it does not verify
        assert record.headers["webhook-id"].startswith("msg_")
        assert abs(int(record.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
        assert body["type"] == "inspection.finished"
        assert set(body["data"]) == set(InspectionPayload.__annotations__)  # the API's JSON, no image bytes
        assert body["data"]["status"] == "failed" and body["timestamp"] == body["data"]["finished_at"]
        assert len(record.body) < 4096
        # Links as integrations get them (docs/result-model.md): absolute, the image's signed.
        data = body["data"]
        assert data["url"] == f"https://kensa.plant.example/api/v1/inspections/{data['id']}/"
        assert data["image_url"].startswith(
            f"https://kensa.plant.example/api/v1/inspections/{data['id']}/image?expires="
        )
    tampered = receiver.received[0]
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(tampered.body.replace(b"failed", b"passed"), tampered.headers)
    deliveries = WebhookDelivery.objects.filter(subscription=subscription)
    assert {d.state for d in deliveries} == {DeliveryState.DELIVERED}
    assert {d.message_id for d in deliveries} == {r.webhook_id for r in receiver.received}
    assert [(a.status_code, a.error) for a in WebhookAttempt.objects.all()] == [(200, "")] * 3


def test_a_receiver_that_answers_500_and_then_recovers_gets_every_result():
    line = make_line()

    def fail_twice(record, everything):
        tries = sum(1 for r in everything if r.webhook_id == record.webhook_id)
        return (500, {}) if tries <= 2 else (204, {})

    with Receiver(secrets=[], answer=fail_twice) as receiver:
        subscription, secret = subscribe(receiver.url)
        rows = finished(line, 5)
        run_until_settled()
    delivered = {r.json["data"]["id"] for r in receiver.received}
    assert delivered == {str(row.id) for row in rows}
    deliveries = list(WebhookDelivery.objects.filter(subscription=subscription))
    assert len(deliveries) == 5
    assert all(d.state == DeliveryState.DELIVERED and d.attempts == 3 for d in deliveries)
    attempts = WebhookAttempt.objects.filter(delivery__subscription=subscription)
    assert sorted(a.status_code or 0 for a in attempts) == [204] * 5 + [500] * 10
    assert {a.error for a in attempts if a.status_code == 500} == {"HTTP 500 Internal Server Error"}
    # Each message kept its id across its attempts.
    assert len({r.webhook_id for r in receiver.received}) == 5 and len(receiver.received) == 15
    assert all(Webhook(secret).verify(r.body, r.headers) for r in receiver.received)


def test_a_receiver_that_answers_410_stops_deliveries():
    line = make_line()
    with Receiver(secrets=[], answer=lambda _r, _all: (410, {})) as receiver:
        subscription, _ = subscribe(receiver.url)
        finished(line, 3)
        deliveries_fan_out()
        deliveries_send_due(limit=1)
        subscription.refresh_from_db()
        assert not subscription.active and subscription.disabled_at is not None
        assert "410" in subscription.disabled_reason
        assert len(receiver.received) == 1
        states = sorted(WebhookDelivery.objects.values_list("state", flat=True))
        assert states == [DeliveryState.CANCELLED] * 3  # the one answered 410 and the two pending
        finished(line, 2)
        deliveries_fan_out()
        deliveries_send_due()
        assert len(receiver.received) == 1
        assert WebhookDelivery.objects.count() == 3


def test_a_redirect_is_not_followed():
    line = make_line()
    with Receiver(secrets=[]) as elsewhere:
        redirect = (302, {"Location": elsewhere.url})
        with Receiver(secrets=[], answer=lambda _r, _all: redirect) as receiver:
            subscribe(receiver.url)
            finished(line)
            deliveries_fan_out()
            deliveries_send_due()
    assert len(receiver.received) == 1 and elsewhere.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.next_attempt_at is not None
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302 and f"redirect to {elsewhere.url} not followed" in attempt.error


@pytest.mark.parametrize("allowed", [[], ["10.0.0.0/8", "fd00::/8"]])
def test_a_receiver_outside_the_allowed_networks_is_refused_and_recorded(settings, allowed):
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url)
        settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = allowed
        finished(line)
        deliveries_fan_out()
        deliveries_send_due()
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("refused: ")
    assert ("no network is allowed" if not allowed else "127.0.0.1") in attempt.error
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1


def test_a_host_name_is_resolved_checked_and_kept_in_the_host_header(settings):
    """`localhost` may resolve to ::1 first while the receiver listens on 127.0.0.1 only: the
    sender moves on to the next checked address, and the receiver still sees its own name."""
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url.replace("127.0.0.1", "localhost"))
        finished(line)
        run_until_settled()
    assert len(receiver.received) == 1
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["::1/128"]  # localhost's IPv4 address is then outside
    from results.webhooks.network import NetworkRefused, resolve_target

    with pytest.raises(NetworkRefused, match=r"127\.0\.0\.1"):
        resolve_target(receiver.url.replace("127.0.0.1", "localhost"))


def test_during_a_rotation_a_receiver_with_either_secret_verifies():
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscription, old = subscribe(receiver.url)
        new = subscription_rotate_secret(subscription=subscription)
        assert new != old and new.startswith("whsec_")
        receiver.secrets.extend([old, new])
        finished(line, 2)
        run_until_settled()
        assert [r.verified_by for r in receiver.received] == [[0, 1], [0, 1]]
        assert all(len(r.headers["webhook-signature"].split(" ")) == 2 for r in receiver.received)
        # Once the overlap ends, only the new secret signs.
        WebhookSubscription.objects.filter(id=subscription.id).update(
            previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
        )
        finished(line)
        run_until_settled()
    assert receiver.received[-1].verified_by == [1]


def test_send_again_delivers_the_same_message_once_more():
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url)
        finished(line)
        run_until_settled()
        delivery = WebhookDelivery.objects.get()
        assert delivery.state == DeliveryState.DELIVERED
        delivery_send_again(delivery=delivery)
        assert WebhookDelivery.objects.get().state == DeliveryState.PENDING
        run_until_settled()
    first, again = receiver.received
    assert first.webhook_id == again.webhook_id == delivery.message_id
    assert WebhookDelivery.objects.get().attempts == 2
    assert WebhookAttempt.objects.count() == 2


def test_a_subscription_hears_of_its_lines_only_and_from_its_start():
    line_a, line_b = make_line(), make_line()
    before = finished(line_a)
    with Receiver(secrets=[]) as receiver:
        subscription, _ = subscription_create(name="line-a", url=receiver.url, lines=[line_a])
        rows_a, _rows_b = finished(line_a, 2), finished(line_b, 2)
        run_until_settled()
    assert sorted(receiver.ids_of_results()) == sorted(str(row.id) for row in rows_a)
    assert str(before[0].id) not in receiver.ids_of_results()
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 2


def test_wake_ups_are_coalesced_into_one_waiting_message(redis_client):
    """However many rounds of results finish, one message waits on the broker at a time."""
    redis_client.delete(WAKE_KEY)
    before = redis_client.llen(NOTIFY_QUEUE)
    for _ in range(50):
        wake()
    assert redis_client.llen(NOTIFY_QUEUE) == before + 1
    redis_client.delete(WAKE_KEY)  # as the task does when it starts: the next round wakes again
    wake()
    assert redis_client.llen(NOTIFY_QUEUE) == before + 2


def test_concurrent_senders_send_each_message_once():
    """Two notify tasks at once: fan-out locks the subscription, claims skip locked rows."""
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url)
        rows = finished(line, 40)

        @closing_connections
        def sender() -> None:
            deliveries_fan_out()
            while deliveries_send_due(limit=3):
                pass

        threads = [threading.Thread(target=sender) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = receiver.ids_of_results()
    assert sorted(ids) == sorted(str(row.id) for row in rows)
    assert WebhookDelivery.objects.count() == 40


def test_a_result_queued_again_is_delivered_again_as_a_new_message(settings):
    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url)
        (row,) = finished(line)
        deliveries_fan_out()
        # QA queues it again before the first delivery went out: that one is superseded.
        inspections_requeue(inspection_ids=[row.id])
        deliveries_send_due()
        assert receiver.received == []
        first = WebhookDelivery.objects.get()
        assert first.state == DeliveryState.CANCELLED and "queued again" in first.last_error
        inspections_finish(
            Inspection.objects.filter(id=row.id), status=Status.FAILED, error_code=ErrorCode.IMAGE_DECODE_FAILED
        )
        run_until_settled()
    (record,) = receiver.received
    assert record.json["data"]["id"] == str(row.id) and record.webhook_id != first.message_id


def test_a_subscription_deleted_while_its_deliveries_are_in_flight_is_no_error():
    line = make_line()

    @closing_connections
    def delete_then_accept(_record, _everything):
        WebhookSubscription.objects.all().delete()
        return (200, {})

    with Receiver(secrets=[], answer=delete_then_accept) as receiver:
        subscribe(receiver.url)
        finished(line, 2)
        deliveries_fan_out()
        deliveries_send_due()
    assert len(receiver.received) >= 1
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()


def test_a_round_that_fails_while_recording_hands_its_claims_back_at_once(monkeypatch):
    from results.webhooks import services

    line = make_line()
    with Receiver(secrets=[]) as receiver:
        subscribe(receiver.url)
        finished(line, 2)
        deliveries_fan_out()

        def connection_lost(*_args):
            raise OSError("server closed the connection unexpectedly")

        monkeypatch.setattr(services, "_record", connection_lost)
        with pytest.raises(OSError):
            deliveries_send_due()
        monkeypatch.undo()
        # Due now, not after the claim's lease: the next round sends them again, same ids.
        due = [d.next_attempt_at for d in WebhookDelivery.objects.all()]
        assert len(due) == 2 and all(at is not None and at <= timezone.now() for at in due)
        deliveries_send_due()
    first, second = receiver.received[:2], receiver.received[2:]
    assert sorted(r.webhook_id for r in first) == sorted(r.webhook_id for r in second)
    assert {d.state for d in WebhookDelivery.objects.all()} == {DeliveryState.DELIVERED}
