"""Writes on results: record an inspection's verdict and defects, once."""

import uuid

from django.db import transaction
from django.utils import timezone

from inspection.constants import Status
from inspection.models import Inspection, InspectionModel
from inspection.verdicts import Judgement
from results.live import publish_inspection
from results.models import Defect


@transaction.atomic
def inspection_record_result(
    *, inspection_id: uuid.UUID, attempt: int, model: InspectionModel, judgement: Judgement, timings: dict[str, float]
) -> bool:
    """Write the verdict and defects in one transaction, if attempt `attempt` still owns the
    inspection; publish them to the line's dashboards once committed. False when another
    attempt got there first (nothing is written then)."""
    owned = Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt).update(
        status=Status.DONE,
        verdict=judgement.verdict,
        model=model,
        timings=timings,
        finished_at=timezone.now(),
    )
    if not owned:
        return False
    Defect.objects.bulk_create(
        Defect(inspection_id=inspection_id, label=d.label, confidence=d.confidence, box=d.box, area=d.area)
        for d in judgement.defects
    )
    transaction.on_commit(lambda: publish_inspection(inspection_id=inspection_id))
    return True
