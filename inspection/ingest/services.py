"""Writes on inspections at the door: accept an upload and send its task."""

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, transaction
from django.utils import timezone

from inspection import rows
from inspection.errors import KensaError
from inspection.ingest import backlog, storage
from inspection.ingest.dispatch import send_inspections
from inspection.ingest.imaging import check_image_size, validate_image
from inspection.ingest.metrics import (
    GROUP_COMMIT_INSERT,
    GROUP_COMMIT_PUSH,
    GROUP_COMMIT_SYNC,
    GROUP_COMMIT_UPLOADS,
    UPLOADS_SHED,
)
from inspection.models import Inspection
from inspection.queues import inspection_queue
from lines.models import ProductionLine, Station

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """An image as it arrived, before anything is stored."""

    stream: IO[bytes]
    size: int
    serial: str
    captured_at: datetime | None
    idempotency_key: str = ""
    declared_format: str | None = None  # from the Content-Type, when it names one


@dataclass(frozen=True)
class Accepted:
    inspection: Inspection
    replayed: bool  # True when an earlier upload with the same Idempotency-Key is returned


def inspection_create(*, station: Station, upload: Upload) -> Accepted:
    """Validate, store and record an image, and queue it once the row is committed.

    Nothing is stored for a refused image; if the row cannot be written the stored image is
    removed again, so storage never holds an image the database does not know. A retry with
    the Idempotency-Key of an accepted upload gets that upload back, also when both race:
    the database's unique constraint picks the one that is kept.

    The ingest server's door (inspection/ingest/door.py) takes the same steps on its event loop.
    """
    line = station.line
    check_image_size(upload.size, max_bytes=settings.KENSA_MAX_IMAGE_BYTES)
    digest = storage.sha256_of(upload.stream)
    if upload.idempotency_key and (previous := previous_upload(station, upload, digest)):
        return Accepted(previous, replayed=True)
    check_line_accepts(line, backlog_full=backlog.gauge.get().full(line))
    inspection = inspection_stored(station, upload, digest)
    try:
        storage.images_durable([inspection.image_key])
        # One INSERT, committed by itself: BEGIN and COMMIT round trips cost as much CPU as
        # the INSERT. Inside a caller's transaction, a savepoint keeps an IntegrityError
        # (a racing retry) from breaking that transaction.
        with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
            rows.insert(inspection)  # Inspection.objects.create without its per-call SQL compile
    except IntegrityError:
        storage.delete_image(inspection.image_key)
        return replay_after_clash(station, upload, digest)
    except BaseException:
        storage.delete_image(inspection.image_key)
        raise
    # At once in autocommit; at the caller's commit inside its transaction.
    transaction.on_commit(lambda: inspection_enqueue(inspection_id=inspection.id, priority=line.priority))
    return Accepted(inspection, replayed=False)


def inspection_stored(station: Station, upload: Upload, digest: str) -> Inspection:
    """Validate the image, store it under a key of Kensa's choosing, and return its row, not
    yet saved. Raises KensaError for a refused image, having stored nothing."""
    line = station.line
    info = validate_image(
        upload.stream,
        size=upload.size,
        max_bytes=settings.KENSA_MAX_IMAGE_BYTES,
        max_pixels=settings.KENSA_MAX_IMAGE_PIXELS,
        declared_format=upload.declared_format,
    )
    inspection_id = uuid.uuid4()
    received_at = timezone.now()
    key = storage.image_key(
        line_code=line.code, inspection_id=inspection_id, received_at=received_at, extension=info.extension
    )
    return Inspection(
        id=inspection_id,
        line=line,
        station=station,
        serial=upload.serial,
        image_key=storage.store_image(key, upload.stream),
        image_sha256=digest,
        image_bytes=upload.size,
        image_format=info.format,
        width=info.width,
        height=info.height,
        captured_at=upload.captured_at,
        received_at=received_at,
        queued_at=received_at,
        deadline_at=received_at + timedelta(seconds=line.deadline_seconds),
        attempt_limit=settings.KENSA_MAX_ATTEMPTS,
        idempotency_key=upload.idempotency_key,
    )


