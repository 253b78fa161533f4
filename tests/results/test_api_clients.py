"""API clients: hashed tokens, scopes on every endpoint, line limits, revocation, last use."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from inspection.models import Inspection
from results.mes.constants import Scope
from results.mes.models import ApiClient, hash_token
from results.mes.services import api_client_revoke, api_client_rotate_token
from tests.factories import make_api_client, make_line, make_station, mes_api
from tests.inspection.test_worker import accept
from tests.results.test_results_api import finish
from tests.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def finished(line) -> Inspection:
    row = accept(line)
    finish(row, seconds_ago=1)
    return row


def endpoints(row: Inspection) -> dict[str, tuple[str, str, dict | None]]:
    """Every endpoint of the MES API: (method, path, JSON body) and the scope it needs."""
    return {
        Scope.RESULTS_READ: ("get", "/api/v1/results/", None),
        Scope.RESULTS_ACK: ("post", "/api/v1/results/ack", {"ids": [str(row.id)]}),
        Scope.INSPECTIONS_READ: ("get", f"/api/v1/inspections/{row.id}/", None),
        "inspections:read (image)": ("get", f"/api/v1/inspections/{row.id}/image", None),
        "inspections:read (part)": ("get", f"/api/v1/parts/{row.serial}/", None),
        Scope.WEBHOOKS_MANAGE: ("get", "/api/v1/webhooks/", None),
        "webhooks:manage (create)": ("post", "/api/v1/webhooks/", WEBHOOK_BODY),
        "webhooks:manage (delete)": ("delete", "/api/v1/webhooks/999999/", None),
    }


# A subscription any client may make (the test's settings allow loopback receivers).
WEBHOOK_BODY = {"name": "scope-hook", "url": "http://127.0.0.1:9/hook", "all_lines": True}
# What an allowed call answers, where it is not 200.
ALLOWED_STATUS = {"webhooks:manage (create)": 201, "webhooks:manage (delete)": 404}


def call(client: APIClient, method: str, path: str, body: dict | None):
    if method == "post":
        return client.post(path, body, format="json")
    return client.delete(path) if method == "delete" else client.get(path)


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def test_every_scope_against_every_endpoint():
    row = finished(make_line())
    tokens = {scope: make_api_client(scopes=[scope])[1] for scope in Scope.values}
    wrong = []
    for needed, (method, path, body) in endpoints(row).items():
        for scope, token in tokens.items():
            response = call(mes_api(token), method, path, body)
            allowed = needed.split(" ")[0] == scope
            ok = ALLOWED_STATUS.get(needed, 200)
            # An allowed delete of an id the client does not own is answered as unknown.
            expected = (ok, "not_found" if ok == 404 else None) if allowed else (403, "scope_missing")
            got = (response.status_code, response.json()["error"]["code"] if response.status_code >= 400 else None)
            if got != expected:
                wrong.append(f"{method} {path} with {scope}: {got}, expected {expected}")
    assert wrong == []


def test_a_client_with_every_scope_but_no_token_or_a_bad_one():
    row = finished(make_line())
    for method, path, body in endpoints(row).values():
        anonymous = call(APIClient(), method, path, body)
        assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "not_authenticated"), path
        bad = call(mes_api("kapi_00000000_not-a-real-token"), method, path, body)
        assert (bad.status_code, bad.json()["error"]["code"]) == (401, "invalid_api_token"), path
        assert bad["WWW-Authenticate"] == 'Bearer realm="kensa"'


def test_a_revoked_client_is_refused_at_once():
    client, token = make_api_client()
    api = mes_api(token)
    assert api.get("/api/v1/results/").status_code == 200
    assert api_client_revoke(client=client) is True
    assert api_client_revoke(client=client) is False  # the first revocation's time is kept
    response = api.get("/api/v1/results/")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "api_client_revoked")


def test_a_renewed_token_replaces_the_old_one():
    client, old = make_api_client()
    new = api_client_rotate_token(client=client)
    assert mes_api(new).get("/api/v1/results/").status_code == 200
    response = mes_api(old).get("/api/v1/results/")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_api_token")


def test_the_token_is_stored_hashed_with_its_own_prefix():
    client, token = make_api_client()
    _, station_key = make_station(make_line())
    assert token.startswith(f"kapi_{client.token_prefix}_") and not station_key.startswith("kapi_")
    stored = ApiClient.objects.get(id=client.id)
    assert stored.token_hash == hash_token(token) and token not in str(stored.__dict__)


def test_the_old_drf_token_header_no_longer_works():
    response = APIClient().get("/api/v1/results/", HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")


def test_stations_still_read_their_own_inspections_beside_api_clients():
    line = make_line()
    row = finished(line)
    _, own_key = make_station(line, code="cam-own")
    _, other_key = make_station(make_line(), code="cam-other")
    assert mes_api(own_key).get(f"/api/v1/inspections/{row.id}/").status_code == 200
    assert mes_api(other_key).get(f"/api/v1/inspections/{row.id}/").status_code == 404  # as an unknown id
    # A station is no API client: it reads no feed and acknowledges nothing.
    assert mes_api(own_key).get("/api/v1/results/").status_code in (401, 403)
    assert mes_api(own_key).post("/api/v1/results/ack", {"ids": [str(row.id)]}, format="json").status_code in (401, 403)


def test_a_line_limited_client_sees_nothing_of_other_lines():
    mine, other = make_line(code="lim-mine"), make_line(code="lim-other")
    visible, hidden = finished(mine), finished(other)
    Inspection.objects.filter(id=hidden.id).update(serial="SN-HIDDEN")
    _, token = make_api_client(lines=[mine])
    api = mes_api(token)
    assert [r["id"] for r in api.get("/api/v1/results/").json()["results"]] == [str(visible.id)]
    for path in (f"/api/v1/inspections/{hidden.id}/", f"/api/v1/inspections/{hidden.id}/image"):
        response = api.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), path
    assert api.get(f"/api/v1/inspections/{visible.id}/").status_code == 200
    line = api.get("/api/v1/results/", {"line": "lim-other"})
    assert (line.status_code, line.json()["error"]["code"]) == (404, "line_not_found")
    part = api.get("/api/v1/parts/SN-HIDDEN/")
    assert (part.status_code, part.json()["error"]["code"]) == (404, "part_not_found")
    ack = api.post("/api/v1/results/ack", {"ids": [str(hidden.id)]}, format="json").json()
    assert ack == {"results": [{"id": str(hidden.id), "outcome": "not_found"}]}


def test_a_client_limited_to_lines_that_are_gone_sees_no_line():
    """Not "no lines means all": a limited client whose lines are all gone sees nothing."""
    line = make_line(code="lim-gone")
    finished(make_line(code="lim-kept"))
    client, token = make_api_client(lines=[line])
    client.lines.clear()
    assert mes_api(token).get("/api/v1/results/").json()["results"] == []


def test_dashboard_users_read_but_acknowledge_nothing():
    row = finished(make_line())
    browser = APIClient(enforce_csrf_checks=False)
    browser.force_login(make_user("operator"))
    assert browser.get("/api/v1/results/").status_code == 200
    assert browser.get(f"/api/v1/parts/{row.serial}/").status_code == 200
    response = browser.post("/api/v1/results/ack", {"ids": [str(row.id)]}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "api_client_required")
    unacknowledged = browser.get("/api/v1/results/", {"unacknowledged": "true"})
    assert (unacknowledged.status_code, unacknowledged.json()["error"]["code"]) == (403, "api_client_required")


def test_last_use_is_recorded_at_most_once_a_minute():
    client, token = make_api_client()
    api = mes_api(token)
    assert client.last_used_at is None
    api.get("/api/v1/results/")
    first = ApiClient.objects.get(id=client.id).last_used_at
    assert first is not None
    api.get("/api/v1/results/")
    assert ApiClient.objects.get(id=client.id).last_used_at == first
    ApiClient.objects.filter(id=client.id).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/api/v1/results/")
    later = ApiClient.objects.get(id=client.id).last_used_at
    assert later is not None and later > first


def test_create_api_client_command_prints_the_token_once(capsys):
    make_line(code="cmd-1")
    call_command("create_api_client", "--name", "mes-cmd", "--scope", "results:read", "--line", "cmd-1")
    token = capsys.readouterr().out.strip()
    client = ApiClient.objects.get(name="mes-cmd")
    assert client.token_hash == hash_token(token) and client.scopes == ["results:read"]
    assert [line.code for line in client.lines.all()] == ["cmd-1"] and client.all_lines is False
    assert mes_api(token).get("/api/v1/results/").status_code == 200
    call_command("create_api_client", "--name", "mes-all", "--scope", "results:ack")
    assert ApiClient.objects.get(name="mes-all").all_lines is True


def test_create_api_client_command_refuses_an_unknown_line():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nope"):
        call_command("create_api_client", "--name", "mes-x", "--scope", "results:read", "--line", "nope")
    assert not ApiClient.objects.filter(name="mes-x").exists()
