"""The Celery app. Its configuration (queues, acks, beat schedule) lives in settings, CELERY_*.

`celery -A config worker -Q inspect.critical,inspect.high,inspect.normal,inspect.low,default`
is the worker's entry point, `celery -A config worker -Q notify` the webhook sender's (never the
inspection workers' queue: docs/webhooks.md); `celery -A config beat` runs the periodic jobs.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun, worker_init

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


@worker_init.connect
def serve_worker_metrics(**_: Any) -> None:
    """A worker has no web server for django-prometheus: with KENSA_WORKER_METRICS_PORT set it
    serves its own metrics (inspection/inference/metrics.py) there, from the worker's process."""
    from django.conf import settings

    if settings.KENSA_WORKER_METRICS_PORT:
        from prometheus_client import start_http_server

        start_http_server(settings.KENSA_WORKER_METRICS_PORT)
