"""An inspection's state changes after it was accepted: claim, release, fail, expire, re-send.

Every change is conditional on the status (and on the attempt that owns the row): an UPDATE
whose WHERE says so, or, for a round of claims, rows read under a lock with that condition
and then updated. So two workers, a worker and the sweeper, or a message delivered twice can never both act:
each inspection ends in exactly one terminal state with exactly one set of results.
"""

import functools
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from config.queues import inspection_queue
from config.rows import returned_instances
from inspection.constants import ErrorCode, Status
from inspection.models import Inspection
from inspection.services import inspections_enqueue
from lines.models import ProductionLine, Station
from results.live import publish_inspections

logger = logging.getLogger(__name__)


def _claimable(inspection_id: uuid.UUID) -> QuerySet[Inspection]:
    """The row, if no live worker owns it: queued, or running past the claim lease (the
    worker that claimed it died or hung)."""
    stale = timezone.now() - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)
    return Inspection.objects.filter(
        Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale), id=inspection_id
    )


def _finish_unowned(queryset: QuerySet[Inspection], status: str, error_code: str, inspection_id: uuid.UUID) -> bool:
    finished = queryset.update(status=status, error_code=error_code, finished_at=timezone.now())
    if finished:
        publish_inspections(inspection_ids=[inspection_id])
    return bool(finished)


def inspection_expire_if_due(*, inspection_id: uuid.UUID) -> bool:
    """Expire the inspection if nobody owns it and its line's deadline has passed."""
    due = _claimable(inspection_id).filter(deadline_at__lt=timezone.now())
    return _finish_unowned(due, Status.EXPIRED, ErrorCode.DEADLINE_EXCEEDED, inspection_id)


def inspection_fail_if_out_of_attempts(*, inspection_id: uuid.UUID) -> bool:
    """Fail a poison inspection: one whose every attempt so far crashed, timed out or killed
    its worker. It must not go round the queue for ever."""
    spent = _claimable(inspection_id).filter(attempts__gte=F("attempt_limit"))
    return _finish_unowned(spent, Status.FAILED, ErrorCode.TOO_MANY_ATTEMPTS, inspection_id)


@dataclass(frozen=True)
class Claim:
    inspection: Inspection  # as claimed: running, with its line and the line's current model
    attempt: int  # the claim's token: results are written only while it is the row's attempt


def inspections_claim(*, inspection_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Claim]:
    """Claim inspections for this worker, a whole round of them in one transaction, and return
    those claimed. One is not claimed if it is finished, owned by a live worker, past its
    deadline or out of attempts (the caller then expires or fails it).

    The rows are locked as they are read, so a concurrent claim of the same row waits for this
    one and then finds it owned; each claimed row's attempt goes up by one.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        rows = _claimed_in_one_statement(list(inspection_ids), now, stale)
    else:
        rows = _claimed_under_lock(list(inspection_ids), now, stale)
    # The lines (with their current models) and stations once per round, not once per row: a
    # round is mostly one line's images. The stations' codes go into the result's live push.
    lines = ProductionLine.objects.select_related("inspection_model").in_bulk({row.line_id for row in rows})
    stations = Station.objects.in_bulk({row.station_id for row in rows})
    for row in rows:
        row.line, row.station = lines[row.line_id], stations[row.station_id]
    return {row.id: Claim(row, row.attempts) for row in rows}


def _claimed_under_lock(inspection_ids: list[uuid.UUID], now: datetime, stale: datetime) -> list[Inspection]:
    """The claim in two statements of one transaction: the claimable rows read under a lock,
    then updated. Every database Kensa runs on can do this (the demo's SQLite)."""
    with transaction.atomic():
        rows = list(
            Inspection.objects.select_for_update()
            .filter(
                Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=stale),
                id__in=inspection_ids,
                deadline_at__gte=now,
                attempts__lt=F("attempt_limit"),
            )
            .order_by("id")  # every worker locks in the same order: no deadlocks between rounds
        )
        if rows:
            Inspection.objects.filter(id__in=[row.id for row in rows]).update(
                status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
            )
    for row in rows:
        row.status, row.started_at, row.attempts = Status.RUNNING, now, row.attempts + 1
    return rows


