"""Issue #22's hostile inputs on the ingest server's door (inspection/ingest/door.py), through
the real server as docker/ runs it, and the property that covers their class: any upload gets
a 202 or a 4xx whose code is in inspection.errors.API_ERRORS with its status, never a 5xx,
and a refusal stores nothing. Fewer examples than on the view: each is a real HTTP request."""

import http.client
import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import image_bytes, jpeg_bytes, make_line, make_station
from tests.inspection.test_upload_properties import check_answer
from tests.processes import Process, process_env, start_gunicorn_ingest
from tests.strategies import BOUNDARY, LINE_CODE, UploadRequest, multipart_part, upload_requests

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def ingest(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    server = start_gunicorn_ingest(process_env(), process_logs)
    yield server
    server.stop()


@pytest.fixture
def key() -> str:
    _, station_key = make_station(make_line(code=LINE_CODE))
    return station_key


def post(server: Process, key: str, upload: UploadRequest) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", int(server.port or 0), timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": upload.content_type, **upload.headers}
    try:
        # http.client sends str headers as latin-1, as a station's HTTP library would.
        connection.request("POST", f"/api/v1/inspections/{upload.query_string}", body=upload.body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def tampered_bmp() -> bytes:
    data = bytearray(image_bytes("BMP", size=(16, 8)))
    data[30:34] = struct.pack("<I", 99)  # compression 99
    return bytes(data)


def test_each_hostile_input_is_refused_with_its_code_through_the_door(ingest, key):
    files_before = stored_files()
    far = "9999-12-31T23:59:59-14:00"
    thousand = b"".join(multipart_part(f"f{n}", b"x", filename=None, content_type=None) for n in range(1000))
    image = multipart_part("image", jpeg_bytes(), filename="a.jpg", content_type="image/jpeg")
    cases = {
        "image_corrupt": UploadRequest("image/bmp", tampered_bmp(), query={"serial": "D-1"}),
        "captured_at_invalid": UploadRequest("image/jpeg", jpeg_bytes(), query={"serial": "D-2", "captured_at": far}),
        "line_invalid": UploadRequest("image/jpeg", jpeg_bytes(), query={"serial": "D-3", "line": "\x00"}),
        "serial_invalid": UploadRequest("image/jpeg", jpeg_bytes(), query={"serial": "D\x004"}),
        "multipart_too_many_parts": UploadRequest(
            f"multipart/form-data; boundary={BOUNDARY}", thousand + image + f"--{BOUNDARY}--\r\n".encode()
        ),
    }
    answers = {code: post(ingest, key, upload) for code, upload in cases.items()}
    assert {code: body["error"]["code"] for code, (_, body) in answers.items()} == {code: code for code in cases}
    assert answers["multipart_too_many_parts"][0] == 413
    assert {answers[code][0] for code in cases if code != "multipart_too_many_parts"} == {400}
    assert Inspection.objects.count() == 0
    assert stored_files() == files_before


def test_a_time_past_postgresqls_offsets_is_stored_in_utc_through_the_door(ingest, key):
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    text = moment.astimezone(datetime.strptime("+2300", "%z").tzinfo).isoformat()
    upload = UploadRequest("image/jpeg", jpeg_bytes(), query={"serial": "D-5", "captured_at": text})
    status, body = post(ingest, key, upload)
    assert status == 202, body
    assert Inspection.objects.get(id=body["id"]).captured_at == moment


# Each example is a real request to the server: 150 take a few seconds.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(upload=upload_requests(door=True))
def test_any_upload_through_the_door_is_accepted_or_refused_with_a_documented_code(ingest, key, upload):
    rows_before, files_before = Inspection.objects.count(), stored_files()
    status, body = post(ingest, key, upload)
    check_answer(status, body, rows_before=rows_before, files_before=files_before)
