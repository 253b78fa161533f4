"""What a worker does with one inspection: claim it, run the line's model, record the result.

Every write is conditional on the claim (`attempts`), so a message delivered twice, or a
worker that outlived its lease, cannot record a second result. An error after the claim
releases it and goes back to the task, which retries with backoff; an inspection whose
attempts are spent is failed as poison instead of claimed again.
"""

import logging
import time
import uuid
from collections.abc import Hashable
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.utils import timezone

from config.per_process import PerProcess
from inspection import engine
from inspection.batching import Batcher, BatchResult, Combiner
from inspection.constants import ErrorCode, TaskType
from inspection.lifecycle import (
    Claim,
    inspection_expire_if_due,
    inspection_fail,
    inspection_fail_if_out_of_attempts,
    inspection_release,
    inspections_claim,
)
from inspection.models import Inspection
from inspection.storage import read_image
from inspection.verdicts import judge_classification, judge_detection, judge_segmentation
from results.services import Result, inspections_record_results

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # unknown, already finished, or owned by another worker


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _forward(loaded: engine.LoadedModel, tensor: Any) -> BatchResult:
    """The model's answer for one preprocessed image, from a forward pass shared with the
    other inspections this process has in hand for the same model (see batching.py)."""
    if settings.KENSA_BATCH_SIZE == 1:
        start = time.perf_counter()
        [value] = engine.infer(loaded, [tensor])
        return BatchResult(value, batch_size=1, waited_ms=0.0, run_ms=_ms(start))
    return _batcher.get().submit(loaded.sha256, (loaded, tensor)).result()


def _start_batcher() -> Batcher:
    return Batcher(
        _infer_group,
        max_size=settings.KENSA_BATCH_SIZE,
        max_wait_seconds=settings.KENSA_BATCH_WAIT_MS / 1000,
        name="kensa-inference",
    )


_batcher = PerProcess(_start_batcher)


def _infer_group(_sha256: Hashable, items: list[tuple[engine.LoadedModel, Any]]) -> list[Any]:
    loaded = items[0][0]
    return engine.infer(loaded, [tensor for _, tensor in items])


class _Rounds:
    """This process's shared database rounds: the inspections that reach a step while the
    previous round of it runs claim together, or record together (see batching.Combiner)."""

    def __init__(self, max_size: int, linger_seconds: float):
        self.claims = Combiner(_claim_round, max_size=max_size, linger_seconds=linger_seconds)
        self.records = Combiner(inspections_record_results, max_size=max_size, linger_seconds=linger_seconds)


_rounds = PerProcess(lambda: _Rounds(settings.KENSA_BATCH_SIZE, settings.KENSA_BATCH_WAIT_MS / 1000))


def _claim_round(inspection_ids: list[uuid.UUID]) -> list[Claim | None]:
    claims = inspections_claim(inspection_ids=inspection_ids)
    # pop: the same inspection twice in a round (a message delivered twice) is claimed once.
    return [claims.pop(inspection_id, None) for inspection_id in inspection_ids]


def run_inspection(inspection_id: uuid.UUID) -> Outcome:
    claim = _rounds.get().claims.call(inspection_id)
    if claim is None:
        # Not claimable: unknown, finished or owned by another worker, or due to end here.
        if inspection_expire_if_due(inspection_id=inspection_id):
            return Outcome.EXPIRED
        if inspection_fail_if_out_of_attempts(inspection_id=inspection_id):
            return Outcome.FAILED
        return Outcome.SKIPPED
    try:
        return _run_claimed(claim.inspection, claim.attempt)
    except BaseException:
        # Transient (database, storage, Redis) or unexpected: give the claim back and let
        # the task retry. Each try spends an attempt, so a poison image ends as failed.
        inspection_release(inspection_id=inspection_id, attempt=claim.attempt)
        raise


def _run_claimed(inspection: Inspection, attempt: int) -> Outcome:
    inspection_id = inspection.id
    spec = inspection.line.inspection_model
    if spec is None:
        inspection_fail(inspection_id=inspection_id, attempt=attempt, error_code=ErrorCode.NO_MODEL)
        return Outcome.FAILED

    timings = {"queued_ms": round((timezone.now() - inspection.queued_at).total_seconds() * 1000, 2)}
    try:
        loaded = engine.load_model(spec)
    except engine.ModelLoadError as exc:
        logger.error("Inspection %s: model %s unusable: %s", inspection_id, spec, exc)
        inspection_fail(inspection_id=inspection_id, attempt=attempt, error_code=exc.code)
        return Outcome.FAILED

    start = time.perf_counter()
    try:
        data = read_image(inspection.image_key)
    except FileNotFoundError:
        inspection_fail(inspection_id=inspection_id, attempt=attempt, error_code=ErrorCode.IMAGE_MISSING_IN_STORAGE)
        return Outcome.FAILED
    timings["fetch_ms"] = _ms(start)

    start = time.perf_counter()
    try:
        tensor = engine.preprocess(data, loaded)
    except Exception as exc:
        logger.warning("Inspection %s: image cannot be decoded: %s", inspection_id, exc)
        inspection_fail(inspection_id=inspection_id, attempt=attempt, error_code=ErrorCode.IMAGE_DECODE_FAILED)
        return Outcome.FAILED
    timings["preprocess_ms"] = _ms(start)

    answer = _forward(loaded, tensor)
    timings["batch_wait_ms"] = answer.waited_ms
    timings["model_ms"] = answer.run_ms
    timings["batch_size"] = answer.batch_size

    start = time.perf_counter()
    size = (inspection.width, inspection.height)
    if spec.task == TaskType.SEGMENTATION:
        judgement = judge_segmentation(spec, answer.value, size)
    elif spec.task == TaskType.DETECTION:
        judgement = judge_detection(spec, answer.value, size, loaded.input_size)
    else:
        judgement = judge_classification(spec, answer.value)
    timings["postprocess_ms"] = _ms(start)

    recorded = _rounds.get().records.call(Result(inspection, attempt, spec, judgement, timings))
    return Outcome.DONE if recorded else Outcome.SKIPPED
