"""Webhook subscriptions over the API (scope webhooks:manage): the secret once, the client's own
subscriptions only, its lines only, allowed networks, and a list whose queries do not grow."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from results.webhooks.models import WebhookSubscription
from results.webhooks.services import deliveries_fan_out, deliveries_send_due
from tests.factories import make_api_client, make_line, mes_api
from tests.results.test_webhooks import finished
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/webhooks/"


@pytest.fixture(autouse=True)
def _allowed(settings):
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def manager(lines=None) -> APIClient:
    return mes_api(make_api_client(scopes=["webhooks:manage"], lines=lines)[1])


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_client_subscribes_and_the_secret_signs_what_it_receives():
    line = make_line()
    api = manager(lines=[line])
    with Receiver(secrets=[]) as receiver:
        created = api.post(URL, {"name": "mes", "url": receiver.url, "lines": [line.code]}, format="json")
        assert created.status_code == 201, created.json()
        body = created.json()
        assert body["secret"].startswith("whsec_") and body["lines"] == [line.code] and body["active"]
        assert body["events"] == ["inspection.finished"] and not body["all_lines"]
        (row,) = finished(line)
        deliveries_fan_out()
        deliveries_send_due()
    (record,) = receiver.received
    assert Webhook(body["secret"]).verify(record.body, record.headers)["data"]["id"] == str(row.id)
    listed = api.get(URL).json()["webhooks"]
    assert [hook["id"] for hook in listed] == [body["id"]] and "secret" not in listed[0]


def test_a_client_sees_and_deletes_only_its_own_subscriptions():
    mine, theirs = manager(), manager()
    hook = mine.post(URL, {"name": "mine", "url": "http://127.0.0.1:9/a", "all_lines": True}, format="json").json()
    assert theirs.get(URL).json() == {"webhooks": []}
    assert error(theirs.delete(f"{URL}{hook['id']}/")) == (404, "not_found")
    assert mine.delete(f"{URL}{hook['id']}/").status_code == 204
    assert not WebhookSubscription.objects.filter(id=hook["id"]).exists()
    assert error(mine.delete(f"{URL}{hook['id']}/")) == (404, "not_found")


def test_a_line_limited_client_subscribes_to_its_lines_only():
    own, other = make_line(), make_line()
    api = manager(lines=[own])
    body = {"name": "x", "url": "http://127.0.0.1:9/a"}
    assert error(api.post(URL, {**body, "lines": [other.code]}, format="json")) == (404, "line_not_found")
    assert error(api.post(URL, {**body, "lines": ["no-such-line"]}, format="json")) == (404, "line_not_found")
    assert error(api.post(URL, {**body, "all_lines": True}, format="json")) == (403, "permission_denied")
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "x", "url": "http://10.0.0.1/a", "all_lines": True}, (422, "webhook_url_not_allowed")),
        ({"name": "x", "url": "http://169.254.169.254/", "all_lines": True}, (422, "webhook_url_not_allowed")),
        ({"name": "x", "url": "file:///etc/passwd", "all_lines": True}, (422, "webhook_url_not_allowed")),
        ({"name": "x", "url": "http://[::1/a", "all_lines": True}, (422, "webhook_url_not_allowed")),
        ({"name": "x", "url": "http://127.0.0.1:9/a b", "all_lines": True}, (400, "invalid_request")),
        ({"name": "x", "url": "http://127.0.0.1:9/a"}, (400, "invalid_request")),  # no lines
        ({"name": "", "url": "http://127.0.0.1:9/a", "all_lines": True}, (400, "invalid_request")),
        ({"name": "x", "url": "http://127.0.0.1:9/a", "all_lines": True, "secret": "mine"}, (400, "invalid_request")),
        ({"name": "x", "url": "http://127.0.0.1:9/a", "all_lines": True, "events": ["x"]}, (400, "invalid_request")),
        ({"name": "x", "url": "http://127.0.0.1:9/a", "all_lines": "yes"}, (400, "invalid_request")),
        (["not", "an", "object"], (400, "parse_error")),
    ],
)
def test_bad_subscriptions_are_refused_with_a_code(body, expected):
    assert error(manager().post(URL, body, format="json")) == expected
    assert not WebhookSubscription.objects.exists()


def test_a_name_is_taken_once():
    api = manager()
    body = {"name": "mes", "url": "http://127.0.0.1:9/a", "all_lines": True}
    assert api.post(URL, body, format="json").status_code == 201
    assert error(manager().post(URL, body, format="json")) == (409, "webhook_name_taken")


def test_dashboard_users_manage_no_webhooks():
    browser = APIClient()
    browser.force_login(get_user_model().objects.create_user("operator", password="x"))
    assert error(browser.get(URL)) == (403, "api_client_required")


def test_listing_costs_the_same_queries_for_one_subscription_or_many(django_assert_max_num_queries):
    line = make_line()
    api = manager()
    for n in range(6):
        api.post(URL, {"name": f"hook-{n}", "url": "http://127.0.0.1:9/a", "lines": [line.code]}, format="json")
    with django_assert_max_num_queries(5):  # the client, last use, subscriptions, their lines
        assert len(api.get(URL).json()["webhooks"]) == 6
