"""The whole path with real parts: HTTP upload to daphne → storage and PostgreSQL → Redis
queue → a Celery worker process running torch → result in the database → WebSocket → MES API.
No eager mode, no mocks."""

import io
import json
import time
import urllib.request

import pytest
from django.test import Client
from websockets.sync.client import connect

from inspection.constants import Status, Verdict
from inspection.demo.feeder import upload
from inspection.models import Inspection
from lines.models import ProductionLine as Line
from tests.factories import jpeg_bytes, make_api_client, make_line, make_model, make_station
from tests.users import make_user

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
    operator = make_user("operator")
    browser = Client()
    browser.force_login(operator)
    _, mes_token = make_api_client(scopes=["results:read"], lines=[line])
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
        status, page = get_json(results_url, f"Bearer {mes_token}")
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


@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_segmentation_and_detection_lines_get_defect_boxes_from_a_real_worker(
    task, celery_worker_process, daphne_server, tmp_path
):
    from django.core.management import call_command

    from tests.inspection.test_detection import scripted_detector
    from tests.inspection.test_segmentation import PaintedRegions, scripted

    code = f"e2e-{task}"
    make_line(code=code)
    _, station_key = make_station(Line.objects.get(code=code))
    artifact = tmp_path / f"{task}.pt"
    artifact.write_bytes(scripted(PaintedRegions()) if task == "segmentation" else scripted_detector())
    call_command(
        "register_model",
        str(artifact),
        "--format=torchscript",
        f"--task={task}",
        f"--name={task}-model",
        "--model-version=1",
        "--labels=background,scratch,spot",
        "--good=background",
        "--input-size=64",
        f"--line={code}",
        "--promote",
        stdout=io.StringIO(),
    )
    status, accepted = upload(daphne_server.url, station_key, jpeg=jpeg_bytes(size=(640, 512)), serial=f"{task}-1")
    assert status == 202, accepted
    deadline = time.monotonic() + 90
    inspection = Inspection.objects.get(id=accepted["id"])
    while inspection.status not in (Status.DONE, Status.FAILED) and time.monotonic() < deadline:
        time.sleep(0.2)
        inspection.refresh_from_db()
    assert (inspection.status, inspection.verdict) == (Status.DONE, Verdict.FAIL)
    boxes = {defect.label: defect.box for defect in inspection.defects.all()}
    # 640 x 512 seen at 64 x 64: 10 x 8 image pixels per model pixel.
    expected = {"scratch": [300, 80, 500, 160], "spot": [80, 320, 120, 352]}
    if task == "detection":
        expected = {"scratch": [80, 32, 240, 96]}  # the spot's 0.3 is under its threshold
    assert boxes == expected
