"""Uploads while a part of the system is down, against a real daphne process."""

import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from inspection.constants import Status
from inspection.demo.feeder import upload
from inspection.lifecycle.sweeper import inspections_requeue_stale
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import free_port, process_env, start_daphne


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_database_down_gives_503_and_stores_nothing(process_logs):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/kensa"
    # The pool waits KENSA_DB_POOL_TIMEOUT for a connection before it answers 503: shorter
    # than the client's own time-out here.
    env = process_env(DATABASE_URL=nowhere, KENSA_DB_POOL_TIMEOUT="2")
    server = start_daphne(env, process_logs, name="daphne-no-db")
    try:
        before = stored_files()
        status, body = upload(server.url, "ksa_any_key", jpeg=jpeg_bytes(), serial="DB-DOWN-1")
        health, ready = get(f"{server.url}/health"), get(f"{server.url}/ready")
    finally:
        server.stop()
    assert health == (200, {"status": "ok"})
    assert ready[0] == 503 and ready[1]["checks"]["database"].startswith("error")
    assert ready[1]["checks"]["redis"] == "ok"
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
        ready = get(f"{server.url}/ready")
    finally:
        server.stop()
    assert ready[0] == 503 and ready[1]["checks"]["redis"].startswith("error")
    assert ready[1]["checks"]["database"] == "ok"
    assert status == 202, body
    inspection = Inspection.objects.get(id=body["id"])
    assert inspection.status == Status.QUEUED  # accepted and stored: the row is the outbox

    # Redis is back (the test's own); once the row has waited its time, the sweep sends it.
    redis_client.delete("inspect.low")
    settings.KENSA_REQUEUE_AFTER_SECONDS = 0
    assert inspections_requeue_stale() == 1
    assert body["id"].encode() in b"".join(redis_client.lrange("inspect.low", 0, -1))


def test_ready_when_everything_answers(daphne_server):
    assert get(f"{daphne_server.url}/ready") == (
        200,
        {"status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}},
    )


def test_warm_shutdown_finishes_the_inspection_in_hand(process_logs):
    """SIGTERM while a worker runs an inspection: it finishes and records it, then exits."""
    from tests.factories import make_model
    from tests.processes import start_worker

    # A large input makes the forward pass take long enough to be caught in the middle.
    line = make_line(code="shutdown", model=make_model(always="spot", input_size=1536))
    _, key = make_station(line)
    worker = start_worker(process_env(), process_logs, name="worker-shutdown")
    server = start_daphne(process_env(), process_logs, name="daphne-shutdown")
    try:
        status, body = upload(server.url, key, jpeg=jpeg_bytes(), serial="SHUTDOWN-1")
        assert status == 202, body
        deadline = time.monotonic() + 60
        while Inspection.objects.get(id=body["id"]).status != Status.RUNNING:
            assert time.monotonic() < deadline, "the worker never started the inspection"
            time.sleep(0.01)
        worker.popen.send_signal(signal.SIGTERM)
        # The forward pass at 1536 px takes seconds on a quiet CPU, a minute on a loaded one.
        assert worker.popen.wait(timeout=180) == 0
    finally:
        worker.stop()
        server.stop()
    inspection = Inspection.objects.get(id=body["id"])
    assert (inspection.status, inspection.attempts, inspection.defects.count()) == (Status.DONE, 1, 1)
    assert inspection.timings["model_ms"] > 100  # the signal came while the model was running
