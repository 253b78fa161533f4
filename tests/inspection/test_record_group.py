"""The door's group commit write (services.inspections_record_group): rows of a group commit
together and their tasks go out together, in one message; a clashing row refuses itself alone."""

import io
import json
import time

import pytest
import redis
from django.conf import settings
from django.db import IntegrityError, connection
from prometheus_client import REGISTRY

from inspection.ingest import storage
from inspection.ingest.services import Upload, inspection_create, inspections_record_group
from inspection.models import Inspection
from inspection.queues import inspection_queue
from tests.factories import jpeg_bytes, make_line, make_station, stored_inspection

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_group_commits_its_rows_and_queues_their_tasks_and_a_clash_refuses_only_itself():
    line = make_line(code="group-write")
    station, _ = make_station(line)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = inspection_queue(line.priority)
    image = jpeg_bytes()
    original = inspection_create(
        station=station, upload=Upload(io.BytesIO(image), len(image), "FIRST", None, idempotency_key="shot-1")
    ).inspection
    broker.delete(queue)
    group = [
        stored_inspection(station, "A"),
        stored_inspection(station, "RETRY", idempotency_key="shot-1"),
        stored_inspection(station, "B", seed=2),
    ]

    outcomes = inspections_record_group(group)

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    serials = set(Inspection.objects.filter(line=line).values_list("serial", flat=True))
    assert serials == {"FIRST", "A", "B"}
    assert Inspection.objects.get(station=station, idempotency_key="shot-1").id == original.id
    # The rows that were kept go out together, in one message, in the order they came.
    queued = [json.loads(message)["headers"]["argsrepr"] for message in broker.lrange(queue, 0, -1)]
    assert queued == [repr(([str(group[0].id), str(group[2].id)],))]
    broker.delete(queue)


def test_a_group_without_clashes_is_one_transaction():
    line = make_line(code="group-tx")
    station, _ = make_station(line)
    group = [stored_inspection(station, f"S-{n}", seed=n) for n in range(5)]
    assert inspections_record_group(group) == [None] * 5
    rows = Inspection.objects.filter(line=line)
    assert rows.count() == 5
    # One transaction: every row of the group carries the same transaction id (xmin).
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT xmin::text FROM inspection_inspection WHERE line_id = %s", [line.id])
        assert len(cursor.fetchall()) == 1
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(inspection_queue(line.priority))


def test_a_group_commit_times_each_step_and_counts_its_uploads(monkeypatch):
    """kensa_ingest_commit_seconds shows which step a slow group commit waited on: the disk
    (sync), the database (insert) or the broker (push)."""
    line = make_line(code="group-metrics")
    station, _ = make_station(line)
    group = [stored_inspection(station, f"M-{n}", seed=n) for n in range(3)]
    before = {step: _commit_count(step) for step in ("sync", "insert", "push")}
    sync_seconds_before = _commit_sample("sum", "sync")
    sync_fast_before = _commit_sample("bucket", "sync", le="0.025")
    uploads_before = REGISTRY.get_sample_value("kensa_ingest_commit_uploads_sum") or 0
    # A disk that takes 30 ms to sync: the time must show under sync.
    durable = storage.images_durable

    def slow_images_durable(keys):
        time.sleep(0.03)
        durable(keys)

    monkeypatch.setattr(storage, "images_durable", slow_images_durable)

    assert inspections_record_group(group) == [None] * 3

    assert {step: _commit_count(step) - before[step] for step in before} == {"sync": 1, "insert": 1, "push": 1}
    assert _commit_sample("sum", "sync") - sync_seconds_before >= 0.03
    assert _commit_sample("bucket", "sync", le="0.025") == sync_fast_before  # not counted as fast
    assert REGISTRY.get_sample_value("kensa_ingest_commit_uploads_sum") == uploads_before + 3
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(inspection_queue(line.priority))


def _commit_count(step: str) -> float:
    return _commit_sample("count", step)


def _commit_sample(kind: str, step: str, **labels: str) -> float:
    name = f"kensa_ingest_commit_seconds_{kind}"
    return REGISTRY.get_sample_value(name, {"step": step, **labels}) or 0
