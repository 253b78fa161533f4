"""Webhooks in the admin: the secret shown once (made and rotated), allowed networks checked on
save, deliveries with their attempts, and "send again" with its own permission."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from results.webhooks.constants import DeliveryState
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from results.webhooks.services import subscription_create
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.users import make_user, signed_in, viewer

pytestmark = pytest.mark.django_db
SECRET = r"whsec_[A-Za-z0-9+/=]{40,}"


@pytest.fixture(autouse=True)
def _allowed(settings):
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def admin_browser() -> Client:
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("qa", password="x"))
    return browser


def shown(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def delivered_delivery() -> WebhookDelivery:
    subscription, _ = subscription_create(name="mes", url="http://127.0.0.1:9/hook", all_lines=True)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        inspection=accept(make_line()),
        feed_position=1,
        state=DeliveryState.DELIVERED,
        attempts=1,
        delivered_at=timezone.now(),
        retry_until=timezone.now(),
    )
    WebhookAttempt.objects.create(delivery=delivery, at=timezone.now(), status_code=503, error="HTTP 503 oops")
    return delivery


def test_adding_a_subscription_shows_its_secret_once(admin_browser):
    line = make_line()
    form = {"name": "mes-hook", "url": "http://127.0.0.1:8080/hook", "events": ["inspection.finished"], "active": "on"}
    response = admin_browser.post("/admin/results/webhooksubscription/add/", {**form, "lines": [line.id]}, follow=True)
    assert response.status_code == 200
    [secret] = re.findall(SECRET, shown(response))
    subscription = WebhookSubscription.objects.get(name="mes-hook")
    assert subscription.secret == secret and list(subscription.lines.all()) == [line]
    assert subscription.active and subscription.events == ["inspection.finished"]
    page = admin_browser.get(f"/admin/results/webhooksubscription/{subscription.id}/change/").content.decode()
    assert secret not in page


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://127.0.0.1/hook",
        "http://u:p@127.0.0.1/",
    ],
)
def test_a_receiver_outside_the_allowed_networks_cannot_be_saved(admin_browser, url):
    form = {"name": "ssrf", "url": url, "events": ["inspection.finished"], "all_lines": "on"}
    response = admin_browser.post("/admin/results/webhooksubscription/add/", form)
    assert response.status_code == 200
    assert b"Not an allowed receiver" in response.content or b"Enter a valid URL" in response.content
    assert not WebhookSubscription.objects.filter(name="ssrf").exists()


def test_rotating_shows_the_new_secret_and_keeps_the_old_one_signing(admin_browser):
    subscription, old = subscription_create(name="mes", url="http://127.0.0.1:9/hook", all_lines=True)
    action = {"action": "rotate_secrets", "_selected_action": [subscription.id]}
    response = admin_browser.post("/admin/results/webhooksubscription/", action, follow=True)
    [new] = re.findall(SECRET, shown(response))
    subscription.refresh_from_db()
    assert subscription.signing_secrets() == [new, old] and new != old


def test_a_delivery_shows_its_attempts_and_is_sent_again_with_its_permission(admin_browser):
    delivery = delivered_delivery()
    page = admin_browser.get(f"/admin/results/webhookdelivery/{delivery.id}/change/").content.decode()
    assert "HTTP 503 oops" in page and delivery.message_id in page
    action = {"action": "send_again", "_selected_action": [delivery.id]}
    # A viewer, and staff who may view deliveries but not send them, change nothing.
    for user in (viewer(), make_user("lead", staff=True, perms=("results.view_webhookdelivery",))):
        signed_in(user).post("/admin/results/webhookdelivery/", action)
        assert WebhookDelivery.objects.get(id=delivery.id).state == DeliveryState.DELIVERED
    sender = make_user("integrator", staff=True, perms=("results.view_webhookdelivery", "results.send_webhookdelivery"))
    assert signed_in(sender).post("/admin/results/webhookdelivery/", action).status_code == 302
    again = WebhookDelivery.objects.get(id=delivery.id)
    assert again.state == DeliveryState.PENDING and again.message_id == delivery.message_id
    assert again.next_attempt_at is not None and again.next_attempt_at <= timezone.now()


def test_an_inspection_with_deliveries_can_still_be_deleted(admin_browser):
    delivery = delivered_delivery()
    action = {"action": "delete_selected", "_selected_action": [delivery.inspection_id], "post": "yes"}
    assert admin_browser.post("/admin/inspection/inspection/", action).status_code == 302
    assert not WebhookDelivery.objects.filter(id=delivery.id).exists()


def test_ticking_active_again_resumes_a_subscription_a_receiver_disabled(admin_browser):
    subscription, _ = subscription_create(name="gone", url="http://127.0.0.1:9/hook", all_lines=True)
    WebhookSubscription.objects.filter(id=subscription.id).update(
        active=False, disabled_at=timezone.now(), disabled_reason="receiver answered 410 Gone"
    )
    form = {"name": "gone", "url": "http://127.0.0.1:9/hook", "events": ["inspection.finished"], "all_lines": "on"}
    page = f"/admin/results/webhooksubscription/{subscription.id}/change/"
    assert admin_browser.post(page, {**form, "active": "on"}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.active and subscription.disabled_at is None and subscription.disabled_reason == ""
