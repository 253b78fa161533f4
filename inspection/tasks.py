"""Celery tasks. They take ids, never rows or bytes, and call services; torch stays out of
this module so that the web process can import it to send tasks."""

import logging
import uuid
from collections import Counter

from celery import Task, shared_task
from django.db import close_old_connections

from inspection.inference.admission import queue_rank
from inspection.queues import inspection_queue

logger = logging.getLogger(__name__)

# Retries back off 1, 2, 4 … 60 s. Past the last one the message is dropped, but not the
# inspection: its row stays queued or running, and the sweeper sends it again.
MAX_RETRIES = 10
MAX_BACKOFF_SECONDS = 60
DEFAULT_INSPECTION_QUEUE = inspection_queue("normal")


@shared_task(bind=True, name="inspection.tasks.inspect_images", acks_late=True, reject_on_worker_lost=True)
def inspect_images(self: Task, inspection_ids: list[str]) -> dict[str, int]:
    """Inspect a group of images accepted together (one door commit, up to
    KENSA_TASK_GROUP_SIZE): one message to reserve and ack instead of one per image, and one
    claim round. A member that fails transiently is sent again alone, so an image that keeps
    failing spends only its own attempts; a group that comes back whole (a retry, or a
    redelivery after its worker died) is split into one message per image for the same reason."""
    return _inspect(self, [uuid.UUID(value) for value in inspection_ids])


@shared_task(bind=True, name="inspection.tasks.inspect_image", acks_late=True, reject_on_worker_lost=True)
def inspect_image(self: Task, inspection_id: str) -> dict[str, int]:
    """One image: the message of an earlier release, still read so that none queued across
    an upgrade is lost."""
    return _inspect(self, [uuid.UUID(inspection_id)])


def _inspect(task: Task, inspection_ids: list[uuid.UUID]) -> dict[str, int]:
    from inspection.inference.worker import run_inspections

    request = task.request
    if len(inspection_ids) > 1 and (request.retries or (request.delivery_info or {}).get("redelivered")):
        _send_alone(task, inspection_ids, countdown=0)
        return {"split": len(inspection_ids)}
    report = run_inspections(inspection_ids, rank=queue_rank(_queue_of(task)))
    if report.errors:
        # A dropped database connection (failover, pg_terminate_backend) must not poison
        # the next try: close what is unusable so Django reconnects.
        close_old_connections()
        countdown = min(MAX_BACKOFF_SECONDS, 2**request.retries)
        for inspection_id, exc in report.errors.items():
            logger.warning("Inspection %s: %r; retrying in %s s", inspection_id, exc, countdown)
        first_error = next(iter(report.errors.values()))
        if len(inspection_ids) == 1:
            raise task.retry(exc=first_error, countdown=countdown, max_retries=MAX_RETRIES) from first_error
        try:
            _send_alone(task, list(report.errors), countdown=countdown)
        except Exception as exc:
            # The broker is away too: the group comes back whole after the backoff, and splits.
            raise task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from exc
    summary = Counter(str(outcome) for outcome in report.outcomes.values())
    summary["retried"] = len(report.errors)
    return dict(summary)


def _queue_of(task: Task) -> str:
    """The queue the message came from (its line's priority)."""
    # A message taken from Redis names its queue; one run in place (eagerly) does not.
    return (task.request.delivery_info or {}).get("routing_key") or DEFAULT_INSPECTION_QUEUE


def _send_alone(task: Task, inspection_ids: list[uuid.UUID], *, countdown: float) -> None:
    """One message per inspection, to the queue the group came from (its line's priority)."""
    queue = _queue_of(task)
    for inspection_id in inspection_ids:
        inspect_images.apply_async(args=([str(inspection_id)],), queue=queue, countdown=countdown)


@shared_task(name="inspection.tasks.expire_uploads")
def expire_uploads() -> int:
    """Delete resumable uploads abandoned past KENSA_UPLOAD_EXPIRY_SECONDS."""
    from inspection.ingest.resumable import uploads_expire

    return uploads_expire()


@shared_task(name="inspection.tasks.sweep_inspections")
def sweep_inspections() -> dict[str, int]:
    """Expire what is past its deadline, then re-send what may have lost its message."""
    from inspection.lifecycle.finish import inspections_expire
    from inspection.lifecycle.sweeper import inspections_requeue_stale

    return {"expired": inspections_expire(), "requeued": inspections_requeue_stale()}
