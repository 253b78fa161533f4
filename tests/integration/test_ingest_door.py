"""The upload door on the ingest server's event loop (inspection/ingest/door.py), through the real
server as docker/ runs it: each refusal of the upload API, idempotent retries racing, the
line's backpressure, raw bodies, and the group commit's rows and tasks."""

import http.client
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings

from inspection.demo.feeder import multipart_body
from inspection.ingest.services import Upload, inspection_create
from inspection.models import Inspection
from inspection.queues import inspection_queue
from tests.factories import image_bytes, jpeg_bytes, make_line, make_station
from tests.messages import queued_groups
from tests.processes import process_env, start_gunicorn_ingest
from tests.threads import closing_connections

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ingest(process_logs):
    server = start_gunicorn_ingest(process_env(), process_logs)
    yield server
    server.stop()


def post(server, *, headers: dict[str, str], body: bytes, query: str = "") -> tuple[int, http.client.HTTPMessage, dict]:
    port = int(server.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("POST", f"/api/v1/inspections/{query}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def multipart(key: str, image: bytes, serial: str, **headers: str) -> tuple[dict[str, str], bytes]:
    body, content_type = multipart_body({"serial": serial}, filename="a.jpg", content=image, content_type="image/jpeg")
    return {"Authorization": f"Bearer {key}", "Content-Type": content_type, **headers}, body


def test_racing_retries_with_one_idempotency_key_get_one_inspection(ingest):
    line = make_line(code="door-idem")
    _, key = make_station(line)
    headers, body = multipart(key, jpeg_bytes(), "IDEM-1", **{"Idempotency-Key": "shot-77"})
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: post(ingest, headers=headers, body=body), range(12)))
    other_headers, other_body = multipart(key, jpeg_bytes(seed=2), "IDEM-1", **{"Idempotency-Key": "shot-77"})
    reused = post(ingest, headers=other_headers, body=other_body)

    assert [status for status, _, _ in answers] == [202] * 12
    assert len({answer["id"] for _, _, answer in answers}) == 1
    assert sum(response.get("Idempotent-Replayed") == "true" for _, response, _ in answers) == 11
    assert Inspection.objects.filter(line=line).count() == 1
    assert (reused[0], reused[2]["error"]["code"]) == (422, "idempotency_key_reused")


def test_the_answer_names_the_inspection_at_the_host_the_station_called(ingest):
    _, key = make_station(make_line(code="door-url"))
    port = ingest.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", "localhost"):
        headers, body = multipart(key, jpeg_bytes(), "URL-1", Host=host)
        status, response, answer = post(ingest, headers=headers, body=body)
        assert status == 202
        assert answer["url"] == f"http://{host}/api/v1/inspections/{answer['id']}/" == response["Location"]
    headers, body = multipart(key, jpeg_bytes(), "URL-2", Host="intruder.example")
    assert post(ingest, headers=headers, body=body)[2]["error"]["code"] == "host_invalid"


def test_a_full_backlog_sheds_uploads_with_retry_after_and_stores_nothing(ingest):
    line = make_line(code="door-full", queue_limit=1)
    station, key = make_station(line)
    image = jpeg_bytes()
    waiting = inspection_create(station=station, upload=Upload(io.BytesIO(image), len(image), "W", None)).inspection
    headers, body = multipart(key, jpeg_bytes(), "SHED-1")
    status, response, answer = post(ingest, headers=headers, body=body)
    assert (status, answer["error"]["code"]) == (503, "line_backlog_full")
    assert response["Retry-After"] == "5"
    assert list(Inspection.objects.filter(line=line)) == [waiting]


