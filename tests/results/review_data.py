"""Finished inspections for QA review tests, written as rows: no model runs, no image is read
(the admin page only links the image)."""

import uuid
from datetime import timedelta

from django.utils import timezone

from inspection.constants import Status
from inspection.models import Defect, Inspection, InspectionModel
from lines.models import ProductionLine, Station
from tests.factories import make_station

LABELS = ["good", "scratch", "dent", "stain"]


def model_version(line: ProductionLine | None = None, *, version: str = "") -> InspectionModel:
    return InspectionModel.objects.create(
        name="demo",
        version=version or uuid.uuid4().hex[:8],
        sha256="0" * 64,
        labels=LABELS,
        good_labels=["good"],
        thresholds={"scratch": 0.6},
        default_threshold=0.5,
        line=line,
    )


def review_line(code: str, *, rate: float = 1.0) -> tuple[ProductionLine, Station, InspectionModel]:
    line = ProductionLine.objects.create(code=code, name=code, review_sample_rate=rate)
    model = model_version(line)
    line.inspection_model = model
    line.save(update_fields=["inspection_model"])
    station, _ = make_station(line, code="cam")
    return line, station, model


def finished(
    station: Station,
    verdict: str,
    *,
    model: InspectionModel | None = None,
    defects: tuple[tuple[str, float], ...] = (),
    serial: str = "SN-1",
    id: uuid.UUID | None = None,
    status: str = Status.DONE,
) -> Inspection:
    now = timezone.now().replace(microsecond=123456)
    inspection = Inspection.objects.create(
        id=id or uuid.uuid4(),
        line=station.line,
        station=station,
        serial=serial,
        image_key=f"images/{uuid.uuid4().hex}.jpg",
        image_sha256="0" * 64,
        image_bytes=1000,
        image_format="JPEG",
        width=320,
        height=256,
        received_at=now - timedelta(seconds=3),
        queued_at=now - timedelta(seconds=3),
        started_at=now - timedelta(seconds=2) if status == Status.DONE else None,
        finished_at=now if status == Status.DONE else None,
        deadline_at=now + timedelta(minutes=5),
        status=status,
        verdict=verdict if status == Status.DONE else "",
        model=model or station.line.inspection_model,
    )
    for index, (label, confidence) in enumerate(defects):
        x = 10 + 40 * index
        Defect.objects.create(
            inspection=inspection, label=label, confidence=confidence, box=[x, 20, x + 30, 60], area=1200
        )
    return inspection
