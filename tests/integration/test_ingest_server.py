"""The ingest role under gunicorn: the station API only, the rest of the site is not there."""

import json
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from inspection.constants import Status
from inspection.demo.feeder import upload
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import process_env, start_gunicorn_ingest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_server_removes_the_metrics_directory_it_made_when_it_stops(process_logs):
    def metrics_directories() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("kensa-ingest-metrics-*"))

    before = metrics_directories()
    server = start_gunicorn_ingest(process_env(), process_logs)
    try:
        made = metrics_directories() - before
    finally:
        server.stop()
    assert len(made) == 1  # the server's own, in use while it runs
    assert metrics_directories() == before


def test_gunicorn_ingest_role_takes_uploads_and_nothing_else(process_logs):
    _, key = make_station(make_line(code="ingest-role"))
    server = start_gunicorn_ingest(process_env(), process_logs)
    try:
        status, body = upload(server.url, key, jpeg=jpeg_bytes(), serial="INGEST-1")
        bad_status, bad_body = upload(server.url, key, jpeg=b"not an image", serial="INGEST-2")
        statuses = {path: status_of(server.url + path) for path in ("/ready", "/admin/", "/api/v1/results/")}
    finally:
        server.stop()
    assert status == 202, body
    assert Inspection.objects.get(id=body["id"]).status == Status.QUEUED
    assert (bad_status, bad_body["error"]["code"]) == (415, "image_unrecognized")
    assert statuses == {"/ready": 200, "/admin/": 404, "/api/v1/results/": 404}


def test_the_direct_upload_path_refuses_like_the_rest_of_the_api(process_logs):
    """The ingest server sends uploads to their door on the event loop (config/ingest.py),
    past Django's middleware: a foreign Host, a missing key and a malformed body are still
    refused in the API's error shape, and nothing is stored for them."""
    import http.client

    from inspection.demo.feeder import multipart_body

    line = make_line(code="ingest-refusals")
    _, key = make_station(line)
    body, content_type = multipart_body(
        {"serial": "R-1"}, filename="part.jpg", content=jpeg_bytes(), content_type="image/jpeg"
    )
    server = start_gunicorn_ingest(process_env(), process_logs)

    def post(headers: dict[str, str], payload: bytes = body) -> tuple[int, http.client.HTTPMessage, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
        try:
            connection.request("POST", "/api/v1/inspections/", body=payload, headers=headers)
            response = connection.getresponse()
            # Header names are case-insensitive (uvicorn sends them in lower case): HTTPMessage
            # looks them up so.
            return response.status, response.headers, json.loads(response.read())
        finally:
            connection.close()

    auth = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    try:
        foreign = post({**auth, "Host": "evil.example"})
        no_key = post({"Content-Type": content_type})
        cut = post(auth, body[: len(body) // 2])
        accepted = post(auth)
    finally:
        server.stop()
    assert (foreign[0], foreign[2]["error"]["code"]) == (400, "host_invalid")
    assert (no_key[0], no_key[2]["error"]["code"]) == (401, "missing_api_key")
    assert no_key[1]["WWW-Authenticate"] == 'Bearer realm="kensa"'
    assert cut[0] == 400
    assert accepted[0] == 202 and accepted[1]["Location"] == accepted[2]["url"]
    assert list(Inspection.objects.filter(line=line).values_list("id", flat=True)) == [uuid.UUID(accepted[2]["id"])]


def test_metrics_count_the_uploads_of_every_worker(process_logs):
    """gunicorn's workers keep their metrics in shared files (config/gunicorn.py): one scrape
    sums every worker's uploads, whichever worker answers it."""
    from concurrent.futures import ThreadPoolExecutor

    _, key = make_station(make_line(code="ingest-metrics"))
    image = jpeg_bytes()
    server = start_gunicorn_ingest(process_env(), process_logs)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            accepted = list(pool.map(lambda n: upload(server.url, key, jpeg=image, serial=f"M-{n}")[0], range(40)))
            refused = list(pool.map(lambda n: upload(server.url, key, jpeg=b"junk", serial=f"J-{n}")[0], range(3)))
        scrapes = [_scrape(server.url + "/metrics") for _ in range(4)]
        worker_pids = {int(pid) for pid in _children(server.popen.pid)}
    finally:
        server.stop()
    assert accepted == [202] * 40 and refused == [415] * 3
    assert len(worker_pids) == 2
    for metrics in scrapes:
        assert metrics['kensa_uploads_total{outcome="accepted"}'] == 40
        assert metrics['kensa_uploads_total{outcome="image_unrecognized"}'] == 3
        # Every accepted upload was written by exactly one group commit, each group timed once
        # per step; refused uploads never reach one.
        assert metrics["kensa_ingest_commit_uploads_sum"] == 40
        groups = metrics["kensa_ingest_commit_uploads_count"]
        assert 3 <= groups <= 40  # at most 16 uploads are in flight at once: 40 need three groups
        for step in ("sync", "insert", "push"):
            assert metrics[f'kensa_ingest_commit_seconds_count{{step="{step}"}}'] == groups


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _children(pid: int) -> list[str]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return children.read().split()
