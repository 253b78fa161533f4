"""Celery tasks. They take ids, never rows or bytes, and call services; torch stays out of
this module so that the web process can import it to send tasks."""

import logging
import uuid

from celery import Task, shared_task
from django.db import close_old_connections

logger = logging.getLogger(__name__)

# Retries back off 1, 2, 4 … 60 s. Past the last one the message is dropped, but not the
# inspection: its row stays queued or running, and the sweeper sends it again.
MAX_RETRIES = 10
MAX_BACKOFF_SECONDS = 60


@shared_task(bind=True, name="inspection.tasks.inspect_image", acks_late=True, reject_on_worker_lost=True)
def inspect_image(self: Task, inspection_id: str) -> str:
    from inspection.worker import run_inspection

    try:
        return str(run_inspection(uuid.UUID(inspection_id)))
    except Exception as exc:
        # A dropped database connection (failover, pg_terminate_backend) must not poison
        # the next try: close what is unusable so Django reconnects.
        close_old_connections()
        countdown = min(MAX_BACKOFF_SECONDS, 2**self.request.retries)
        logger.warning("Inspection %s: %r; retrying in %s s", inspection_id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES) from exc


@shared_task(name="inspection.tasks.expire_uploads")
def expire_uploads() -> int:
    """Delete resumable uploads abandoned past KENSA_UPLOAD_EXPIRY_SECONDS."""
    from inspection.resumable import uploads_expire

    return uploads_expire()


@shared_task(name="inspection.tasks.sweep_inspections")
def sweep_inspections() -> dict[str, int]:
    """Expire what is past its deadline, then re-send what may have lost its message."""
    from inspection.lifecycle import inspections_expire, inspections_requeue_stale

    return {"expired": inspections_expire(), "requeued": inspections_requeue_stale()}
