"""The whole path with real parts: HTTP upload to daphne → storage and PostgreSQL → Redis
queue → a Celery worker process running torch → result in the database → WebSocket → MES API.
No eager mode, no mocks."""

import json
import time
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from inspection.constants import Status, Verdict
from inspection.feeder import upload
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_model, make_station

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def get_json(url: str, authorization: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_upload_is_inspected_pushed_live_and_served_to_the_mes(celery_worker_process, daphne_server):
    line = make_line(code="e2e-press", priority="critical", model=make_model(always="spot"))
    _, station_key = make_station(line)
    operator = get_user_model().objects.create_user("operator", password="x")
    browser = Client()
    browser.force_login(operator)
    mes_token = Token.objects.create(user=get_user_model().objects.create_user("mes", password="x")).key
    ws_url = f"ws://{daphne_server.host}:{daphne_server.port}/ws/lines/e2e-press/"

    with connect(
        ws_url,
        origin=daphne_server.url,
        additional_headers={"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
        open_timeout=10,
    ) as dashboard:
        assert json.loads(dashboard.recv(timeout=10)) == {"type": "hello", "line": "e2e-press"}

        status, accepted = upload(daphne_server.url, station_key, jpeg=jpeg_bytes(size=(1280, 1024)), serial="E2E-1")
        assert status == 202, accepted
        inspection_id = accepted["id"]

        # The worker loads torch and the model on its first task: allow it time.
        pushed = json.loads(dashboard.recv(timeout=90))
    assert pushed["type"] == "inspection"
    assert pushed["inspection"]["id"] == inspection_id
    assert pushed["inspection"]["verdict"] == "fail"
    assert [d["label"] for d in pushed["inspection"]["defects"]] == ["spot"]

    inspection = Inspection.objects.get(id=inspection_id)
    assert (inspection.status, inspection.verdict, inspection.attempts) == (Status.DONE, Verdict.FAIL, 1)
    assert inspection.defects.count() == 1
    assert inspection.model == line.inspection_model
    assert inspection.timings["model_ms"] > 0

    results_url = f"{daphne_server.url}/api/v1/results/?line=e2e-press"
    deadline = time.monotonic() + 10
    while True:  # the MES feed shows a result once it has settled (about a second)
        status, page = get_json(results_url, f"Token {mes_token}")
        assert status == 200, page
        if page["results"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    [result] = page["results"]
    assert result["id"] == inspection_id
    assert result["serial"] == "E2E-1"
    assert result["verdict"] == "fail"
    assert result["defects"][0]["label"] == "spot"

    status, detail = get_json(f"{daphne_server.url}/api/v1/inspections/{inspection_id}/", f"Bearer {station_key}")
    assert status == 200 and detail["status"] == "done"


def test_bad_upload_through_the_server_is_refused_with_its_code(daphne_server):
    line = make_line(code="e2e-bad")
    _, key = make_station(line)
    status, body = upload(daphne_server.url, key, jpeg=b"not an image at all", serial="BAD-1")
    assert status == 415
    assert body["error"]["code"] == "image_unrecognized"
    status, body = upload(daphne_server.url, "ksa_wrong_key", jpeg=jpeg_bytes(), serial="BAD-2")
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert Inspection.objects.count() == 0
