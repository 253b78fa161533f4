"""Claims: a worker takes inspections, and gives one back after a transient error.

Every change is conditional on the status (and on the attempt that owns the row): an UPDATE
whose WHERE says so, or, for a round of claims, rows read under a lock with that condition
and then updated. So two workers, a worker and the sweeper, or a message delivered twice can
never both act: each inspection ends in exactly one terminal state with exactly one set of
results. Which rows may be claimed is `Inspection.objects.claimable()`; the one-statement
claim on PostgreSQL is compiled from it.
"""

import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from inspection.constants import Status
from inspection.models import Inspection, claim_stale_before
from inspection.rows import returned_instances
from lines.models import ProductionLine, Station

logger = logging.getLogger(__name__)


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
    if connection.vendor == "postgresql":
        rows = _claimed_in_one_statement(list(inspection_ids), now)
    else:
        rows = _claimed_under_lock(list(inspection_ids), now)
    # The lines (with their current models) and stations once per round, not once per row: a
    # round is mostly one line's images. The stations' codes go into the result's live push.
    lines = ProductionLine.objects.select_related("inspection_model").in_bulk({row.line_id for row in rows})
    stations = Station.objects.in_bulk({row.station_id for row in rows})
    for row in rows:
        row.line, row.station = lines[row.line_id], stations[row.station_id]
    return {row.id: Claim(row, row.attempts) for row in rows}


def _claimed_under_lock(inspection_ids: list[uuid.UUID], now: datetime) -> list[Inspection]:
    """The claim in two statements of one transaction: the claimable rows read under a lock,
    then updated. Every database Kensa runs on can do this (the demo's SQLite)."""
    with transaction.atomic():
        rows = list(
            Inspection.objects.select_for_update()
            .claimable(now=now)
            .filter(id__in=inspection_ids)
            .order_by("id")  # every worker locks in the same order: no deadlocks between rounds
        )
        if rows:
            Inspection.objects.filter(id__in=[row.id for row in rows]).update(
                status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
            )
    for row in rows:
        row.status, row.started_at, row.attempts = Status.RUNNING, now, row.attempts + 1
    return rows


# Stand-ins for the claim's time and its lease's cut-off while the claimable rule is compiled
# to SQL once; each round's values take their places among the compiled parameters.
_NOW_MARK = datetime(1001, 1, 1, tzinfo=UTC)
_STALE_MARK = datetime(1000, 1, 1, tzinfo=UTC)


@functools.cache
def _claim_statement() -> tuple[str, tuple[Any, ...]]:
    """PostgreSQL: lock the claimable rows in id order (as the two-statement claim does, so
    that no two rounds deadlock), update them and return them as now stored, in one statement.
    One round trip instead of four (BEGIN, SELECT, UPDATE, COMMIT), so the rows stay locked for
    one statement only, and no ORM query to compile per round (docs/performance.md#inference).

    The WHERE clause is `Inspection.objects.claimable()` compiled once by Django, so the rule
    lives in one place; returns the statement and its parameters with the marks to fill in."""
    quote = connection.ops.quote_name
    table = quote(Inspection._meta.db_table)
    rule = Inspection.objects.claimable(now=_NOW_MARK, stale=_STALE_MARK).order_by().values("id")
    where_sql, where_params = rule.query.get_compiler(connection=connection).as_sql()
    # Concrete fields are those with a column.
    columns = ", ".join(f"{table}.{quote(cast(str, field.column))}" for field in Inspection._meta.concrete_fields)
    statement = (
        f"UPDATE {table} SET status = %s, started_at = %s, attempts = {table}.attempts + 1 "
        f"WHERE {table}.id IN ({where_sql} AND {table}.id = ANY(%s) ORDER BY {table}.id FOR UPDATE) "
        f"RETURNING {columns}"
    )
    return statement, tuple(where_params)


def _claimed_in_one_statement(inspection_ids: list[uuid.UUID], now: datetime) -> list[Inspection]:
    statement, rule_params = _claim_statement()
    stale = claim_stale_before(now)
    filled = [now if value == _NOW_MARK else stale if value == _STALE_MARK else value for value in rule_params]
    with connection.cursor() as cursor:
        cursor.execute(statement, [Status.RUNNING, now, *filled, inspection_ids])
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