def test_raw_bodies_and_each_refusal_through_the_door(ingest):
    line = make_line(code="door-raw")
    station, key = make_station(line)
    _, off_key = make_station(line, code="cam-off")
    line.stations.filter(code="cam-off").update(active=False)
    auth = {"Authorization": f"Bearer {key}"}
    jpeg = jpeg_bytes()

    raw = post(ingest, headers={**auth, "Content-Type": "image/jpeg", "Kensa-Serial": "RAW-1"}, body=jpeg)
    png = post(ingest, headers={**auth, "Content-Type": "image/png"}, body=image_bytes("PNG"), query="?serial=RAW-2")
    mismatch = post(ingest, headers={**auth, "Content-Type": "image/png"}, body=jpeg, query="?serial=RAW-3")
    wrong_type = post(ingest, headers={**auth, "Content-Type": "text/plain"}, body=b"hello", query="?serial=X")
    other_line = post(
        ingest, headers={**auth, "Content-Type": "image/jpeg"}, body=jpeg, query="?serial=X&line=elsewhere"
    )
    huge = post(
        ingest,
        headers={**auth, "Content-Type": "image/jpeg", "Content-Length": str(settings.KENSA_MAX_IMAGE_BYTES * 2)},
        body=b"",
        query="?serial=X",
    )
    unknown_key = post(ingest, headers={"Authorization": "Bearer nope", "Content-Type": "image/jpeg"}, body=jpeg)
    disabled = post(ingest, headers={"Authorization": f"Bearer {off_key}", "Content-Type": "image/jpeg"}, body=jpeg)

    assert raw[0] == 202 and png[0] == 202
    rows = {row.serial: row for row in Inspection.objects.filter(line=line)}
    assert set(rows) == {"RAW-1", "RAW-2"} and rows["RAW-2"].image_format == "PNG"
    assert rows["RAW-1"].id == uuid.UUID(raw[2]["id"]) and rows["RAW-1"].station == station
    codes = [(answer[0], answer[2]["error"]["code"]) for answer in (mismatch, wrong_type, other_line, huge)]
    assert codes == [
        (415, "content_type_mismatch"),
        (415, "unsupported_media_type"),
        (403, "line_mismatch"),
        (413, "image_too_large"),
    ]
    assert (unknown_key[0], unknown_key[2]["error"]["code"]) == (401, "invalid_api_key")
    assert unknown_key[1]["WWW-Authenticate"] == 'Bearer realm="kensa"'
    assert (disabled[0], disabled[2]["error"]["code"]) == (403, "station_inactive")


def test_concurrent_uploads_are_committed_and_queued_in_groups(ingest):
    """Many uploads at once, across the server's processes and their station caches, share
    the door's group commits: every one still gets its own row, committed before its 202, and
    its own task, exactly once."""
    line = make_line(code="door-group")
    _, key = make_station(line)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = inspection_queue(line.priority)
    broker.delete(queue)
    image = jpeg_bytes()

    @closing_connections
    def send(n: int) -> tuple[int, str]:
        headers, body = multipart(key, image, f"GRP-{n}")
        status, _, answer = post(ingest, headers=headers, body=body)
        # Committed before the answer: the row is there the moment the 202 arrives.
        assert Inspection.objects.filter(id=answer["id"]).exists()
        return status, answer["id"]

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(send, range(200)))
    assert {status for status, _ in answers} == {202}
    ids = {inspection_id for _, inspection_id in answers}
    assert len(ids) == 200
    rows = Inspection.objects.filter(line=line)
    assert {str(row_id) for row_id in rows.values_list("id", flat=True)} == ids
    assert sorted(rows.values_list("serial", flat=True)) == sorted(f"GRP-{n}" for n in range(200))
    # Each inspection in exactly one message; a commit's uploads share messages of up to
    # KENSA_TASK_GROUP_SIZE (the server runs with the default).
    groups = queued_groups(broker, queue)
    assert sorted(inspection_id for group in groups for inspection_id in group) == sorted(ids)
    assert max(len(group) for group in groups) <= settings.KENSA_TASK_GROUP_SIZE
    assert len(groups) < 200, "no two uploads shared a message"
    broker.delete(queue)


def test_a_large_16_bit_png_is_checked_off_the_loop_and_accepted(ingest):
    """Images past INLINE_MAX_BYTES (inspection/ingest/decode_cost.py) are decoded and written on
    a thread, not on the loop."""
    import numpy as np
    from PIL import Image

    from inspection.ingest.decode_cost import INLINE_MAX_BYTES

    line = make_line(code="door-big")
    _, key = make_station(line)
    pixels = np.random.default_rng(3).integers(0, 65535, size=(600, 800), dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    png = buffer.getvalue()
    assert len(png) > INLINE_MAX_BYTES
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/png"}
    status, _, answer = post(ingest, headers=headers, body=png, query="?serial=BIG-1")
    cut_status, _, cut = post(ingest, headers=headers, body=png[: len(png) // 2], query="?serial=BIG-2")
    assert status == 202, answer
    row = Inspection.objects.get(id=answer["id"])
    assert (row.image_format, row.width, row.height, row.image_bytes) == ("PNG", 800, 600, len(png))
    assert (cut_status, cut["error"]["code"]) == (400, "image_truncated")
    assert Inspection.objects.filter(line=line).count() == 1
