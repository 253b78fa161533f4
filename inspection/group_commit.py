"""Group commit for the upload API: the rows of uploads that arrive together are inserted by
one multi-row INSERT in one transaction, instead of a round trip and a commit each.

Request threads hand their unsaved row to one committer thread per process and wait. The
committer takes everything that is waiting (no timer: while it commits, the next group
gathers by itself), so an idle server adds no latency and a busy one commits dozens of rows
at once. A request answers 202 only after its row is committed, exactly as before.

Only plain uploads go this way. An upload with an Idempotency-Key relies on the unique
constraint of its own INSERT to settle races, and code already inside a transaction must
keep its row in that transaction: both insert as before (see services.inspection_create).
"""

import logging
import threading

from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction

from inspection.batching import Batcher
from inspection.models import Inspection

logger = logging.getLogger(__name__)

MAX_ROWS_PER_COMMIT = 64

_committer: Batcher | None = None
_committer_lock = threading.Lock()


def insert_row(row: Inspection) -> None:
    """Insert `row`, committed together with the rows of other requests waiting now; raise
    what the database raised for it."""
    global _committer
    with _committer_lock:
        if _committer is None:
            _committer = Batcher(
                _insert_group,
                max_size=MAX_ROWS_PER_COMMIT,
                max_wait_seconds=0,
                name="kensa-group-commit",
                on_stop=_close_connection,
            )
    problem = _committer.submit("rows", row).result().value
    if problem is not None:
        raise problem


def shutdown() -> None:
    """Commit what is waiting and stop the committer thread (tests; a worker's exit)."""
    global _committer
    with _committer_lock:
        committer, _committer = _committer, None
    if committer is not None:
        committer.close()


def _close_connection() -> None:
    # Called in the committer's thread: `connection` is that thread's own.
    connection.close()


def _insert_group(_key: object, rows: list[Inspection]) -> list[BaseException | None]:
    """One transaction for the group. If it fails on a row's constraint, each row is tried on
    its own, so that only the faulty upload is refused."""
    close_old_connections()  # this thread serves no request: drop a connection past its age
    try:
        with transaction.atomic():
            Inspection.objects.bulk_create(rows)
        return [None] * len(rows)
    except IntegrityError:
        return [_insert_alone(row) for row in rows]
    except DatabaseError as exc:
        # The database is down or the connection broke: every upload in the group gets the
        # error (503 database_unavailable); the next group reconnects.
        connection.close()
        return [exc] * len(rows)


def _insert_alone(row: Inspection) -> BaseException | None:
    try:
        with transaction.atomic():
            Inspection.objects.bulk_create([row])
    except DatabaseError as exc:
        return exc
    return None
