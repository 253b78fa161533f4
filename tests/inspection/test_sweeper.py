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


def _stale(*inspections: Inspection, running: bool = False) -> None:
    """Waiting past KENSA_REQUEUE_AFTER_SECONDS; `running`: claimed by a worker past its lease."""
    from django.conf import settings

    now = timezone.now()
    fields: dict = {"queued_at": now - timedelta(seconds=settings.KENSA_REQUEUE_AFTER_SECONDS + 1)}
    if running:
        started = now - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS + 1)
        fields |= {"status": Status.RUNNING, "attempts": 1, "started_at": started}
    Inspection.objects.filter(id__in=[inspection.id for inspection in inspections]).update(**fields)


def _send(*inspections: Inspection, queue: str) -> None:
    """Their messages, as the door sends them (one group)."""
    from inspection.ingest.dispatch import send_inspections

    send_inspections([(inspection.id, queue) for inspection in inspections])


def _all_ids(redis_client, queue: str) -> list[str]:
    return sorted(inspection_id for group in queued_groups(redis_client, queue) for inspection_id in group)


def test_a_backlog_older_than_the_resend_age_is_not_sent_again(redis_client):
    """Rows waiting longer than KENSA_REQUEUE_AFTER_SECONDS behind a long backlog, their
    messages still in Redis (waiting in the queue, or taken by a worker and not yet
    acknowledged): the sweep sends nothing."""
    from kombu import Queue

    from config.celery import app

    line = make_line(priority="low", deadline_seconds=600)
    backlog = [accept(line) for _ in range(5)]
    redis_client.delete("inspect.low", "unacked", "unacked_index")
    _send(*backlog[:3], queue="inspect.low")
    _send(backlog[3], queue="inspect.low")
    _send(backlog[4], queue="inspect.low")
    with app.connection_for_read() as connection:
        # A worker takes the last one sent (workers take from the right end: the first sent),
        # without acknowledging it yet: kombu moves it to the unacked hash.
        reserved = Queue("inspect.low", no_declare=True)(connection.default_channel).get(no_ack=False)
        assert reserved is not None and redis_client.hlen("unacked") == 1
        _stale(*backlog)
        before = redis_client.lrange("inspect.low", 0, -1)

        assert sweep_inspections() == {"expired": 0, "requeued": 0}
        assert redis_client.lrange("inspect.low", 0, -1) == before
        assert redis_client.hlen("unacked") == 1
        reserved.ack()
    redis_client.delete("inspect.low")  # no messages of rows gone with the test for later workers


def test_rows_whose_messages_redis_lost_are_sent_again_once(redis_client):
    """Redis restarted empty: every stale row's message is gone, so each is sent again, alone;
    a worker presumed dead (running past its lease) gets its row sent again although its
    message sits unacknowledged, and a later sweep finds that new message and sends no other."""
    line = make_line(priority="low", deadline_seconds=600)
    queued, dead_worker = [accept(line) for _ in range(3)], accept(line)
    redis_client.delete("inspect.low", "unacked", "unacked_index")
    _send(*queued, dead_worker, queue="inspect.low")
    redis_client.delete("inspect.low")  # the restart: nothing of them left
    _stale(*queued)
    _stale(dead_worker, running=True)

    assert sweep_inspections() == {"expired": 0, "requeued": 4}
    assert sorted(queued_groups(redis_client, "inspect.low")) == sorted([[str(i.id)] for i in (*queued, dead_worker)])

    # The dead worker's message, reserved and never acknowledged, is in the unacked hash.
    from kombu import Queue

    from config.celery import app

    redis_client.delete("inspect.low")
    _send(dead_worker, queue="inspect.low")
    with app.connection_for_read() as connection:
        reserved = Queue("inspect.low", no_declare=True)(connection.default_channel).get(no_ack=False)
        assert reserved is not None and redis_client.llen("inspect.low") == 0
        _stale(dead_worker, running=True)
        assert sweep_inspections()["requeued"] == 1
        _stale(dead_worker, running=True)
        assert sweep_inspections()["requeued"] == 0  # the message the last sweep sent waits
        assert _all_ids(redis_client, "inspect.low") == [str(dead_worker.id)]
        reserved.ack()
    redis_client.delete("inspect.low")
