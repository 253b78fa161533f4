"""The beat job: expire what is past its deadline, re-send what may have lost its message."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inspection.constants import Status
from inspection.models import Inspection
from inspection.tasks import sweep_inspections
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.messages import queued_groups

pytestmark = pytest.mark.django_db


def test_sweep_expires_and_requeues(settings, redis_client):
    line = make_line(priority="low", deadline_seconds=600)
    _fresh, lost, dead_worker, too_old = (accept(line) for _ in range(4))  # _fresh: not sent again
    now = timezone.now()
    lost_at = now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS + 1)
    Inspection.objects.filter(id=lost.id).update(queued_at=lost_at)
    Inspection.objects.filter(id=dead_worker.id).update(
        status=Status.RUNNING,
        attempts=1,
        queued_at=lost_at,
        started_at=now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS + 1),
    )
    Inspection.objects.filter(id=too_old.id).update(deadline_at=now - timedelta(seconds=1))
    redis_client.delete("inspect.low")

    # Run as beat runs it, through the task (called directly: the sweep itself is what is tested).
    assert sweep_inspections() == {"expired": 1, "requeued": 2}

    # Each in a message of its own: the dead worker's inspection may be what killed it.
    assert sorted(queued_groups(redis_client, "inspect.low")) == sorted([[str(lost.id)], [str(dead_worker.id)]])
    assert Inspection.objects.get(id=too_old.id).status == Status.EXPIRED
    assert Inspection.objects.get(id=lost.id).queued_at > now
    assert sweep_inspections() == {"expired": 0, "requeued": 0}  # not re-sent at every sweep
