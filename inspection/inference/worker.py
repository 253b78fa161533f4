"""What a worker does with a message's inspections: claim them, run the line's model, record
the results.

Every write is conditional on the claim (`attempts`), so a message delivered twice, or a
worker that outlived its lease, cannot record a second result. An error after the claim
releases it and goes back to the task, which retries with backoff; an inspection whose
attempts are spent is failed as poison instead of claimed again.
"""

import logging
import time
import uuid
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.utils import timezone

from inspection.constants import ErrorCode, TaskType
from inspection.inference import engine, metrics
from inspection.inference.admission import DEFAULT_RANK, PriorityAllowance, priority_rank
from inspection.inference.batching import Batcher, BatchResult, Combiner, Expired
from inspection.inference.scheduling import Urgency
from inspection.inference.verdicts import judge_classification, judge_detection, judge_segmentation
from inspection.ingest.storage import read_image
from inspection.lifecycle.claims import Claim, inspection_release, inspections_claim
from inspection.lifecycle.finish import (
    inspection_expire_claimed,
    inspection_expire_if_due,
    inspection_fail,
    inspection_fail_if_out_of_attempts,
)
from inspection.lifecycle.results import Result, inspections_record_results
from inspection.models import InspectionModel
from inspection.per_process import PerProcess

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # unknown, already finished, or owned by another worker


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def _forward(loaded: engine.LoadedModel, tensor: Any, urgency: Urgency) -> "Future[BatchResult]":
    """The model's answer for one preprocessed image, from a forward pass shared with the
    other inspections this process has in hand for the same model (see batching.py), taken
    in the order of `urgency` (see scheduling.py)."""
    if settings.KENSA_BATCH_SIZE == 1:
        # Inline, as a one-image worker has no batch to wait for.
        answer: Future[BatchResult] = Future()
        if urgency.deadline < time.time():
            answer.set_exception(Expired())
            return answer
        start = time.perf_counter()
        [value] = engine.infer(loaded, [tensor])
        _observe_forward(1, time.perf_counter() - start)
        answer.set_result(BatchResult(value, batch_size=1, waited_ms=0.0, run_ms=_ms(start)))
        return answer
    return _batcher.get().submit(loaded.sha256, (loaded, tensor), urgency)


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
    start = time.perf_counter()
    values = engine.infer(loaded, [tensor for _, tensor in items])
    _observe_forward(len(items), time.perf_counter() - start)
    return values


def _observe_forward(size: int, seconds: float) -> None:
    metrics.BATCH_SIZE.observe(size)
    metrics.FORWARD_SECONDS.observe(seconds)


class _Rounds:
    """This process's shared database rounds: the inspections that reach a step while the
    previous round of it runs claim together, or record together (see batching.Combiner).

    And how many images the process works on at once. Its threads each hold a message, and a
    message may carry a group: 32 threads with groups of 16 had 512 images decoding and
    queueing for the GIL at once, and did fewer images/s than 4 threads with the same groups.
    Past the allowance a thread waits, before its claim, until images in hand are done; the
    most urgent waiter goes first, and each priority leaves a reserve to those above it
    (admission.py), so a flood of low-line images cannot hold a critical one outside."""

    def __init__(self, max_size: int, linger_seconds: float, images_in_flight: int, reserve: int):
        self.in_flight = PriorityAllowance(images_in_flight, reserve=reserve)
        self.claims = Combiner(_claim_round, max_size=max_size, linger_seconds=linger_seconds)
        self.records = Combiner(inspections_record_results, max_size=max_size, linger_seconds=linger_seconds)


_rounds = PerProcess(
    lambda: _Rounds(
        settings.KENSA_BATCH_SIZE,
        settings.KENSA_BATCH_WAIT_MS / 1000,
        settings.KENSA_IMAGES_IN_FLIGHT,
        settings.KENSA_PRIORITY_RESERVE_IMAGES,
    )
)


def _claim_round(inspection_ids: list[uuid.UUID]) -> list[Claim | None]:
    claims = inspections_claim(inspection_ids=inspection_ids)
    # pop: the same inspection twice in a round (a message delivered twice) is claimed once.
    return [claims.pop(inspection_id, None) for inspection_id in inspection_ids]


@dataclass
class Report:
    """What became of a message's inspections. Those in `errors` met a transient or
    unexpected error after their claim, which was given back: the task sends them again."""

    outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict)
    errors: dict[uuid.UUID, Exception] = field(default_factory=dict)


@dataclass
class _InFlight:
    """A claimed inspection with its image decoded, then handed to the batcher."""

    claim: Claim
    spec: InspectionModel
    loaded: engine.LoadedModel
    timings: dict[str, float]
    tensor: Any
    arrived: float  # time.time() when the message reached this thread
    answer: "Future[BatchResult] | None" = None
    submitted: float = 0.0  # time.time() when it was handed to the batcher

    @property
    def labels(self) -> tuple[str, str]:
        line = self.claim.inspection.line
        return line.code, line.priority

    def urgency(self) -> Urgency:
        inspection, line = self.claim.inspection, self.claim.inspection.line
        target = line.latency_target_ms
        return Urgency(
            rank=priority_rank(line.priority),
            deadline=inspection.deadline_at.timestamp(),
            due=None if target is None else inspection.received_at.timestamp() + target / 1000,
        )


def run_inspections(inspection_ids: list[uuid.UUID], *, rank: int = DEFAULT_RANK) -> Report:
    """A message's inspections: claimed in one round, their images decoded here and handed to
    the batcher together, their results written in one round. One member's error does not
    stop the others; it releases that member's claim and is reported for the task to retry.
    `rank` is the priority of the queue the message came from (admission.queue_rank): it
    orders the wait for an allowance, before the claim tells the line."""
    inspection_ids = list(dict.fromkeys(inspection_ids))  # a message naming one twice runs it once
    arrived = time.time()
    with _rounds.get().in_flight.taken(len(inspection_ids), rank=rank):
        return _run_inspections(inspection_ids, arrived)


