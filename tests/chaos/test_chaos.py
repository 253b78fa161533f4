"""Zero lost inspections, proven under faults, through the production door.

Starts the ingest server as docker/ deploys it (gunicorn with config/gunicorn.py, uvicorn
workers, KENSA_ROLE=ingest: the door and its group commit), two Celery workers and beat, each
kept running by a supervisor as compose's restart policy and a Kubernetes Deployment keep them,
and a private Redis; uploads N images over HTTP across three lines of different priority;
meanwhile kills a worker with SIGKILL, restarts Redis (losing every queued message), and
terminates every database connection. Then waits for the system to drain and checks that every
upload answered 202 ended in exactly one terminal state with exactly one set of results.

Every result is also sent as a signed webhook, by a notify worker kept running like the others,
to a receiver process that verifies each request with the standardwebhooks package, fails about
a third of them (seeded: the same requests on every run) and is killed and started again once
mid-run. At the end every accepted inspection was delivered, and exactly once after
de-duplication by webhook-id: one webhook-id per inspection, one inspection per webhook-id.

Duplicates are counted where they would be written: a trigger, made by this test in its own
database, records every transition of an inspection into a terminal state and every rewrite of
a finished row's result. A second record for one inspection is a duplicate, on every line, the
pass-only line (whose results have no defects to count) included.

    make test PYTEST_ARGS="-m chaos -s"                        # N = 1,000, as in CI
    KENSA_CHAOS_N=10000 make test PYTEST_ARGS="-m chaos -s"    # the long run
"""

import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.db import connection

from inspection.constants import TERMINAL_STATUSES, Status
from inspection.demo.feeder import upload
from inspection.models import Defect, Inspection
from results.webhooks.constants import DeliveryState
from results.webhooks.models import WebhookDelivery
from results.webhooks.services import subscription_create
from tests.factories import jpeg_bytes, make_line, make_model, make_station
from tests.processes import (
    Process,
    Supervised,
    free_port,
    process_env,
    start_beat,
    start_gunicorn_ingest,
    start_notify_worker,
    start_redis,
    start_webhook_receiver,
    start_worker,
)

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

N = int(os.environ.get("KENSA_CHAOS_N", "1000"))
CONCURRENCY = int(os.environ.get("KENSA_CHAOS_CONCURRENCY", "8"))
DRAIN_TIMEOUT = float(os.environ.get("KENSA_CHAOS_DRAIN_TIMEOUT", "600"))
# Short leases and sweeps so that recovery shows within a test's time; production uses minutes.
FAST_RECOVERY = {
    "KENSA_CLAIM_LEASE_SECONDS": "10",
    "KENSA_REQUEUE_AFTER_SECONDS": "5",
    "KENSA_SWEEP_INTERVAL_SECONDS": "2",
    "CELERY_VISIBILITY_TIMEOUT": "30",
    "KENSA_MAX_ATTEMPTS": "5",
    "LOG_LEVEL": "WARNING",
    # Webhook retries within seconds (production: from 5 s up to an hour, for two days).
    "KENSA_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "KENSA_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
    "KENSA_WEBHOOK_RETRY_CAP_SECONDS": "0.3",
    "KENSA_WEBHOOK_SWEEP_SECONDS": "0.5",
    # A round's claims last 8 x 3 x this + 30 s when its worker dies (results/webhooks/services.py).
    "KENSA_WEBHOOK_TIMEOUT_SECONDS": "2",
}


class LoadGenerator:
    """Uploads `total` images; retries whatever was not answered 202 (nothing was accepted
    then), as a station does. Only 202 answers count as accepted."""

    def __init__(self, base_url: str, stations: list[tuple[str, str, bytes]], total: int):
        self.base_url = base_url
        self.stations = stations
        self.total = total
        self.accepted: dict[str, str] = {}  # inspection id -> line code
        self.refused = Counter[str]()
        self.lock = threading.Lock()

    def send(self, index: int) -> None:
        """A station whose line is shed (503 line_backlog_full) keeps trying for as long as the
        run may take to drain: in a long run the lines' backlogs reach their queue_limit, and the
        low line waits while the workers serve the others first."""
        line_code, key, image = self.stations[index % len(self.stations)]
        give_up_at = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < give_up_at:
            try:
                status, body = upload(self.base_url, key, jpeg=image, serial=f"CHAOS-{index:06d}", timeout=30)
            except OSError as exc:
                status, body = 0, {"error": {"code": type(exc).__name__}}
            code = str(body.get("error", {}).get("code", status))
            with self.lock:
                if status == 202:
                    self.accepted[body["id"]] = line_code
                    return
                self.refused[code] += 1
            time.sleep(1.0 if code == "line_backlog_full" else 0.25)
        raise AssertionError(f"upload {index} was never accepted")

    @property
    def progress(self) -> float:
        with self.lock:
            return len(self.accepted) / self.total


