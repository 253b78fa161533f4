"""Queue names. Inspections go to the queue of their line's priority; everything else to `default`.

Workers list the queues in this order and the Redis transport keeps that order
(`queue_order_strategy="priority"`): a worker takes from `inspect.critical` whenever it has
work there, and from `inspect.low` only when every queue before it is empty.
"""

INSPECTION_QUEUES: tuple[str, ...] = ("inspect.critical", "inspect.high", "inspect.normal", "inspect.low")
DEFAULT_QUEUE = "default"
ALL_QUEUES: tuple[str, ...] = (*INSPECTION_QUEUES, DEFAULT_QUEUE)


def inspection_queue(priority: str) -> str:
    """The queue for a line priority (`critical`, `high`, `normal`, `low`)."""
    name = f"inspect.{priority}"
    if name not in INSPECTION_QUEUES:
        raise ValueError(f"unknown line priority {priority!r}")
    return name
