"""Writes on results: record an inspection's verdict and defects, once."""

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.rows import update_many
from inspection.constants import Status
from inspection.models import Inspection, InspectionModel
from inspection.verdicts import FoundDefect, Judgement
from results.api.serializers import inspection_json
from results.live import publish_json
from results.models import Defect


@dataclass(frozen=True)
class Result:
    """What attempt `attempt` found for an inspection, to be recorded. `inspection` is the row
    as the attempt claimed it (inspection.lifecycle.inspections_claim), line and station
    loaded: the live push is built from it instead of read back."""

    inspection: Inspection
    attempt: int
    model: InspectionModel
    judgement: Judgement
    timings: dict[str, float]


def inspections_record_results(results: Sequence[Result]) -> list[bool]:
    """Write a round of results in one transaction, each only if its attempt still owns its
    inspection, and publish the recorded ones to the dashboards once committed. The answer
    says, for each result, whether it was written (False: another attempt got there first, or
    the same inspection came twice in the round; nothing of it is written then).

    The owned rows are locked as they are read, so a claim racing with this write (a lease
    that ran out) waits for it and then finds the inspection done.
    """
    finished_at = timezone.now()
    with transaction.atomic():
        running = set(
            Inspection.objects.select_for_update()
            .filter(id__in=[result.inspection.id for result in results], status=Status.RUNNING)
            .order_by("id")  # the same lock order as claims: no deadlocks between rounds
            .values_list("id", "attempts")
        )
        written: list[Result] = []
        answers = []
        for result in results:
            owned = (result.inspection.id, result.attempt) in running
            running.discard((result.inspection.id, result.attempt))  # once per inspection
            answers.append(owned)
            if owned:
                written.append(result)
        if written:
            finished = _write(written, finished_at)
            transaction.on_commit(lambda: publish_json([inspection_json(row, defects) for row, defects in finished]))
    return answers


def _write(results: list[Result], finished_at: datetime) -> list[tuple[Inspection, list[FoundDefect]]]:
    """Write the results; each finished row as now stored, with its defects in the order the
    API shows them (most confident first; stored in the same order, so ids agree)."""
    finished = []
    for result in results:
        row = copy.copy(result.inspection)  # the caller's claimed row stays as it was
        row.status, row.verdict, row.model = Status.DONE, result.judgement.verdict, result.model
        row.timings, row.finished_at = result.timings, finished_at
        defects = sorted(result.judgement.defects, key=lambda defect: -defect.confidence)
        finished.append((row, defects))
    # One UPDATE joined to the round's values; bulk_update's CASE WHEN cost 4 ms of CPU a row.
    update_many([row for row, _ in finished], ["status", "verdict", "model", "timings", "finished_at"])
    Defect.objects.bulk_create(
        Defect(inspection_id=row.id, label=d.label, confidence=d.confidence, box=d.box, area=d.area)
        for row, defects in finished
        for d in defects
    )
    return finished