def terminate_database_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


# Every write of an end: a transition into a terminal state, or a finished row whose result
# (verdict, model, finish time, status) is written again. Test-only, in the test's database.
WRITES_TABLE = "chaos_terminal_writes"
_TRIGGER_SQL = """
CREATE TABLE {writes} (inspection_id uuid NOT NULL, old_status text NOT NULL, new_status text NOT NULL);
CREATE FUNCTION {writes}_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {writes} VALUES (NEW.id, OLD.status, NEW.status);
    RETURN NULL;
END $$;
CREATE TRIGGER {writes}_trigger AFTER UPDATE ON {inspections} FOR EACH ROW
WHEN (NEW.status IN ({terminal}) AND (
    OLD.status IS DISTINCT FROM NEW.status OR OLD.verdict IS DISTINCT FROM NEW.verdict
    OR OLD.model_id IS DISTINCT FROM NEW.model_id OR OLD.finished_at IS DISTINCT FROM NEW.finished_at
))
EXECUTE FUNCTION {writes}_record();
"""


def record_terminal_writes() -> None:
    terminal = ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
    statements = _TRIGGER_SQL.format(
        writes=WRITES_TABLE, inspections=connection.ops.quote_name(Inspection._meta.db_table), terminal=terminal
    )
    with connection.cursor() as cursor:
        cursor.execute(statements)


