"""Reads on results, shaped for the API, the dashboards and the live feed."""

import uuid
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from inspection import feed
from inspection.links import Links
from inspection.models import Defect, Inspection
from inspection.payloads import (
    DEFECT_COLUMNS,
    PAYLOAD_COLUMNS,
    InspectionPayload,
    defects_by_inspection,
    payloads_of_rows,
)
from inspection.selectors import inspections_with_results
from lines.selectors import line_limited


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
    return list(_feed_after(base, after)[:limit])


def finished_payloads_after(
    *,
    after: tuple[int, uuid.UUID] | None,
    limit: int,
    links: Links,
    queryset: QuerySet[Inspection] | None = None,
) -> tuple[list[InspectionPayload], tuple[int, uuid.UUID] | None]:
    """The same page as `finished_inspections_after`, as JSON, with the position of its last
    result (None for an empty page). Two queries (the page, its defects) and no model
    instances: this is the MES feed's hot path (bench/mes.py)."""
    base = Inspection.objects.all() if queryset is None else queryset.prefetch_related(None)
    rows = list(_feed_after(base, after).values_list(*PAYLOAD_COLUMNS, "feed_position")[:limit])
    if not rows:
        return [], None
    defects = defects_by_inspection(
        Defect.objects.filter(inspection_id__in=[row[0] for row in rows])
        .order_by("-confidence", "id")
        .values_list(*DEFECT_COLUMNS)
    )
    last = rows[-1]
    return payloads_of_rows(rows, defects, links), (last[-1], last[0])


def seconds_behind(*, after: tuple[int, uuid.UUID] | None, queryset: QuerySet[Inspection], now: datetime) -> float:
    """How long the oldest result of `queryset` after the cursor `after` has waited since it
    finished: how far behind a reader of the feed (a push) runs; 0 when it has caught up. One
    indexed query."""
    oldest = finished_inspections_after(
        after=after, limit=1, queryset=queryset.only("id", "finished_at", "feed_position")
    )
    finished_at = oldest[0].finished_at if oldest else None
    return 0.0 if finished_at is None else max(0.0, (now - finished_at).total_seconds())


def _feed_after(queryset: QuerySet[Inspection], after: tuple[int, uuid.UUID] | None) -> QuerySet[Inspection]:
    queryset = queryset.filter(feed_position__lt=feed.visible_horizon())
    if after is not None:
        # A row comparison, so that the index (line, feed_position, id) starts at the cursor.
        table = connection.ops.quote_name(Inspection._meta.db_table)
        position, key = (connection.ops.quote_name(name) for name in ("feed_position", "id"))
        after_position, after_id = after
        after_key = Inspection._meta.pk.get_db_prep_value(after_id, connection)  # SQLite keeps uuids as hex
        queryset = queryset.extra(
            where=[f"({table}.{position}, {table}.{key}) > (%s, %s)"], params=[after_position, after_key]
        )
    return queryset.order_by("feed_position", "id")


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
