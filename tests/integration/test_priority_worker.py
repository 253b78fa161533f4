"""A real worker busy with a low line's flood: a critical image that arrives takes a place kept
for it and the next batch, ahead of low-line work the worker had already reserved and claimed
(docs/priority.md)."""

import io
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from inspection.constants import Status
from inspection.ingest import storage
from inspection.ingest.services import Upload, inspection_stored, inspections_record_group
from inspection.models import Inspection
from lines.constants import Priority
from tests.factories import jpeg_bytes, make_line, make_model, make_station
from tests.processes import Process, process_env, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BATCH = 4
THREADS = 16  # low may hold 16 - 3 x 2 = 10 messages: a batch in the model and more waiting
FLOOD = 48


@pytest.fixture(scope="module")
def priority_worker(django_db_setup, django_db_blocker, process_logs) -> Iterator[Process]:
    env = process_env(
        KENSA_BATCH_SIZE=str(BATCH),
        KENSA_BATCH_WAIT_MS="5",
        KENSA_PRIORITY_RESERVE="2",
        KENSA_DB_POOL_SIZE=str(THREADS + 2),
    )
    process = start_worker(env, process_logs, name="priority-worker", concurrency=THREADS)
    yield process
    process.stop()


def _accept(station, image: bytes, serials: list[str]) -> list[Inspection]:
    """As the door accepts uploads: stored, committed together, one message per image."""
    rows = []
    for serial in serials:
        upload = Upload(io.BytesIO(image), len(image), serial, None)
        rows.append(inspection_stored(station, upload, storage.sha256_of(upload.stream)))
    with override_settings(KENSA_TASK_GROUP_SIZE=1):
        assert inspections_record_group(rows) == [None] * len(rows)
    return rows


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_critical_image_overtakes_the_low_line_work_the_worker_holds(priority_worker):
    model = make_model(input_size=512)  # batches slow enough to hold work behind them
    low_line = make_line(code="flood-low", priority=Priority.LOW, model=model)
    critical_line = make_line(code="flood-critical", priority=Priority.CRITICAL, model=model, latency_target_ms=1)
    low_station, _ = make_station(low_line)
    critical_station, _ = make_station(critical_line)
    image = jpeg_bytes(size=(640, 512))

    warm_up = _accept(low_station, image, ["WARM-UP"])
    _wait(lambda: Inspection.objects.filter(id=warm_up[0].id, status=Status.DONE).exists(), 90, "no warm-up")

    flood = _accept(low_station, image, [f"LOW-{n}" for n in range(FLOOD)])
    low = Inspection.objects.filter(id__in=[row.id for row in flood])
    # The worker holds its share of the flood: two batches claimed, one in the model.
    _wait(lambda: low.filter(status=Status.RUNNING).count() >= 2 * BATCH, 60, "the worker took no low work")
    [critical] = _accept(critical_station, image, ["CRITICAL"])

    everything = Inspection.objects.filter(line__in=[low_line, critical_line]).exclude(serial="WARM-UP")
    _wait(lambda: not everything.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists(), 120, "not drained")
    assert set(everything.values_list("status", flat=True)) == {Status.DONE}
    assert set(everything.values_list("attempts", flat=True)) == {1}  # nothing claimed twice
    critical.refresh_from_db()
    # Low images the worker had claimed before the critical one and that finished after it:
    # the critical image went ahead of work already reserved, not merely ahead of the queue.
    overtaken = low.filter(started_at__lt=critical.started_at, finished_at__gt=critical.finished_at).count()
    # In arrival order it would be none: every low image claimed before it was ahead of it in
    # the batcher. Two or more: it went ahead of at least half a batch already in hand.
    assert overtaken >= BATCH // 2, (overtaken, priority_worker.tail())
    # And it ran in a batch of its own priority: its target left no room for the low line.
    assert critical.timings["batch_size"] == 1
