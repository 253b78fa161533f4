"""The inspection task messages (inspection/tasks.py): a group runs together, a member that
fails transiently goes back alone, and a group that comes back whole is split, so that a
poison image never spends the attempts of the images it arrived with."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery import Task
from django.core.files.storage import default_storage

from inspection.constants import Status
from inspection.inference import engine
from inspection.models import Inspection
from inspection.tasks import inspect_image, inspect_images
from tests.factories import make_line, make_model
from tests.inspection.test_worker import accept, storage_fails_for
from tests.messages import queued_groups

# Committed for real: a task's start closes a connection that is inside a transaction, as the
# worker's does (config/celery.py), so the tests' usual wrapping transaction cannot hold.
pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "inspect.high"


@pytest.fixture(autouse=True)
def _empty_queue_and_model_cache(redis_client):
    redis_client.delete(QUEUE)
    engine._cache.clear()
    yield
    redis_client.delete(QUEUE)
    engine._cache.clear()


@contextmanager
def redelivered(task: Task) -> Iterator[None]:
    """Run `task.run` as a worker runs a message that Redis delivered a second time."""
    task.push_request(delivery_info={"redelivered": True, "routing_key": QUEUE}, retries=0)
    try:
        yield
    finally:
        task.pop_request()


def ids_of(*inspections: Inspection) -> list[str]:
    return [str(inspection.id) for inspection in inspections]


def test_a_group_member_that_fails_transiently_is_sent_again_alone_to_its_queue(monkeypatch, redis_client):
    line = make_line(model=make_model(always="good"))
    first, flaky, last = (accept(line) for _ in range(3))
    redis_client.delete(QUEUE)  # their upload's messages: this test runs the task itself
    storage_fails_for(monkeypatch, flaky)
    summary = inspect_images.apply(args=(ids_of(first, flaky, last),), routing_key=QUEUE).get()

    assert summary == {"done": 2, "retried": 1}
    statuses = dict(Inspection.objects.filter(line=line).values_list("id", "status"))
    assert statuses == {first.id: Status.DONE, flaky.id: Status.QUEUED, last.id: Status.DONE}
    assert queued_groups(redis_client, QUEUE) == [[str(flaky.id)]]


def test_a_group_that_comes_back_is_split_into_one_message_per_image_without_running(redis_client):
    line = make_line(model=make_model(always="good"))
    group = [accept(line) for _ in range(3)]
    redis_client.delete(QUEUE)  # their upload's messages: this test runs the task itself

    # As a retry (a whole group that the broker refused to split) ...
    assert inspect_images.apply(args=(ids_of(*group),), routing_key=QUEUE, retries=1).get() == {"split": 3}
    assert queued_groups(redis_client, QUEUE) == [[inspection_id] for inspection_id in ids_of(*group)]
    redis_client.delete(QUEUE)
    # ... or redelivered after its worker died, maybe killed by one of its images.
    with redelivered(inspect_images):
        assert inspect_images.run(ids_of(*group)) == {"split": 3}
    assert queued_groups(redis_client, QUEUE) == [[inspection_id] for inspection_id in ids_of(*group)]
    assert set(Inspection.objects.filter(line=line).values_list("status", "attempts")) == {(Status.QUEUED, 0)}


def test_a_lone_image_redelivered_runs_and_the_earlier_single_image_message_is_still_read():
    line = make_line(model=make_model(always="good"))
    alone, legacy = accept(line), accept(line)
    with redelivered(inspect_images):
        assert inspect_images.run([str(alone.id)]) == {"done": 1, "retried": 0}
    assert inspect_image.apply(args=(str(legacy.id),), routing_key=QUEUE).get() == {"done": 1, "retried": 0}
    assert set(Inspection.objects.filter(line=line).values_list("status", flat=True)) == {Status.DONE}


def test_an_unknown_or_missing_image_in_a_group_does_not_stop_the_rest(redis_client):
    line = make_line(model=make_model(always="good"))
    kept, missing = accept(line), accept(line)
    redis_client.delete(QUEUE)  # their upload's messages: this test runs the task itself
    default_storage.delete(missing.image_key)
    summary = inspect_images.apply(args=([*ids_of(kept, missing), str(uuid.uuid4())],), routing_key=QUEUE).get()
    assert summary == {"done": 1, "failed": 1, "skipped": 1, "retried": 0}
    assert queued_groups(redis_client, QUEUE) == []
