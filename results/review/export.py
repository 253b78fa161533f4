"""Downloads from the inspection list: the list as CSV, streamed row by row (a month of a line
is too many rows to build in memory, and the download starts at once), and the reviewed images
as a zipped training data set."""

import csv
import tempfile
import zipfile
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse

from inspection.models import Inspection
from results.review.dataset import dataset_write
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


def dataset_zip(queryset: QuerySet[Inspection], filename: str = "kensa-dataset.zip") -> FileResponse:
    """The data set (results.review.dataset) as a zip, built in a temporary file before the
    response starts: a refusal (`dataset_empty`, `dataset_labels_differ`) is then still a
    message on the page rather than a broken download, and memory stays flat however many
    images there are. Images are stored, not deflated: JPEG and PNG do not shrink."""
    lines = list(queryset.order_by().values_list("line__code", flat=True).distinct()[:2])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it once sent
    try:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
            dataset_write(
                inspections=queryset,
                write=archive.writestr,
                line=lines[0] if len(lines) == 1 else "",
            )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type="application/zip")
