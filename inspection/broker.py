"""The Celery broker's Redis transport, as Kensa's workers use it (settings.CELERY_BROKER_TRANSPORT)."""

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


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

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("the channel's broker connection is closed")
        # celery-types' stub of the transport leaves out its private methods.
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with RedisChannel; settings.CELERY_BROKER_TRANSPORT names it."""

    Channel = RedisChannel