def terminal_writes() -> Counter[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT inspection_id FROM {WRITES_TABLE}")
        return Counter(str(inspection_id) for (inspection_id,) in cursor.fetchall())


def drop_terminal_writes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {WRITES_TABLE}; DROP FUNCTION IF EXISTS {WRITES_TABLE}_record CASCADE")


def test_every_accepted_image_ends_in_exactly_one_terminal_state(tmp_path, capsys, settings):
    redis = start_redis(tmp_path)
    env = process_env(REDIS_URL=f"redis://127.0.0.1:{redis.port}/0", **FAST_RECOVERY)
    expected_defects = {}
    stations = []
    for code, priority, always in (
        ("chaos-a", "critical", "spot"),
        ("chaos-b", "normal", "scratch"),
        ("chaos-c", "low", "good"),
    ):
        line = make_line(code=code, priority=priority, model=make_model(always=always), deadline_seconds=3600)
        _, key = make_station(line)
        stations.append((code, key, jpeg_bytes(label=always, seed=random.randrange(1000))))
        expected_defects[code] = 0 if always == "good" else 1
    record_terminal_writes()
    settings.KENSA_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the subscription is made here
    records = tmp_path / "webhooks-received.jsonl"
    receiver_port = free_port()
    _, secret = subscription_create(name="chaos-mes", url=f"http://127.0.0.1:{receiver_port}/kensa", all_lines=True)
    start_receiver = partial(start_webhook_receiver, tmp_path, port=receiver_port, secret=secret, records=records)
    receiver = start_receiver()

    # The notify worker starts beside the others rather than after them (seconds of the run).
    with ThreadPoolExecutor(1) as starting:
        notify = starting.submit(Supervised, partial(start_notify_worker, env, tmp_path))
        ingest = start_gunicorn_ingest(env, tmp_path)
        supervised = [Supervised(partial(start_worker, env, tmp_path, name)) for name in ("worker-1", "worker-2")]
        supervised.append(notify.result())
    supervised.append(Supervised(partial(start_beat, env, tmp_path)))
    events: list[str] = []
    load = LoadGenerator(ingest.url, stations, N)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(load.send, index) for index in range(N)]
            chaos = [
                (0.25, "SIGKILL worker-1", lambda: f"pid {supervised[0].kill()} killed"),
                (0.50, "restart Redis", lambda: _restart_redis(redis, tmp_path)),
                (0.60, "restart the webhook receiver", lambda: _restart_receiver(receiver, start_receiver)),
                (0.75, "terminate database connections", lambda: f"{terminate_database_connections()} terminated"),
            ]
            for threshold, name, act in chaos:
                while load.progress < threshold and not all(f.done() for f in futures):
                    time.sleep(0.05)
                events.append(f"{time.monotonic() - started:6.1f}s {name}: {act() or 'done'}")
            for future in futures:
                future.result()
        submitted_at = time.monotonic()

        accepted = set(load.accepted)
        while time.monotonic() - submitted_at < DRAIN_TIMEOUT:
            unfinished = Inspection.objects.filter(id__in=accepted).exclude(status__in=TERMINAL_STATUSES).count()
            if unfinished == 0:
                break
            time.sleep(1)
        drain_s = time.monotonic() - submitted_at
        # Webhooks follow the results: their retries after the receiver's failures take seconds.
        while time.monotonic() - submitted_at < DRAIN_TIMEOUT:
            waiting = WebhookDelivery.objects.exclude(state=DeliveryState.DELIVERED).count()
            delivered = WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count()
            if waiting == 0 and delivered >= len(accepted):
                break
            time.sleep(1)
        webhooks_drain_s = time.monotonic() - submitted_at
    finally:
        ingest.stop()
        for process in supervised:
            process.stop()
        receiver.stop()
        redis.stop()

    rows = {str(i): (status, line) for i, status, line in Inspection.objects.values_list("id", "status", "line__code")}
    defects = Counter(str(i) for i in Defect.objects.values_list("inspection_id", flat=True))
    writes = terminal_writes()
    drop_terminal_writes()
    terminal = [i for i in accepted if i in rows and rows[i][0] in TERMINAL_STATUSES]
    lost = len(accepted) - len(terminal)
    done = [i for i in terminal if rows[i][0] == Status.DONE]
    # More than one end written for an inspection, on any line; or more defects than its
    # model finds (a second set of defects written beside one result).
    duplicated = sum(1 for i in accepted if writes[i] > 1 or (i in rows and defects[i] > expected_defects[rows[i][1]]))
    unrecorded = sum(1 for i in terminal if writes[i] == 0)
    missing_results = sum(1 for i in done if defects[i] < expected_defects[rows[i][1]])
    by_status = Counter(rows[i][0] for i in terminal)
    by_line = Counter(rows[i][1] for i in done)
    unaccepted_rows = len(set(rows) - accepted)
    received = [json.loads(line) for line in records.read_text().splitlines()]
    by_webhook_id: dict[str, set[str]] = {}
    for record in received:
        by_webhook_id.setdefault(record["webhook_id"], set()).add(record["inspection"])
    webhook_ids_by_inspection = Counter(next(iter(ids)) for ids in by_webhook_id.values() if len(ids) == 1)
    undelivered = len(accepted - set(webhook_ids_by_inspection))
    states = Counter(WebhookDelivery.objects.values_list("state", flat=True))

    with capsys.disabled():  # the figures are the point of the run: show them in CI too
        print()
        print("\n".join(events))
        print("exits (restarted by the supervisor): " + ", ".join(f"{p.name}={p.exits}" for p in supervised))
        print(f"refused and retried by the load generator: {dict(load.refused)}")
        print(f"terminal states: {dict(by_status)}; done by line: {dict(by_line)}")
        print(f"rows without a 202 (client saw an error): {unaccepted_rows}; ends written: {sum(writes.values())}")
        counts = f"accepted={len(accepted)} terminal={len(terminal)} lost={lost} duplicated={duplicated}"
        print(
            f"webhooks: {len(received)} accepted by the receiver ({len(by_webhook_id)} distinct webhook-ids), "
            f"attempts {sum(WebhookDelivery.objects.values_list('attempts', flat=True))}, "
            f"deliveries {dict(states)}, undelivered {undelivered}, drained in {webhooks_drain_s:.1f} s"
        )
        print(f"RESULT {counts} drain_s={drain_s:.1f}")
    assert len(accepted) == N
    assert lost == 0
    assert duplicated == 0 and missing_results == 0
    assert unrecorded == 0, "an end was not seen by the trigger: the duplicate count cannot be trusted"
    assert by_status[Status.DONE] == len(terminal), f"not every inspection was done: {dict(by_status)}"
    # Webhooks: every accepted inspection delivered; after de-duplication by webhook-id, once.
    assert undelivered == 0 and set(webhook_ids_by_inspection) == accepted
    assert all(len(ids) == 1 for ids in by_webhook_id.values()), "a webhook-id named two inspections"
    assert set(webhook_ids_by_inspection.values()) == {1}, "an inspection was sent under two webhook-ids"
    assert states == Counter({DeliveryState.DELIVERED: len(accepted)})


def _restart_redis(redis, log_dir) -> str:
    redis.kill()
    time.sleep(1.0)
    restarted = start_redis(log_dir, port=redis.port)
    redis.popen, redis.log = restarted.popen, restarted.log
    return "back"


def _restart_receiver(receiver: Process, start: "partial[Process]") -> str:
    receiver.kill()
    restarted = start()
    receiver.popen, receiver.log = restarted.popen, restarted.log
    return f"back on port {receiver.port}"
