"""Read back the inspection task messages waiting in a Redis queue, as workers would take them."""

import base64
import json

import redis


def queued_groups(broker: redis.Redis, queue: str) -> list[list[str]]:
    """The inspection ids of each message in `queue`, the next to be taken first (workers
    BRPOP from the right end)."""
    groups = []
    for raw in reversed(broker.lrange(queue, 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] in {"inspection.tasks.inspect_images", "inspection.tasks.inspect_image"}
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        [ids] = args
        groups.append(ids if isinstance(ids, list) else [ids])
    return groups
