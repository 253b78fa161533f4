"""The Celery app. Its configuration (queues, acks, beat schedule) lives in settings, CELERY_*.

`celery -A config worker -Q inspect.critical,inspect.high,inspect.normal,inspect.low,default`
is the worker's entry point; `celery -A config beat` runs the periodic jobs.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("kensa")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
