"""The Celery app. Its configuration (queues, acks, beat schedule) lives in settings, CELERY_*.

`celery -A config worker -Q inspect.critical,inspect.high,inspect.normal,inspect.low,default`
is the worker's entry point; `celery -A config beat` runs the periodic jobs.
"""

import os
from typing import Any

import redis
from celery import Celery
from celery.signals import task_prerun
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("kensa")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after every task unless
# told to reuse them: a new PostgreSQL connection (a backend process forked) per inspection
# cost more CPU than the model. Reuse them; Django's own rules (CONN_MAX_AGE, health checks)
# decide when one is dropped, checked before each task below.
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000
app.autodiscover_tasks()


@task_prerun.connect
def drop_unusable_database_connections(**_: Any) -> None:
    """As Django does at each request: close connections past CONN_MAX_AGE or broken, and
    health-check the others before their first query."""
    from django.db import close_old_connections

    close_old_connections()


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
