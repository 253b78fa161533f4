"""Which inspections the broker still holds a message for: what the sweeper must not send again.

Read from Redis as kombu's Redis transport keeps it (the envelope inspection/ingest/dispatch.py
writes): each queue is a list of envelopes, a message a worker has taken but not acknowledged
is in the hash `unacked` until it is (or until the visibility timeout sends it back), and a
message's inspection ids are the task's first argument, in the base64 body. Only messages of
the inspection tasks count; anything unreadable counts as absent, which at worst sends an
inspection once more (harmless: claims are conditional).
"""

import base64
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from inspection.ingest.dispatch import TASK_NAME, broker_client
from inspection.per_process import PerProcess
from inspection.queues import INSPECTION_QUEUES

# The task of an earlier release, still read (inspection/tasks.py).
TASK_NAMES = frozenset({TASK_NAME, "inspection.tasks.inspect_image"})
# kombu's Redis transport: a message of priority p > 0 waits in the list "<queue>\x06\x16<p>".
PRIORITY_SEPARATOR, PRIORITY_STEPS = "\x06\x16", (0, 3, 6, 9)
UNACKED_KEY = "unacked"
PAGE = 1000  # envelopes per LRANGE: about 1.5 MB, one round trip each
SOCKET_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Held:
    """The inspections with a message in Redis: `waiting` in a queue, or `reserved` by a worker
    (taken, not yet acknowledged)."""

    waiting: frozenset[uuid.UUID]
    reserved: frozenset[uuid.UUID]


_broker = PerProcess(lambda: broker_client(SOCKET_TIMEOUT_SECONDS))


def inspections_held() -> Held:
    """Every inspection id in a message in the inspection queues or in the unacked hash. Costs
    one read of each queue (about 20 µs of CPU a message), which the lines' queue limits bound.
    Raises redis.RedisError.

    The queues are read before the unacked hash, and a list from its head (LPUSH end) in
    pages: a message moving meanwhile (taken, or restored) may be missed, never seen where it
    is not; so a miss sends an inspection once more, and nothing is ever held back."""
    client = _broker.get()
    waiting: set[uuid.UUID] = set()
    for queue in INSPECTION_QUEUES:
        for key in (queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS[1:])):
            for start in range(0, 1 << 62, PAGE):
                page = client.lrange(key, start, start + PAGE - 1)
                waiting.update(_ids(page))
                if len(page) < PAGE:
                    break
    reserved = _ids(json.loads(entry)[0] for entry in client.hvals(UNACKED_KEY))
    return Held(waiting=frozenset(waiting), reserved=frozenset(reserved))


def _ids(envelopes: Iterable[bytes | str | dict]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for envelope in envelopes:
        found.update(_envelope_ids(envelope))
    return found


def _envelope_ids(envelope: bytes | str | dict) -> Iterator[uuid.UUID]:
    try:
        message = envelope if isinstance(envelope, dict) else json.loads(envelope)
        if message["headers"]["task"] not in TASK_NAMES:
            return
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _embed = json.loads(body)
        ids = args[0] if args else next(iter(kwargs.values()))
        for value in ids if isinstance(ids, list) else [ids]:
            yield uuid.UUID(value)
    except (ValueError, TypeError, KeyError, IndexError, StopIteration, AttributeError):
        return  # not an inspection message as Kensa writes it: counts as absent