def replay_after_clash(station: Station, upload: Upload, digest: str) -> Accepted:
    """The row clashed with one already there: a concurrent retry with the same
    Idempotency-Key won the race, so return its inspection. Re-raises IntegrityError when the
    clash was anything else."""
    previous = previous_upload(station, upload, digest) if upload.idempotency_key else None
    if previous is None:
        raise IntegrityError("the new inspection's row clashed with an existing one")
    return Accepted(previous, replayed=True)


def inspections_record_group(inspections: list[Inspection]) -> list[BaseException | None]:
    """Commit new rows with one statement (inspection/rows.py), then send their tasks in one round
    trip: the write of the door's group commit (inspection/ingest/door.py). One outcome per row:
    None, or the error that row's upload gets. A row that clashes (a retry racing its original)
    does not refuse the rest of its group: then each row is inserted again, committed alone.
    Each step's time goes to kensa_ingest_commit_seconds, failed ones included."""
    GROUP_COMMIT_UPLOADS.observe(len(inspections))
    with GROUP_COMMIT_SYNC.time():
        storage.images_durable([inspection.image_key for inspection in inspections])
    close_old_connections()  # as at a request's start: past CONN_MAX_AGE or broken, reconnect
    try:
        with GROUP_COMMIT_INSERT.time():
            try:
                rows.insert_many(inspections)  # one statement: all rows or none, in autocommit
                outcomes: list[BaseException | None] = [None] * len(inspections)
            except IntegrityError:
                outcomes = [_insert_alone(inspection) for inspection in inspections]
    finally:
        close_old_connections()
    tasks = [
        (inspection.id, inspection_queue(inspection.line.priority))
        for inspection, outcome in zip(inspections, outcomes, strict=True)
        if outcome is None
    ]
    if tasks:
        with GROUP_COMMIT_PUSH.time():
            inspections_enqueue(tasks)
    return outcomes


def _insert_alone(inspection: Inspection) -> BaseException | None:
    try:
        rows.insert(inspection)
    except DatabaseError as exc:
        return exc
    return None


def previous_upload(station: Station, upload: Upload, digest: str) -> Inspection | None:
    """The station's earlier inspection with this upload's Idempotency-Key, if any; raises
    idempotency_key_reused when that one was of a different image."""
    previous = Inspection.objects.filter(station=station, idempotency_key=upload.idempotency_key).first()
    if previous is not None and previous.image_sha256 != digest:
        raise KensaError(
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different image; use a new key for a new image.",
        )
    return previous


def check_line_accepts(line: ProductionLine, *, backlog_full: bool) -> None:
    if not line.active:
        raise KensaError("line_inactive", f"Line {line.code} is not active.")
    if line.inspection_model_id is None:
        raise KensaError(
            "line_has_no_model", f"Line {line.code} has no inspection model; assign one before sending images."
        )
    if backlog_full:
        # Shed load at the door: an image accepted now would only wait past its deadline.
        UPLOADS_SHED.labels(line=line.code).inc()
        raise KensaError(
            "line_backlog_full", f"Line {line.code} has {line.queue_limit} or more images waiting; retry shortly."
        )


def inspection_enqueue(*, inspection_id: uuid.UUID, priority: str) -> bool:
    """Send the inspection's task. A failure is logged, not raised: the row is committed and
    the sweeper sends it again, so an accepted image is never lost to a broker outage."""
    return inspections_enqueue([(inspection_id, inspection_queue(priority))])


def inspections_enqueue(tasks: list[tuple[uuid.UUID, str]], *, group_size: int | None = None) -> bool:
    """Send many inspections' tasks, (id, queue) each, in one round trip, in messages of up to
    `group_size` (KENSA_TASK_GROUP_SIZE by default); as inspection_enqueue."""
    try:
        # No publish retries: the request must not hang on a broker outage, and the rows
        # (committed already) are the outbox the sweeper reads.
        send_inspections(tasks, group_size=group_size)
    except Exception:
        logger.exception("Could not queue %d inspections; the sweeper will send them again", len(tasks))
        return False
    return True