@functools.cache
def _claim_statement() -> str:
    """PostgreSQL: lock the claimable rows in id order (as the two-statement claim does, so
    that no two rounds deadlock), update them and return them as now stored, in one statement.
    One round trip instead of four (BEGIN, SELECT, UPDATE, COMMIT), so the rows stay locked for
    one statement only, and no ORM query to compile: less CPU in the worker and in PostgreSQL
    (docs/performance.md#inference)."""
    quote = connection.ops.quote_name
    table = quote(Inspection._meta.db_table)
    # Concrete fields are those with a column.
    columns = ", ".join(f"{table}.{quote(cast(str, field.column))}" for field in Inspection._meta.concrete_fields)
    return (
        f"UPDATE {table} SET status = %(running)s, started_at = %(now)s, attempts = {table}.attempts + 1 "
        f"WHERE {table}.id IN ("
        f"SELECT id FROM {table} WHERE id = ANY(%(ids)s) "
        "AND (status = %(queued)s OR (status = %(running)s AND started_at < %(stale)s)) "
        "AND deadline_at >= %(now)s AND attempts < attempt_limit "
        f"ORDER BY id FOR UPDATE) RETURNING {columns}"
    )


def _claimed_in_one_statement(inspection_ids: list[uuid.UUID], now: datetime, stale: datetime) -> list[Inspection]:
    parameters: dict[str, Any] = {
        "ids": inspection_ids,
        "queued": Status.QUEUED,
        "running": Status.RUNNING,
        "now": now,
        "stale": stale,
    }
    with connection.cursor() as cursor:
        cursor.execute(_claim_statement(), parameters)
        returned = cursor.fetchall()
    return returned_instances(Inspection, Inspection._meta.concrete_fields, returned)


def inspection_release(*, inspection_id: uuid.UUID, attempt: int) -> bool:
    """Give a claimed inspection back after a transient error, so a retry can claim it at
    once instead of waiting out the lease. Best effort: if the database is what failed, the
    lease does the same job later."""
    try:
        return bool(
            Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt).update(
                status=Status.QUEUED, queued_at=timezone.now()
            )
        )
    except Exception:
        logger.warning("Could not release inspection %s; its lease will expire", inspection_id, exc_info=True)
        return False


def inspection_fail(*, inspection_id: uuid.UUID, attempt: int, error_code: str) -> bool:
    """Mark the inspection failed, if this attempt still owns it, and tell the dashboards."""
    owned = Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt)
    return _finish_unowned(owned, Status.FAILED, error_code, inspection_id)


def inspections_expire() -> int:
    """Mark expired every unfinished inspection past its deadline (the sweeper's first job)."""
    now = timezone.now()
    return Inspection.objects.filter(status__in=[Status.QUEUED, Status.RUNNING], deadline_at__lt=now).update(
        status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED, finished_at=now
    )


def inspections_requeue_stale(*, limit: int = 1000) -> int:
    """Send again the inspections whose message may have been lost (the outbox sweep).

    Queued rows not picked up within KENSA_REQUEUE_AFTER_SECONDS (Redis lost the message, or
    was down at upload time), and running rows held past the claim lease (the worker died),
    get a new message. `queued_at` moves on, so a row is re-sent at most once per
    KENSA_REQUEUE_AFTER_SECONDS while it waits; a duplicate message is harmless because
    claims are conditional.
    """
    now = timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS)
    lease_cutoff = now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS)
    stale = list(
        Inspection.objects.filter(
            Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=lease_cutoff),
            queued_at__lt=queued_cutoff,
        )
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
