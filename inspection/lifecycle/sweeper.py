"""Sending inspections again: the outbox sweep for lost messages, and QA's requeue.

The Inspection row is its own outbox: a row that stays `queued` (its message was lost) or
`running` past the claim lease (its worker died) is sent again, once the broker is seen not to
hold its message any more (inspection/lifecycle/inventory.py). A duplicate message is harmless
because claims are conditional, but under a backlog longer than KENSA_REQUEUE_AFTER_SECONDS a
re-send at every sweep would pile duplicates into the queues that the workers must then read.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inspection.constants import Status
from inspection.ingest.services import inspections_enqueue
from inspection.lifecycle.inventory import inspections_held
from inspection.models import Inspection
from inspection.queues import inspection_queue
from lines.models import ProductionLine

logger = logging.getLogger(__name__)


def inspections_requeue_stale(*, limit: int = 1000) -> int:
    """Send again the inspections whose message the broker has lost (the outbox sweep); the
    answer is how many were sent.

    Candidates are the unowned rows not picked up within KENSA_REQUEUE_AFTER_SECONDS: `queued`
    ones (Redis lost the message, or was down at upload time) and `running` ones held past the
    claim lease (their worker died). Each is sent again only if Redis holds no message for it:
    - a `queued` row's message may wait in its queue, or be reserved by a worker that has not
      claimed it yet (taken, or held for a retry's countdown): either will reach a worker;
    - a `running` row past its lease was claimed by a worker presumed dead, whose message sits
      in the unacked hash until the visibility timeout, longer than the lease: it is sent again
      unless a message for it already waits in a queue (sent by an earlier sweep).
    The check reads Redis itself, so a Redis that restarted empty shows every message lost, and
    nothing that still waits is sent twice however long the backlog. Checked rows' `queued_at`
    moves on, sent or not, so a row is checked at most once per KENSA_REQUEUE_AFTER_SECONDS and
    the oldest `limit` rows never hide the rows behind them. With Redis unreachable nothing is
    moved, and the next sweep checks again.
    """
    now = timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS)
    stale = list(
        Inspection.objects.unowned(now=now)
        .filter(queued_at__lt=queued_cutoff)
        .order_by("queued_at")
        .values_list("id", "line__priority", "status")[:limit]
    )
    if not stale:
        return 0
    try:
        held = inspections_held()
    except redis.RedisError:
        logger.warning("Could not read the broker's queues; %d stale inspections wait for the next sweep", len(stale))
        return 0
    lost = [
        (inspection_id, priority)
        for inspection_id, priority, status in stale
        if inspection_id not in held.waiting and (status == Status.RUNNING or inspection_id not in held.reserved)
    ]
    _checked(inspection_ids=[inspection_id for inspection_id, _, _ in stale], now=now)
    return len(lost) if lost and _enqueue_alone(lost) else 0


def _checked(*, inspection_ids: list[uuid.UUID], now: datetime) -> None:
    """Move the checked rows' `queued_at` on. Under a flood longer than the re-send age the
    rows checked are the ones workers are claiming: an UPDATE of hundreds of them in no order
    deadlocked with a claim round (which locks in id order), and the round's messages failed.
    So the rows are locked in id order too, and a row locked now is skipped: a worker is
    claiming it, and its `queued_at` no longer matters."""
    with transaction.atomic():
        free = list(
            Inspection.objects.select_for_update(skip_locked=True)
            .filter(id__in=inspection_ids)
            .order_by("id")
            .values_list("id", flat=True)
        )
        Inspection.objects.filter(id__in=free).update(queued_at=now)


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
