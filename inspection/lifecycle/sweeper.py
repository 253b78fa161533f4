"""Sending inspections again: the outbox sweep for lost messages, and QA's requeue.

The Inspection row is its own outbox: a row that stays `queued` (its message was lost) or
`running` past the claim lease (its worker died) is sent again. A duplicate message is
harmless because claims are conditional.
"""

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inspection.constants import Status
from inspection.ingest.services import inspections_enqueue
from inspection.models import Inspection
from inspection.queues import inspection_queue
from lines.models import ProductionLine


def inspections_requeue_stale(*, limit: int = 1000) -> int:
    """Send again the inspections whose message may have been lost (the outbox sweep).

    Queued rows not picked up within KENSA_REQUEUE_AFTER_SECONDS (Redis lost the message, or
    was down at upload time), and running rows held past the claim lease (the worker died),
    get a new message. `queued_at` moves on, so a row is re-sent at most once per
    KENSA_REQUEUE_AFTER_SECONDS while it waits.
    """
    now = timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS)
    stale = list(
        Inspection.objects.unowned(now=now)
        .filter(queued_at__lt=queued_cutoff)
        .order_by("queued_at")
        .values_list("id", "line__priority")[:limit]
    )
    if not stale:
        return 0
    Inspection.objects.filter(id__in=[inspection_id for inspection_id, _ in stale]).update(queued_at=now)
    return len(stale) if _enqueue_alone(stale) else 0


def inspections_requeue(*, inspection_ids: Iterable[uuid.UUID]) -> int:
    """QA's second chance for failed or expired inspections: queue them again with a fresh
    deadline and a fresh budget of attempts. Finished ones with a verdict are left alone."""
    now = timezone.now()
    requeued: list[tuple[uuid.UUID, str]] = []
    with transaction.atomic():
        rows = Inspection.objects.select_for_update().filter(
            id__in=list(inspection_ids), status__in=[Status.FAILED, Status.EXPIRED]
        )
        deadlines = dict(ProductionLine.objects.values_list("id", "deadline_seconds"))
        for row in rows.select_related("line"):
            Inspection.objects.filter(id=row.id).update(
                status=Status.QUEUED,
                error_code="",
                finished_at=None,
                feed_position=None,  # it joins the feed again, at the end, once it finishes anew
                started_at=None,
                queued_at=now,
                deadline_at=now + timedelta(seconds=deadlines[row.line_id]),
                attempt_limit=row.attempts + settings.KENSA_MAX_ATTEMPTS,
            )
            requeued.append((row.id, row.line.priority))
        transaction.on_commit(lambda: _enqueue_alone(requeued))
    return len(requeued)


def _enqueue_alone(rows: list[tuple[uuid.UUID, str]]) -> bool:
    """Send each inspection, (id, line priority), in a message of its own, all in one round
    trip. What is sent again may be what killed its worker: alone, a poison image spends only
    its own attempts, not those of a group's other images."""
    return inspections_enqueue(
        [(inspection_id, inspection_queue(priority)) for inspection_id, priority in rows], group_size=1
    )
