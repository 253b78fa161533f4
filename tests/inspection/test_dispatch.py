"""The upload path's task message (inspection/dispatch.py) is the one Celery and kombu write."""

import base64
import json
import uuid

import pytest

from inspection.dispatch import send_inspections
from inspection.tasks import inspect_image

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
    inspection_id = uuid.uuid4()
    inspect_image.apply_async(args=(str(inspection_id),), queue=queue, retry=False)
    send_inspections([(inspection_id, queue)])
    assert redis_client.llen(queue) == 2
    ours, celerys = (json.loads(raw) for raw in redis_client.lrange(queue, 0, -1))  # LPUSH: newest first

    assert body_of(ours) == body_of(celerys) == [[str(inspection_id)], {}, body_of(celerys)[2]]
    assert {key: value for key, value in without_ids(ours).items() if key != "body"} == {
        key: value for key, value in without_ids(celerys).items() if key != "body"
    }
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    assert ours["headers"]["id"] != celerys["headers"]["id"]


def test_each_message_has_its_own_task_id(redis_client, queue):
    send_inspections([(uuid.uuid4(), queue), (uuid.uuid4(), queue)])
    ids = {json.loads(raw)["headers"]["id"] for raw in redis_client.lrange(queue, 0, -1)}
    assert len(ids) == 2


def test_a_group_goes_to_each_task_s_queue_first_sent_first_taken(redis_client, queue):
    other = "inspect.low"
    redis_client.delete(other)
    first, second, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    send_inspections([(first, queue), (elsewhere, other), (second, queue)])
    # Workers take from the right end (BRPOP): the first sent comes out first.
    taken = [body_of(json.loads(redis_client.rpop(queue)))[0] for _ in range(2)]
    assert taken == [[str(first)], [str(second)]]
    assert [body_of(json.loads(raw))[0] for raw in redis_client.lrange(other, 0, -1)] == [[str(elsewhere)]]
    redis_client.delete(other)
