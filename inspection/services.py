"""Writes on inspections: accept an upload, claim it for a worker, fail, expire, re-send."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import status

from config.errors import ApiError
from config.queues import inspection_queue
from inspection import storage
from inspection.constants import ErrorCode, Status
from inspection.imaging import validate_image
from inspection.models import Inspection
from lines.models import ProductionLine, Station
from results.live import publish_inspection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An image as it arrived, before anything is stored."""

    stream: IO[bytes]
    size: int
    serial: str
    captured_at: datetime | None


def inspection_create(*, station: Station, upload: Upload) -> Inspection:
    """Validate, store and record an image, and queue it once the row is committed.

    Nothing is stored for a refused image; if the row cannot be written the stored image is
    removed again, so storage never holds an image the database does not know.
    """
    line = station.line
    _check_line_accepts(line)
    info = validate_image(
        upload.stream,
        size=upload.size,
        max_bytes=settings.KENSA_MAX_IMAGE_BYTES,
        max_pixels=settings.KENSA_MAX_IMAGE_PIXELS,
    )
    inspection_id = uuid.uuid4()
    received_at = timezone.now()
    key = storage.image_key(
        line_code=line.code, inspection_id=inspection_id, received_at=received_at, extension=info.extension
    )
    digest = storage.sha256_of(upload.stream)
    stored_key = storage.store_image(key, upload.stream)
    try:
        with transaction.atomic():
            inspection = Inspection.objects.create(
                id=inspection_id,
                line=line,
                station=station,
                serial=upload.serial,
                image_key=stored_key,
                image_sha256=digest,
                image_bytes=upload.size,
                image_format=info.format,
                width=info.width,
                height=info.height,
                captured_at=upload.captured_at,
                received_at=received_at,
                queued_at=received_at,
            )
            transaction.on_commit(lambda: inspection_enqueue(inspection_id=inspection_id, priority=line.priority))
    except BaseException:
        storage.delete_image(stored_key)
        raise
    return inspection


def _check_line_accepts(line: ProductionLine) -> None:
    if not line.active:
        raise ApiError("line_inactive", f"Line {line.code} is not active.", status.HTTP_409_CONFLICT)
    if line.inspection_model_id is None:
        raise ApiError(
            "line_has_no_model",
            f"Line {line.code} has no inspection model; assign one before sending images.",
            status.HTTP_409_CONFLICT,
        )


def inspection_enqueue(*, inspection_id: uuid.UUID, priority: str) -> bool:
    """Send the inspection's task. A failure is logged, not raised: the row is committed and
    the sweeper sends it again, so an accepted image is never lost to a broker outage."""
    from inspection.tasks import inspect_image

    try:
        inspect_image.apply_async(args=(str(inspection_id),), queue=inspection_queue(priority))
    except Exception:
        logger.exception("Could not queue inspection %s; the sweeper will send it again", inspection_id)
        return False
    return True


def inspection_claim(*, inspection_id: uuid.UUID) -> int | None:
    """Claim an inspection for this worker and return the attempt number, or None.

    The claim is a conditional UPDATE: a queued inspection, or a running one whose worker
    has held it past the lease (it died), is taken; anything else is left alone, so a
    redelivered message for a finished inspection does nothing.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)
    with transaction.atomic():
        claimed = Inspection.objects.filter(
            Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale), id=inspection_id
        ).update(status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1)
        if not claimed:
            return None
        attempt: int = Inspection.objects.values_list("attempts", flat=True).get(id=inspection_id)
        return attempt


def inspection_fail(*, inspection_id: uuid.UUID, attempt: int, error_code: str) -> bool:
    """Mark the inspection failed, if this attempt still owns it, and tell the dashboards."""
    failed = Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt).update(
        status=Status.FAILED, error_code=error_code, finished_at=timezone.now()
    )
    if failed:
        publish_inspection(inspection_id=inspection_id)
    return bool(failed)


def inspection_expire(*, inspection_id: uuid.UUID) -> bool:
    """Mark one unfinished inspection expired (its line's deadline has passed)."""
    expired = Inspection.objects.filter(id=inspection_id, status__in=[Status.QUEUED, Status.RUNNING]).update(
        status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED, finished_at=timezone.now()
    )
    if expired:
        publish_inspection(inspection_id=inspection_id)
    return bool(expired)


def inspections_expire(*, now: datetime | None = None) -> int:
    """Mark expired every unfinished inspection older than its line's deadline."""
    now = now or timezone.now()
    expired = 0
    for line_id, deadline_seconds in ProductionLine.objects.values_list("id", "deadline_seconds"):
        cutoff = now - timedelta(seconds=deadline_seconds)
        expired += Inspection.objects.filter(
            line_id=line_id, status__in=[Status.QUEUED, Status.RUNNING], received_at__lt=cutoff
        ).update(status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED, finished_at=now)
    return expired


def inspection_is_past_deadline(inspection: Inspection, *, now: datetime) -> bool:
    return inspection.received_at + timedelta(seconds=inspection.line.deadline_seconds) < now


def inspections_requeue_stale(*, limit: int = 500) -> int:
    """Send again the inspections whose message may have been lost (the outbox sweep).

    Queued rows not picked up within KENSA_REQUEUE_AFTER_SECONDS, and running rows whose
    worker held them past the claim lease, get a new message; `queued_at` moves on so the
    same row is not re-sent at every sweep. A duplicate message is harmless: claims are
    conditional.
    """
    now = timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS)
    lease_cutoff = now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)
    stale = list(
        Inspection.objects.filter(
            Q(status=Status.QUEUED, queued_at__lt=queued_cutoff) | Q(status=Status.RUNNING, started_at__lt=lease_cutoff)
        )
        .order_by("queued_at")
        .values_list("id", "line__priority")[:limit]
    )
    sent = 0
    for inspection_id, priority in stale:
        Inspection.objects.filter(id=inspection_id).update(queued_at=now)
        sent += inspection_enqueue(inspection_id=inspection_id, priority=priority)
    return sent
