"""The ingest role under gunicorn: the station API only, the rest of the site is not there."""

import urllib.error
import urllib.request

import pytest

from inspection.constants import Status
from inspection.feeder import upload
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


def test_concurrent_uploads_each_get_their_own_row_and_task(process_logs):
    """Uploads racing through gunicorn's threads and processes (and the per-process station
    cache): every one gets its own row, its own id and its own task."""
    from concurrent.futures import ThreadPoolExecutor

    import redis
    from django.conf import settings

    from config.queues import inspection_queue

    line = make_line(code="ingest-group")
    _, key = make_station(line)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = inspection_queue(line.priority)
    broker.delete(queue)
    image = jpeg_bytes()
    server = start_gunicorn_ingest(process_env(), process_logs)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda n: upload(server.url, key, jpeg=image, serial=f"G-{n}"), range(64)))
    finally:
        server.stop()
    assert {status for status, _ in answers} == {202}
    ids = {body["id"] for _, body in answers}
    assert len(ids) == 64
    rows = Inspection.objects.filter(line=line)
    assert set(str(i) for i in rows.values_list("id", flat=True)) == ids
    assert sorted(rows.values_list("serial", flat=True)) == sorted(f"G-{n}" for n in range(64))
    assert broker.llen(queue) == 64
    broker.delete(queue)
