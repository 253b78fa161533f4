"""The worker's side of priority, in-process against PostgreSQL and storage: an image that
cannot meet its deadline is expired before its forward pass, and where each image's time went
reaches the worker's metrics (inspection/inference/metrics.py)."""

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from inspection.constants import ErrorCode, Status
from inspection.inference import engine, worker
from inspection.inference.worker import Outcome
from inspection.ingest.services import Upload, inspection_create
from inspection.models import Inspection
from lines.constants import Priority
from tests.factories import jpeg_bytes, make_line, make_model, make_station, run_inspection

pytestmark = pytest.mark.django_db


def accept(line) -> Inspection:
    station, _ = make_station(line, code=f"cam-{uuid.uuid4().hex[:6]}")
    data = jpeg_bytes()
    return inspection_create(station=station, upload=Upload(io.BytesIO(data), len(data), "SN-1", None)).inspection


def sample(name: str, line: str, priority: str) -> float:
    return REGISTRY.get_sample_value(name, {"line": line, "priority": priority}) or 0.0


def test_an_image_that_cannot_meet_its_deadline_is_expired_without_a_forward_pass(
    monkeypatch, django_capture_on_commit_callbacks
):
    model = make_model(always="scratch")
    line = make_line(model=model, priority=Priority.LOW)
    inspection = accept(line)
    # Two seconds left, and the batcher has learnt that this model takes a minute a pass.
    Inspection.objects.filter(id=inspection.id).update(deadline_at=timezone.now() + timedelta(seconds=2))
    times = worker._batcher.get().times
    times.record(model.sha256, 1, 60.0)
    forward_passes: list[int] = []
    infer = engine.infer

    def counted(loaded, batch):
        forward_passes.append(len(batch))
        return infer(loaded, batch)

    monkeypatch.setattr(engine, "infer", counted)
    expired_before = sample("kensa_inference_expired_total", line.code, line.priority)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert run_inspection(inspection.id) == Outcome.EXPIRED
    finally:
        times._sums.pop(model.sha256, None)  # other tests' passes of this model start afresh
    inspection.refresh_from_db()
    assert (inspection.status, inspection.error_code) == (Status.EXPIRED, ErrorCode.DEADLINE_EXCEEDED)
    assert inspection.verdict == "" and inspection.finished_at is not None and inspection.attempts == 1
    assert forward_passes == []
    assert sample("kensa_inference_expired_total", line.code, line.priority) == expired_before + 1


def test_queue_wait_in_worker_wait_batch_size_and_forward_time_are_measured(django_capture_on_commit_callbacks):
    line = make_line(model=make_model(always="good"), priority=Priority.CRITICAL, latency_target_ms=500)
    inspection = accept(line)
    counts = {
        name: sample(f"{name}_count", line.code, line.priority)
        for name in ("kensa_inference_queue_wait_seconds", "kensa_inference_worker_wait_seconds")
    }
    batches = REGISTRY.get_sample_value("kensa_inference_batch_size_count") or 0.0
    forward = REGISTRY.get_sample_value("kensa_inference_forward_seconds_count") or 0.0
    with django_capture_on_commit_callbacks(execute=True):
        assert run_inspection(inspection.id) == Outcome.DONE
    for name, before in counts.items():
        assert sample(f"{name}_count", line.code, line.priority) == before + 1
    assert REGISTRY.get_sample_value("kensa_inference_batch_size_count") == batches + 1
    assert REGISTRY.get_sample_value("kensa_inference_forward_seconds_count") == forward + 1
