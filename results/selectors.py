"""Reads on results, shaped for the API, the dashboards and the live feed."""

import uuid

from django.db import connection
from django.db.models import QuerySet

from inspection import feed
from inspection.models import Inspection
from inspection.selectors import inspections_with_results
from results.mes.selectors import line_limited


def inspection_get(
    inspection_id: uuid.UUID, *, line_id: int | None = None, line_ids: frozenset[int] | None = None
) -> Inspection | None:
    """The inspection with this id, only within `line_id` (a station's line) and `line_ids` (an
    API client's lines) when they are given."""
    queryset = line_limited(inspections_with_results().filter(id=inspection_id), line_ids)
    if line_id is not None:
        queryset = queryset.filter(line_id=line_id)
    return queryset.first()


def finished_inspections_after(
    *,
    after: tuple[int, uuid.UUID] | None,
    limit: int,
    queryset: QuerySet[Inspection] | None = None,
) -> list[Inspection]:
    """Finished inspections in feed order, (feed_position, id), strictly after the cursor's
    position and below the visible horizon (inspection/feed.py): a result still committing
    holds the page back instead of being skipped. `queryset` narrows the feed (filters, the
    lines a client may see); by default every inspection with its results."""
    base = inspections_with_results() if queryset is None else queryset
    queryset = base.filter(feed_position__lt=feed.visible_horizon())
    if after is not None:
        # A row comparison, so that the index (line, feed_position, id) starts at the cursor.
        table = connection.ops.quote_name(Inspection._meta.db_table)
        position, key = (connection.ops.quote_name(name) for name in ("feed_position", "id"))
        after_position, after_id = after
        after_key = Inspection._meta.pk.get_db_prep_value(after_id, connection)  # SQLite keeps uuids as hex
        queryset = queryset.extra(
            where=[f"({table}.{position}, {table}.{key}) > (%s, %s)"], params=[after_position, after_key]
        )
    return list(queryset.order_by("feed_position", "id")[:limit])


def part_inspections(*, serial: str, line_ids: frozenset[int] | None, limit: int) -> list[Inspection]:
    """A part's inspections in any state, oldest first, on the lines in `line_ids` (None: all)."""
    queryset = line_limited(inspections_with_results().filter(serial=serial), line_ids)
    return list(queryset.order_by("received_at", "id")[:limit])


def recent_inspections(*, line_id: int, limit: int) -> list[Inspection]:
    """The line's latest finished inspections in feed order, oldest first (for a dashboard's
    first paint, which then follows the feed from the last of them)."""
    rows = list(
        inspections_with_results()
        .filter(line_id=line_id, feed_position__lt=feed.visible_horizon())
        .order_by("-feed_position", "-id")[:limit]
    )
    rows.reverse()
    return rows
