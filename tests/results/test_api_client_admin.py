"""API clients in the admin: the token is shown once when made, revocation is an action."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client

from results.mes.models import ApiClient, hash_token
from tests.factories import make_api_client, make_line, mes_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser() -> Client:
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("qa", password="x"))
    return browser


def test_adding_a_client_shows_its_token_once(admin_browser):
    line = make_line(code="adm-1")
    form = {"name": "mes-admin", "scopes": ["results:read", "results:ack"], "lines": [line.id]}
    response = admin_browser.post("/admin/results/apiclient/add/", form, follow=True)
    assert response.status_code == 200
    [token] = re.findall(
        r"kapi_[0-9a-f]{8}_[A-Za-z0-9_-]+", " ".join(str(m) for m in get_messages(response.wsgi_request))
    )
    client = ApiClient.objects.get(name="mes-admin")
    assert client.token_hash == hash_token(token) and sorted(client.scopes) == ["results:ack", "results:read"]
    assert list(client.lines.all()) == [line] and not client.all_lines
    assert token not in admin_browser.get(f"/admin/results/apiclient/{client.id}/change/").content.decode()


def test_all_lines_and_some_lines_are_exclusive(admin_browser):
    line = make_line()
    form = {"name": "mes-both", "scopes": ["results:read"], "all_lines": "on", "lines": [line.id]}
    response = admin_browser.post("/admin/results/apiclient/add/", form)
    assert response.status_code == 200 and b"either all lines or some lines" in response.content
    assert not ApiClient.objects.filter(name="mes-both").exists()


def test_revoke_action(admin_browser):
    client, token = make_api_client()
    action = {"action": "revoke", "_selected_action": [client.id]}
    assert admin_browser.post("/admin/results/apiclient/", action).status_code == 302
    assert mes_api(token).get("/api/v1/results/").status_code == 401


def test_staff_without_permission_cannot_revoke():
    staff = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    browser = Client()
    browser.force_login(staff)
    client, _ = make_api_client()
    response = browser.post("/admin/results/apiclient/", {"action": "revoke", "_selected_action": [client.id]})
    assert response.status_code == 403
    assert ApiClient.objects.get(id=client.id).revoked_at is None
