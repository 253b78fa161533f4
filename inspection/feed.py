"""Feed positions: the order in which finished inspections become visible to readers.

Every terminal transition stamps the row with `feed_position`, and the MES feed reads rows in
`(feed_position, id)` order, only below the *visible horizon*. A cursor can therefore never
move past a result that has not committed yet, however long its transaction takes or whatever
the clocks of the worker hosts say (a cursor over `finished_at` trusted a settle window, and
skipped a result whose commit came later than that).

PostgreSQL: the position is the writing transaction's id (`pg_current_xact_id()`, 64 bits, never
wraps) and the horizon is the oldest transaction of Kensa's database still running, or the next
id to be given out when none is. Every transaction below the horizon has finished, and every
later writer gets a larger id, so no row below a horizon a reader has seen can appear later. A
transaction that stays open holds the horizon back: the feed waits for it, and skips nothing.
Transactions of other databases on the same server are left out (the snapshot's own xmin
would count them, and a long one elsewhere would stall the feed). docs/mes-feed.md says why
this was chosen over a relay that numbers rows after commit.

SQLite (the demo) runs one writer at a time (transactions begin IMMEDIATE), so the next
position under the write lock is the largest so far plus one, and every row is visible.
"""

from django.db import connection
from django.db.models import Expression, Max, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

# PostgreSQL: the writing transaction's id, 64 bits (epoch and xid), as a bigint.
_POSITION_SQL = "pg_current_xact_id()::text::bigint"

# No position is at or above this on SQLite: everything committed is visible.
UNBOUNDED = 2**63 - 1


def position_expression() -> Expression:
    """The feed position for rows that the current transaction ends now, as an SQL expression."""
    if connection.vendor == "postgresql":
        return RawSQL(_POSITION_SQL, [])
    from inspection.models import Inspection

    latest = Inspection.objects.aggregate(latest=Coalesce(Max("feed_position"), Value(0)))["latest"]
    return Value(int(latest) + 1)


def position_sql() -> str:
    """The same, for hand-written statements on PostgreSQL."""
    assert connection.vendor == "postgresql"
    return _POSITION_SQL


def visible_horizon() -> int:
    """Rows whose feed position is below this are committed for good, with none to come below it.

    Two statements, in this order: first the next transaction id N, then the transactions of
    this database still running. Any id below N is either in that list or had finished before
    the list was read, and so is visible to the reader's next statement. Read the other way
    round, a transaction could start between the two and be missed. Kensa's processes share one
    database role, whose sessions pg_stat_activity shows in full."""
    if connection.vendor != "postgresql":
        return UNBOUNDED
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        (next_id,) = cursor.fetchone()
        cursor.execute(
            "SELECT backend_xid::text::bigint FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_xid IS NOT NULL"
        )
        running = [_widened(int(short), int(next_id)) for (short,) in cursor.fetchall()]
    return min([int(next_id), *running])


def _widened(short_id: int, next_id: int) -> int:
    """A 32-bit transaction id (pg_stat_activity's) as the 64-bit one it stands for: the one
    closest to `next_id`, on either side. The snapshot's xmax is one past the latest *completed*
    transaction, so a transaction still running (the reader's own, once a row lock or a write
    gave it an id) may have an id at or above it; taken as "below", such an id became 2^32 too
    small, and the horizon hid every row."""
    full = (next_id & ~0xFFFFFFFF) | short_id
    if full > next_id + 2**31:
        return full - 2**32
    if full < next_id - 2**31:
        return full + 2**32
    return full
