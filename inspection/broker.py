"""The Celery broker's Redis transport, as Kensa's workers use it (settings.CELERY_BROKER_TRANSPORT)."""

from time import monotonic
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from inspection.inference.admission import may_take, queue_rank

# While a queue is held back, a BRPOP on the others returns after this many seconds, so a
# place freed for the held queue is seen soon (a full BRPOP timeout is a second).
HELD_BACK_POLL_SECONDS = 0.05


class RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, which reports a channel left behind by a closed connection as a
    lost connection instead of crashing the worker.

    When Redis goes away, Celery's consumer collects its connection: the transport closes
    each channel, and closing one restores its unacknowledged messages, which fails with a
    ConnectionError while Redis is down. That error ends the transport's loop over the
    channels, so the rest stay open, and the transport is then detached from its connection
    (`client = None`). The next thing that touches one of them (closing it on the consumer's
    restart, a pool thread acknowledging a finished task) builds a new Redis pool from the
    missing client and raised AttributeError ('NoneType' object has no attribute 'hostname'):
    an "Unrecoverable error" that stopped the worker (issue #23, the N=10,000 chaos run).
    As a ConnectionError it is what it is, a lost connection: Celery reconnects, the channel's
    messages stay in Redis's unacked hash and come back after the visibility timeout.
    tests/config/test_celery_transport.py shows it against a Redis that is killed.
    """

    # --- priority lanes ----------------------------------------------------------------------
    # Redis's queue order decides which message comes next, but only once the worker has a
    # free place in its prefetch window; a flood of low-line messages took every place, and a
    # critical message then waited for a whole batch to finish (issue #26). So a queue is
    # left out of the BRPOP while the messages the worker holds reach its priority's level
    # (inspection/inference/admission.py): the places above it stay free for more urgent
    # queues. kombu has no hook for this; `_brpop_start` below is kombu 5.7's own with the
    # queue list filtered (requirements.txt pins kombu).

    def _held_by_queue(self) -> dict[str, int]:
        """The messages this channel has delivered and not yet had acknowledged, per queue."""
        qos = self.qos
        dirty = set(qos._dirty or ())
        held: dict[str, int] = {}
        # list(): pool threads acknowledge (and so remove entries) while this reads.
        for tag, message in list((qos._delivered or {}).items()):
            if tag not in dirty:
                queue = (message.delivery_info or {}).get("routing_key") or ""
                held[queue] = held.get(queue, 0) + 1
        return held

    def _open_queues(self, queues: list[str]) -> list[str]:
        """The queues whose priority may take one more message now."""
        total = self.qos.prefetch_count
        client = self.connection.client if self.connection is not None else None
        reserve = int(
            ((client.transport_options if client is not None else None) or {}).get("kensa_priority_reserve", 0)
        )
        if not total or not reserve:
            return queues
        in_use = sum(self._held_by_queue().values())
        return [q for q in queues if may_take(queue_rank(q), 1, in_use=in_use, total=total, reserve=reserve)]

    def _brpop_start(self, timeout: float | None = None) -> None:
        if timeout is None:
            timeout = self.brpop_timeout
        queues = self._queue_cycle.consume(len(self.active_queues))  # type: ignore[attr-defined]
        if not queues:
            return
        open_queues = self._open_queues(list(queues))
        if not open_queues:
            return
        if len(open_queues) < len(queues):
            timeout = min(timeout or HELD_BACK_POLL_SECONDS, HELD_BACK_POLL_SECONDS)
        keys: list[Any] = [self._q_for_pri(q, pri) for pri in self.priority_steps for q in open_queues]  # type: ignore[attr-defined]
        keys.append(timeout or 0)
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()
        command_args = ["BRPOP", *keys]
        if self.global_keyprefix:
            command_args = self.client._prefix_args(command_args)
        self.client.connection.send_command(*command_args)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("the channel's broker connection is closed")
        # celery-types' stub of the transport leaves out its private methods.
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with RedisChannel; settings.CELERY_BROKER_TRANSPORT names it."""

    Channel = RedisChannel
