"""Celery tasks. They take ids, never rows or bytes, and call services; torch stays out of
this module so that the web process can import it to send tasks."""

import uuid

from celery import shared_task


@shared_task(name="inspection.tasks.inspect_image", acks_late=True, reject_on_worker_lost=True)
def inspect_image(inspection_id: str) -> str:
    from inspection.worker import run_inspection

    return str(run_inspection(uuid.UUID(inspection_id)))


@shared_task(name="inspection.tasks.sweep_inspections")
def sweep_inspections() -> dict[str, int]:
    """Expire what is past its deadline, then re-send what may have lost its message."""
    from inspection.services import inspections_expire, inspections_requeue_stale

    return {"expired": inspections_expire(), "requeued": inspections_requeue_stale()}