def _run_inspections(inspection_ids: list[uuid.UUID], arrived: float) -> Report:
    report = Report()
    claimed: list[Claim] = []
    for inspection_id, claim in zip(inspection_ids, _rounds.get().claims.call_many(inspection_ids), strict=True):
        if claim is None:
            report.outcomes[inspection_id] = _unclaimed(inspection_id)
        else:
            claimed.append(claim)
    try:
        _run_claimed(claimed, report, arrived)
    except BaseException:
        # Not an error of one image (a shutdown, or the database gone mid-round): give back
        # every claim still open, so a retry can take them at once instead of after the lease.
        for claim in claimed:
            if claim.inspection.id not in report.outcomes and claim.inspection.id not in report.errors:
                inspection_release(inspection_id=claim.inspection.id, attempt=claim.attempt)
        raise
    return report


def _unclaimed(inspection_id: uuid.UUID) -> Outcome:
    """Not claimable: unknown, finished or owned by another worker, or due to end here."""
    if inspection_expire_if_due(inspection_id=inspection_id):
        return Outcome.EXPIRED
    if inspection_fail_if_out_of_attempts(inspection_id=inspection_id):
        return Outcome.FAILED
    return Outcome.SKIPPED


def _run_claimed(claims: list[Claim], report: Report, arrived: float) -> None:
    in_flight: list[_InFlight] = []
    for claim in claims:
        try:
            started = _start(claim, arrived)
        except Exception as exc:
            _give_back(claim, exc, report)
            continue
        if isinstance(started, _InFlight):
            in_flight.append(started)
        else:
            report.outcomes[claim.inspection.id] = started
    # The group's images go to the batcher together, once all are decoded: they fill a batch
    # at once instead of trickling in a decode apart, each batch waiting out the linger.
    submitted: list[_InFlight] = []
    for step in in_flight:
        try:
            step.submitted = time.time()
            step.answer = _forward(step.loaded, step.tensor, step.urgency())
        except Exception as exc:
            _give_back(step.claim, exc, report)
            continue
        finally:
            step.tensor = None  # the batcher holds it now; a failed one is not needed
        submitted.append(step)

    results: list[Result] = []
    for step in submitted:
        try:
            results.append(_judged(step))
        except Expired:
            report.outcomes[step.claim.inspection.id] = _expired(step)
        except Exception as exc:
            _give_back(step.claim, exc, report)
    try:
        recorded = _rounds.get().records.call_many(results)
    except Exception as exc:
        for result in results:
            _give_back(Claim(result.inspection, result.attempt), exc, report)
        return
    for result, written in zip(results, recorded, strict=True):
        report.outcomes[result.inspection.id] = Outcome.DONE if written else Outcome.SKIPPED


def _give_back(claim: Claim, exc: Exception, report: Report) -> None:
    # Transient (database, storage, Redis) or unexpected: release the claim and let the task
    # send it again. Each try spends an attempt, so a poison image ends as failed.
    inspection_release(inspection_id=claim.inspection.id, attempt=claim.attempt)
    report.errors[claim.inspection.id] = exc


def _expired(step: _InFlight) -> Outcome:
    """The batcher found the image unable to meet its deadline and did not run it: end it as
    the sweeper would have, if this claim still owns it."""
    claim = step.claim
    if inspection_expire_claimed(inspection_id=claim.inspection.id, attempt=claim.attempt):
        metrics.EXPIRED.labels(*step.labels).inc()
        return Outcome.EXPIRED
    return Outcome.SKIPPED


def _start(claim: Claim, arrived: float) -> "Outcome | _InFlight":
    """Load the model, fetch and decode the image; or fail the inspection for a reason that no
    retry would change."""
    inspection, attempt = claim.inspection, claim.attempt
    inspection_id = inspection.id
    spec = inspection.line.inspection_model
    if spec is None:
        inspection_fail(inspection_id=inspection_id, attempt=attempt, error_code=ErrorCode.NO_MODEL)
        return Outcome.FAILED

    timings = {"queued_ms": round((timezone.now() - inspection.queued_at).total_seconds() * 1000, 2)}
    line = inspection.line
    metrics.QUEUE_WAIT_SECONDS.labels(line.code, line.priority).observe(
        max(0.0, arrived - inspection.queued_at.timestamp())
    )
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
    return _InFlight(claim, spec, loaded, timings, tensor, arrived)


def _judged(step: _InFlight) -> Result:
    """Wait for the model's answer and turn it into a verdict and defects."""
    assert step.answer is not None, "judged before it was handed to the batcher"
    answer = step.answer.result()
    inspection, spec, timings = step.claim.inspection, step.spec, step.timings
    timings["batch_wait_ms"] = answer.waited_ms
    timings["model_ms"] = answer.run_ms
    timings["batch_size"] = answer.batch_size
    forward_started = step.submitted + answer.waited_ms / 1000
    metrics.WORKER_WAIT_SECONDS.labels(*step.labels).observe(max(0.0, forward_started - step.arrived))

    start = time.perf_counter()
    size = (inspection.width, inspection.height)
    if spec.task == TaskType.SEGMENTATION:
        judgement = judge_segmentation(spec, answer.value, size)
    elif spec.task == TaskType.DETECTION:
        judgement = judge_detection(spec, answer.value, size, step.loaded.input_size)
    else:
        judgement = judge_classification(spec, answer.value)
    timings["postprocess_ms"] = _ms(start)
    return Result(inspection, step.claim.attempt, spec, judgement, timings)
