"""An inspection as JSON: one definition for the API, the dashboards, the live feed and every
subscriber of the "finished" event (inspection.events).

Plain functions rather than a DRF ModelSerializer: the worker builds this JSON for every
inspection it finishes, and DRF's per-field machinery, with a URL reverse per link, cost it
more CPU than writing the result. The output is plain JSON types (dates as ISO 8601 strings,
UTC as "Z"), exactly as DRF gave it.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypedDict

from django.utils import timezone

from inspection.links import Links, relative_path
from inspection.models import Inspection, thresholds_version

_NO_OFFSET = timedelta(0)
_NO_MODEL = (None, None, None, None)  # the four model columns of a row without a model


class DefectLike(Protocol):
    """A stored Defect, or a FoundDefect that is being stored (inspection/inference/verdicts.py)."""

    @property
    def label(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def box(self) -> list[int] | None: ...
    @property
    def area(self) -> int | None: ...


class DefectPayload(TypedDict):
    label: str
    confidence: float
    box: list[int] | None
    area: int | None


class ModelPayload(TypedDict):
    name: str
    version: str
    thresholds_version: str


class InspectionPayload(TypedDict):
    """What an inspection looks like in JSON, wherever Kensa sends one."""

    id: str
    url: str
    line: str
    station: str
    serial: str
    status: str
    verdict: str
    error_code: str
    model: ModelPayload | None
    defects: list[DefectPayload]
    image_url: str
    image_sha256: str
    image_format: str
    width: int
    height: int
    captured_at: str | None
    received_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    timings: dict[str, Any]


def inspection_json(
    inspection: Inspection, defects: Iterable[DefectLike] | None = None, *, links: Links | None = None
) -> InspectionPayload:
    """The inspection's JSON. `defects` in the order to show (most confident first); by
    default the inspection's stored ones, best prefetched (results.selectors). With `links`
    (integrations: the API, webhooks, MQTT) the links are absolute and the image link signed
    and short-lived; without, they are paths for a signed-in user's browser."""
    model = inspection.model
    row = (
        inspection.id,
        inspection.serial,
        inspection.status,
        inspection.verdict,
        inspection.error_code,
        inspection.image_sha256,
        inspection.image_format,
        inspection.width,
        inspection.height,
        inspection.captured_at,
        inspection.received_at,
        inspection.started_at,
        inspection.finished_at,
        inspection.attempts,
        inspection.timings,
        inspection.line.code,
        inspection.station.code,
        *(_NO_MODEL if model is None else (model.name, model.version, model.thresholds, model.default_threshold)),
    )
    shown: list[DefectPayload] = [
        {"label": d.label, "confidence": d.confidence, "box": d.box, "area": d.area}
        for d in (inspection.defects.all() if defects is None else defects)
    ]
    return _payload(row, shown, links, _in_utc())


def inspections_json(inspections: Sequence[Inspection], *, links: Links | None = None) -> list[InspectionPayload]:
    return [inspection_json(inspection, links=links) for inspection in inspections]


# The columns of an inspection's JSON, for reads that skip model instances (the MES feed:
# building 500 inspections with their line, station, model and defects as ORM objects cost more
# than the rest of a page together). `payloads_of_rows` takes rows of these, in this order.
PAYLOAD_COLUMNS = (
    "id",
    "serial",
    "status",
    "verdict",
    "error_code",
    "image_sha256",
    "image_format",
    "width",
    "height",
    "captured_at",
    "received_at",
    "started_at",
    "finished_at",
    "attempts",
    "timings",
    "line__code",
    "station__code",
    "model__name",
    "model__version",
    "model__thresholds",
    "model__default_threshold",
)
DEFECT_COLUMNS = ("inspection_id", "label", "confidence", "box", "area")


def payloads_of_rows(
    rows: Iterable[Sequence[Any]], defects: dict[uuid.UUID, list[DefectPayload]], links: Links | None
) -> list[InspectionPayload]:
    """The JSON of inspections read as rows of PAYLOAD_COLUMNS, with their defects (rows of
    DEFECT_COLUMNS grouped by `defects_by_inspection`)."""
    in_utc = _in_utc()
    return [_payload(row, defects.get(row[0], []), links, in_utc) for row in rows]


def defects_by_inspection(rows: Iterable[Sequence[Any]]) -> dict[uuid.UUID, list[DefectPayload]]:
    """Rows of DEFECT_COLUMNS, in the order to show, grouped by inspection."""
    grouped: dict[uuid.UUID, list[DefectPayload]] = {}
    for inspection_id, label, confidence, box, area in rows:
        grouped.setdefault(inspection_id, []).append(
            {"label": label, "confidence": confidence, "box": box, "area": area}
        )
    return grouped


def _payload(row: Sequence[Any], defects: list[DefectPayload], links: Links | None, in_utc: bool) -> InspectionPayload:
    (
        inspection_id,
        serial,
        status,
        verdict,
        error_code,
        image_sha256,
        image_format,
        width,
        height,
        captured_at,
        received_at,
        started_at,
        finished_at,
        attempts,
        timings,
        line,
        station,
        model_name,
        model_version,
        thresholds,
        default_threshold,
        *_,  # a read may add columns of its own after these (the feed: its position)
    ) = row
    text_id = str(inspection_id)
    return {
        "id": text_id,
        "url": links.detail(text_id) if links else relative_path("inspection-detail", text_id),
        "line": line,
        "station": station,
        "serial": serial,
        "status": status,
        "verdict": verdict,
        "error_code": error_code,
        "model": None
        if model_name is None
        else {
            "name": model_name,
            "version": model_version,
            "thresholds_version": thresholds_version(thresholds, default_threshold),
        },
        "defects": defects,
        "image_url": links.image(text_id) if links else relative_path("inspection-image", text_id),
        "image_sha256": image_sha256,
        "image_format": image_format,
        "width": width,
        "height": height,
        "captured_at": _timestamp(captured_at, in_utc),
        "received_at": _timestamp(received_at, in_utc),
        "started_at": _timestamp(started_at, in_utc),
        "finished_at": _timestamp(finished_at, in_utc),
        "attempts": attempts,
        "timings": timings,
    }


def _in_utc() -> bool:
    return timezone.get_current_timezone_name() == "UTC"


def _timestamp(value: datetime | None, in_utc: bool) -> str | None:
    """ISO 8601 in the current time zone, UTC written "Z". `in_utc`: the current zone is UTC,
    where a UTC value (as the database gives them) needs no conversion, at a third of the cost."""
    if value is None:
        return None
    if in_utc and value.utcoffset() == _NO_OFFSET:
        return value.isoformat()[:-6] + "Z"
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
