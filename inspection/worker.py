"""What a worker does with one inspection: claim it, run the line's model, record the result.

Every write is conditional on the claim (`attempts`), so a message delivered twice, or a
worker that outlived its lease, cannot record a second result.
"""

import logging
import time
import uuid
from enum import StrEnum

from django.utils import timezone

from inspection import engine
from inspection.constants import TERMINAL_STATUSES, ErrorCode
from inspection.models import Inspection
from inspection.services import inspection_claim, inspection_expire, inspection_fail, inspection_is_past_deadline
from inspection.verdicts import judge_classification
from results.services import inspection_record_result

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # unknown, already finished, or claimed by another worker


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def run_inspection(inspection_id: uuid.UUID) -> Outcome:
    inspection = Inspection.objects.select_related("line__inspection_model").filter(id=inspection_id).first()
    if inspection is None or inspection.status in TERMINAL_STATUSES:
        return Outcome.SKIPPED
    if inspection_is_past_deadline(inspection, now=timezone.now()):
        return Outcome.EXPIRED if inspection_expire(inspection_id=inspection_id) else Outcome.SKIPPED
    attempt = inspection_claim(inspection_id=inspection_id)
    if attempt is None:
        return Outcome.SKIPPED
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
        data = engine.load_image(inspection.image_key)
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

    start = time.perf_counter()
    probabilities = engine.classify(loaded, tensor.unsqueeze(0))[0]
    timings["model_ms"] = _ms(start)

    start = time.perf_counter()
    judgement = judge_classification(spec, probabilities)
    timings["postprocess_ms"] = _ms(start)

    recorded = inspection_record_result(
        inspection_id=inspection_id, attempt=attempt, model=spec, judgement=judgement, timings=timings
    )
    return Outcome.DONE if recorded else Outcome.SKIPPED
