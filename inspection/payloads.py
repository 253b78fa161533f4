"""An inspection as JSON: one definition for the API, the dashboards, the live feed and every
subscriber of the "finished" event (inspection.events).

Plain functions rather than a DRF ModelSerializer: the worker builds this JSON for every
inspection it finishes, and DRF's per-field machinery, with a URL reverse per link, cost it
more CPU than writing the result. The output is plain JSON types (dates as ISO 8601 strings,
UTC as "Z"), exactly as DRF gave it.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict

from django.utils import timezone

from inspection.links import Links, relative_path
from inspection.models import Inspection


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
    return {
        "id": str(inspection.id),
        "url": links.detail(inspection.id) if links else relative_path("inspection-detail", inspection.id),
        "line": inspection.line.code,
        "station": inspection.station.code,
        "serial": inspection.serial,
        "status": inspection.status,
        "verdict": inspection.verdict,
        "error_code": inspection.error_code,
        "model": None
        if model is None
        else {"name": model.name, "version": model.version, "thresholds_version": model.thresholds_version},
        "defects": [
            {"label": d.label, "confidence": d.confidence, "box": d.box, "area": d.area}
            for d in (inspection.defects.all() if defects is None else defects)
        ],
        "image_url": links.image(inspection.id) if links else relative_path("inspection-image", inspection.id),
        "image_sha256": inspection.image_sha256,
        "image_format": inspection.image_format,
        "width": inspection.width,
        "height": inspection.height,
        "captured_at": _timestamp(inspection.captured_at),
        "received_at": _timestamp(inspection.received_at),
        "started_at": _timestamp(inspection.started_at),
        "finished_at": _timestamp(inspection.finished_at),
        "attempts": inspection.attempts,
        "timings": inspection.timings,
    }


def inspections_json(inspections: Sequence[Inspection], *, links: Links | None = None) -> list[InspectionPayload]:
    return [inspection_json(inspection, links=links) for inspection in inspections]


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
