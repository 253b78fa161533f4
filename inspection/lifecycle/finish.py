"""Every transition into a terminal state, and the one "finished" event it emits.

`done` is written with the verdict and defects by the worker's result round
(inspection/lifecycle/results.py), which announces the payloads it wrote. Every other end
(`failed` by the worker, poison `failed` after too many attempts, `expired` by the worker or by
the sweeper) goes through `inspections_finish` here. Both announce through
`inspection.events.announce_finished`, after commit, so dashboards, the MES feed and the push
channels learn of every end from one place.
"""

import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inspection import feed
from inspection.constants import ErrorCode, Status
from inspection.events import announce_finished
from inspection.models import Inspection, InspectionQuerySet
from inspection.payloads import InspectionPayload, inspections_json
from inspection.selectors import inspections_with_results


def inspections_finish(queryset: InspectionQuerySet, *, status: str, error_code: str) -> list[uuid.UUID]:
    """End the rows of `queryset` in `status` with `error_code`, and announce them once
    committed. The rows are locked in id order (as claims and result rounds lock them, so no
    two deadlock) and only those that still match the queryset under the lock are ended:
    the queryset is the condition, as in every conditional update of the lifecycle."""
    assert status in (Status.FAILED, Status.EXPIRED), status
    now = timezone.now()
    with transaction.atomic():
        ended = list(queryset.select_for_update().order_by("id").values_list("id", flat=True))
        if ended:
            Inspection.objects.filter(id__in=ended).update(
                status=status, error_code=error_code, finished_at=now, feed_position=feed.position_expression()
            )
            announce_finished(lambda: _payloads(ended))
    return ended


def _payloads(inspection_ids: list[uuid.UUID]) -> list[InspectionPayload]:
    return inspections_json(
        list(inspections_with_results().filter(id__in=inspection_ids).order_by("finished_at", "id"))
    )


def inspection_expire_if_due(*, inspection_id: uuid.UUID) -> bool:
    """Expire the inspection if nobody owns it and its line's deadline has passed."""
    now = timezone.now()
    due = Inspection.objects.unowned(now=now).filter(id=inspection_id, deadline_at__lt=now)
    return bool(inspections_finish(due, status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED))


def inspection_expire_claimed(*, inspection_id: uuid.UUID, attempt: int) -> bool:
    """Expire a claimed inspection that its worker found unable to meet its deadline before
    running it (inspection/inference/scheduling.py), if this attempt still owns it. Its end is
    the sweeper's: `expired` with deadline_exceeded, whoever saw the deadline pass."""
    owned = Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt)
    return bool(inspections_finish(owned, status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED))


def inspection_fail_if_out_of_attempts(*, inspection_id: uuid.UUID) -> bool:
    """Fail a poison inspection: one whose every attempt so far crashed, timed out or killed
    its worker. It must not go round the queue for ever."""
    spent = Inspection.objects.unowned(now=timezone.now()).filter(id=inspection_id, attempts__gte=F("attempt_limit"))
    return bool(inspections_finish(spent, status=Status.FAILED, error_code=ErrorCode.TOO_MANY_ATTEMPTS))


def inspection_fail(*, inspection_id: uuid.UUID, attempt: int, error_code: str) -> bool:
    """Mark the inspection failed, if this attempt still owns it."""
    owned = Inspection.objects.filter(id=inspection_id, status=Status.RUNNING, attempts=attempt)
    return bool(inspections_finish(owned, status=Status.FAILED, error_code=error_code))


def inspections_expire() -> int:
    """Expire every unfinished inspection past its deadline (the sweeper's first job)."""
    due = Inspection.objects.waiting().filter(deadline_at__lt=timezone.now())
    return len(inspections_finish(due, status=Status.EXPIRED, error_code=ErrorCode.DEADLINE_EXCEEDED))
