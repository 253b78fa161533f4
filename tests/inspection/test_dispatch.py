"""The upload path's task message (inspection/ingest/dispatch.py) is the one Celery and kombu write."""

import base64
import json
import uuid

import pytest
import redis

from inspection.ingest import dispatch
from inspection.ingest.dispatch import send_inspections
from inspection.tasks import inspect_images
from tests.messages import queued_groups

QUEUE = "inspect.normal"
# What differs between any two messages: their own ids.
PER_MESSAGE = {"headers": ("id", "root_id"), "properties": ("correlation_id", "delivery_tag")}


def without_ids(message: dict) -> dict:
    message = json.loads(json.dumps(message))
    for part, names in PER_MESSAGE.items():
        for name in names:
            assert message[part].pop(name), f"{part}.{name} is missing"
    return message


def body_of(message: dict) -> list:
    assert message["properties"]["body_encoding"] == "base64"
    return json.loads(base64.b64decode(message["body"]))


@pytest.fixture
def queue(redis_client):
    redis_client.delete(QUEUE)
    yield QUEUE
    redis_client.delete(QUEUE)


def test_message_is_what_apply_async_sends(redis_client, queue):
    group = [uuid.uuid4(), uuid.uuid4()]
    inspect_images.apply_async(args=([str(inspection_id) for inspection_id in group],), queue=queue, retry=False)
    send_inspections([(inspection_id, queue) for inspection_id in group])
    assert redis_client.llen(queue) == 2
    ours, celerys = (json.loads(raw) for raw in redis_client.lrange(queue, 0, -1))  # LPUSH: newest first

    expected_args = [[str(inspection_id) for inspection_id in group]]
    assert body_of(ours) == body_of(celerys) == [expected_args, {}, body_of(celerys)[2]]
    assert {key: value for key, value in without_ids(ours).items() if key != "body"} == {
        key: value for key, value in without_ids(celerys).items() if key != "body"
    }
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    assert ours["headers"]["id"] != celerys["headers"]["id"]


def test_each_message_has_its_own_task_id(redis_client, queue):
    send_inspections([(uuid.uuid4(), queue), (uuid.uuid4(), queue)], group_size=1)
    ids = {json.loads(raw)["headers"]["id"] for raw in redis_client.lrange(queue, 0, -1)}
    assert len(ids) == 2


def test_inspections_share_messages_of_up_to_the_group_size_per_queue_first_sent_first_taken(
    redis_client, queue, settings
):
    other = "inspect.low"
    redis_client.delete(other)
    settings.KENSA_TASK_GROUP_SIZE = 2
    first, second, third, elsewhere = (uuid.uuid4() for _ in range(4))
    send_inspections([(first, queue), (elsewhere, other), (second, queue), (third, queue)])
    assert queued_groups(redis_client, queue) == [[str(first), str(second)], [str(third)]]
    assert queued_groups(redis_client, other) == [[str(elsewhere)]]
    redis_client.delete(other)


def test_a_push_after_redis_dropped_the_connection_lands_on_a_new_one(redis_client, queue):
    first, later = uuid.uuid4(), uuid.uuid4()
    send_inspections([(first, queue)])
    # Redis closes the door's pooled connection, as a restart does.
    assert redis_client.client_kill_filter(_id=dispatch._broker.get().client_id()) == 1
    send_inspections([(later, queue)])
    assert queued_groups(redis_client, queue) == [[str(first)], [str(later)]]


def test_an_error_reply_raises_and_the_next_push_goes_through(redis_client, queue):
    other = "inspect.low"
    redis_client.set(other, "not a list")
    try:
        with pytest.raises(redis.ResponseError):  # LPUSH onto a string
            send_inspections([(uuid.uuid4(), other), (uuid.uuid4(), queue)])
        redis_client.delete(other)
        later = uuid.uuid4()
        send_inspections([(later, other)])
        assert queued_groups(redis_client, other) == [[str(later)]]
    finally:
        redis_client.delete(other)
