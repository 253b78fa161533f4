"""Reads on results, shaped for the API, the dashboards and the live feed."""

import uuid
from datetime import datetime

from django.db.models import Q

from inspection.models import Inspection
from inspection.selectors import inspections_with_results


def inspection_get(inspection_id: uuid.UUID, *, line_id: int | None = None) -> Inspection | None:
    """The inspection with this id, only within `line_id` when one is given (a station's view)."""
    queryset = inspections_with_results().filter(id=inspection_id)
    if line_id is not None:
        queryset = queryset.filter(line_id=line_id)
    return queryset.first()


def finished_inspections_after(
    *, line_id: int | None, after: tuple[datetime, uuid.UUID] | None, settled_before: datetime, limit: int
) -> list[Inspection]:
    """Finished inspections ordered by (finished_at, id), strictly after the cursor position.

    Only rows finished before `settled_before` are returned: a result written a moment
    earlier may still be committing in another transaction, and a cursor that moved past its
    timestamp would skip it forever.
    """
    queryset = inspections_with_results().terminal().filter(finished_at__isnull=False, finished_at__lt=settled_before)
    if line_id is not None:
        queryset = queryset.filter(line_id=line_id)
    if after is not None:
        finished_at, inspection_id = after
        queryset = queryset.filter(Q(finished_at__gt=finished_at) | Q(finished_at=finished_at, id__gt=inspection_id))
    return list(queryset.order_by("finished_at", "id")[:limit])


def recent_inspections(*, line_id: int, limit: int) -> list[Inspection]:
    """The line's latest finished inspections, oldest first (for a dashboard's first paint)."""
    rows = list(inspections_with_results().terminal().filter(line_id=line_id).order_by("-finished_at", "-id")[:limit])
    rows.reverse()
    return rows
