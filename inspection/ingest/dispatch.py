"""Send inspections' Celery tasks to Redis with one command, from the upload path.

`apply_async` cost as much CPU per upload as the rest of accepting the image (docs/performance.md#ingest):
for every message kombu's Redis transport builds a new Redis client (redis-py fills a table
of about 170 response callbacks each time) and Celery routes, signals and wraps it. The door
knows its queue already. So the message is built by Celery itself (`as_task_v2`, the same
headers and body a worker expects), put in the envelope kombu's Redis transport uses, and
pushed with LPUSH to the key kombu reads that queue from, on one connection pool per process.

Inspections accepted together go out together: one message carries up to
KENSA_TASK_GROUP_SIZE of them (inspection.tasks.inspect_images), because a worker's cost per
message (kombu's reserve and ack, Celery's bookkeeping) was a third of its Python time.

Only the envelope is ours. tests/inspection/test_dispatch.py holds it against the one kombu
writes for the same task, and the integration tests run what this sends through real workers.
The sweeper and QA's re-queue send through here too, one inspection per message; retries,
the split of a group that came back (inspection/tasks.py) and beat keep `apply_async`.
"""

import base64
import json
import uuid

import redis
from celery import current_app as app
from celery.utils.nodenames import anon_nodename
from django.conf import settings

from inspection.per_process import PerProcess

TASK_NAME = "inspection.tasks.inspect_images"
# kombu's Redis transport keeps priority-0 messages under the queue's own name; Kensa sends no
# per-message priorities (lines are prioritised by queue, inspection/queues.py).
DEFAULT_PRIORITY = 0
# A publish must fail fast when Redis is away: the upload is committed and the sweeper sends
# its task again (services.inspection_enqueue), so the station should not wait on the broker.
SOCKET_TIMEOUT_SECONDS = 2.0


def broker_client(timeout: float) -> redis.Redis:
    """A client of the broker's Redis whose calls give up after `timeout` seconds."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


_broker = PerProcess(lambda: broker_client(SOCKET_TIMEOUT_SECONDS))
_origin = PerProcess(anon_nodename)  # this host and process, as Celery names a sender


def inspection_message(inspection_ids: list[uuid.UUID], queue: str) -> bytes:
    """The task message for `inspect_images(inspection_ids)` on `queue`, as kombu stores it."""
    task_id = str(uuid.uuid4())
    args = ([str(inspection_id) for inspection_id in inspection_ids],)
    task = app.amqp.as_task_v2(
        task_id,
        TASK_NAME,
        args=args,
        kwargs={},
        # What Celery would compute, without its safe-repr machinery: a list of UUID strings'
        # repr is safe.
        argsrepr=repr(args),
        kwargsrepr="{}",
        origin=_origin.get(),
        ignore_result=app.conf.task_ignore_result,
        reply_to=app.thread_oid,
    )
    body = json.dumps(task.body).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": task.headers,
        "properties": {
            **task.properties,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": DEFAULT_PRIORITY,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


def send_inspections(tasks: list[tuple[uuid.UUID, str]], *, group_size: int | None = None) -> None:
    """Queue many inspections' tasks, (inspection id, queue) each, in messages of up to
    `group_size` inspections (KENSA_TASK_GROUP_SIZE by default) with one LPUSH per queue, all
    in one round trip. LPUSH of several values pushes them in order and workers take from the
    other end, so the first sent is the first taken. Raises redis.RedisError."""
    if group_size is None:
        group_size = settings.KENSA_TASK_GROUP_SIZE
    by_queue: dict[str, list[uuid.UUID]] = {}
    for inspection_id, queue in tasks:
        by_queue.setdefault(queue, []).append(inspection_id)
    pipeline = _broker.get().pipeline(transaction=False)
    for queue, inspection_ids in by_queue.items():
        groups = [inspection_ids[start : start + group_size] for start in range(0, len(inspection_ids), group_size)]
        pipeline.lpush(queue, *(inspection_message(group, queue) for group in groups))
    pipeline.execute()
