"""Uploads while a part of the system is down, against a real daphne process."""

import pytest

from inspection.constants import Status
from inspection.feeder import upload
from inspection.lifecycle import inspections_requeue_stale
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import free_port, process_env, start_daphne

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_database_down_gives_503_and_stores_nothing(process_logs):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/kensa"
    server = start_daphne(process_env(DATABASE_URL=nowhere), process_logs, name="daphne-no-db")
    try:
        before = stored_files()
        status, body = upload(server.url, "ksa_any_key", jpeg=jpeg_bytes(), serial="DB-DOWN-1")
    finally:
        server.stop()
    assert status == 503, body
    assert body["error"]["code"] == "database_unavailable"
    assert stored_files() == before


def test_redis_down_accepts_the_upload_and_the_sweeper_sends_it_later(process_logs, redis_client, settings):
    line = make_line(code="no-redis", priority="low")
    _, key = make_station(line)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    server = start_daphne(process_env(REDIS_URL=nowhere), process_logs, name="daphne-no-redis")
    try:
        status, body = upload(server.url, key, jpeg=jpeg_bytes(), serial="REDIS-DOWN-1", timeout=30)
    finally:
        server.stop()
    assert status == 202, body
    inspection = Inspection.objects.get(id=body["id"])
    assert inspection.status == Status.QUEUED  # accepted and stored: the row is the outbox

    # Redis is back (the test's own); once the row has waited its time, the sweep sends it.
    redis_client.delete("inspect.low")
    settings.KENSA_REQUEUE_AFTER_SECONDS = 0
    assert inspections_requeue_stale() == 1
    assert body["id"].encode() in b"".join(redis_client.lrange("inspect.low", 0, -1))
