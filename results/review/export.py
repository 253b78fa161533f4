"""The inspection list as CSV, streamed row by row: a month of a line is too many rows to build
in memory, and the download starts at once."""

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from inspection.models import Inspection
from results.review.selectors import latest_disposition

HEADER = [
    "id",
    "line",
    "station",
    "serial",
    "status",
    "verdict",
    "model",
    "defects",
    "qa_disposition",
    "received_at",
    "finished_at",
]
CHUNK = 500  # rows per database round trip


class _Echo:
    """csv.writer writes into this and gets the line back, to hand to the response."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe (a
    serial is the station's text: CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _rows(queryset: QuerySet[Inspection]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    rows = queryset.select_related("line", "station", "model").annotate(qa_disposition=latest_disposition())
    for inspection in rows.prefetch_related("defects").iterator(chunk_size=CHUNK):
        defects = ";".join(f"{d.label}:{d.confidence:.3f}" for d in inspection.defects.all())
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    str(inspection.id),
                    inspection.line.code,
                    inspection.station.code,
                    inspection.serial,
                    inspection.status,
                    inspection.verdict,
                    str(inspection.model) if inspection.model else "",
                    defects,
                    getattr(inspection, "qa_disposition", None) or "",
                    inspection.received_at.isoformat(),
                    inspection.finished_at.isoformat() if inspection.finished_at else "",
                )
            ]
        )


def inspections_csv(queryset: QuerySet[Inspection], filename: str = "inspections.csv") -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
