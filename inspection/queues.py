"""Queue names. Inspections go to the queue of their line's priority; everything else to `default`,
except pushes to other systems (webhooks), which go to `notify`.

Workers list the queues in this order and the Redis transport keeps that order
(`queue_order_strategy="priority"`): a worker takes from `inspect.critical` whenever it has
work there, and from `inspect.low` only when every queue before it is empty.

`notify` is taken by workers of its own (`-Q notify`), never by inspection workers: a receiver
that answers slowly, or not at all, must never hold a thread that an inspection needs.
"""

INSPECTION_QUEUES: tuple[str, ...] = ("inspect.critical", "inspect.high", "inspect.normal", "inspect.low")
DEFAULT_QUEUE = "default"
NOTIFY_QUEUE = "notify"
# What an inspection worker listens to, in this order.
WORKER_QUEUES: tuple[str, ...] = (*INSPECTION_QUEUES, DEFAULT_QUEUE)
# Every queue Celery knows of (the broker refuses messages to any other).
ALL_QUEUES: tuple[str, ...] = (*WORKER_QUEUES, NOTIFY_QUEUE)


def inspection_queue(priority: str) -> str:
    """The queue for a line priority (`critical`, `high`, `normal`, `low`)."""
    name = f"inspect.{priority}"
    if name not in INSPECTION_QUEUES:
        raise ValueError(f"unknown line priority {priority!r}")
    return name
