"""The worker's Prometheus metrics: where an image's time goes, per line and priority.

A worker process serves them itself when KENSA_WORKER_METRICS_PORT is set (config/celery.py):
no web server runs there for django-prometheus to hang them on.
"""

from prometheus_client import Counter, Histogram

# From tens of milliseconds (an idle worker) to minutes (a low line behind a long flood).
_WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

QUEUE_WAIT_SECONDS = Histogram(
    "kensa_inference_queue_wait_seconds",
    "Seconds from an image's queueing to its message reaching a worker thread (the wait in Redis).",
    ["line", "priority"],
    buckets=_WAIT_BUCKETS,
)
WORKER_WAIT_SECONDS = Histogram(
    "kensa_inference_worker_wait_seconds",
    "Seconds from an image's message reaching a worker thread to its forward pass starting: admission, "
    "claim, fetch and decode, and the wait for a place in a batch.",
    ["line", "priority"],
    buckets=_WAIT_BUCKETS,
)
EXPIRED = Counter(
    "kensa_inference_expired_total",
    "Images a worker expired before their forward pass: past their deadline, or unable to meet it.",
    ["line", "priority"],
)
BATCH_SIZE = Histogram(
    "kensa_inference_batch_size",
    "Images in one forward pass.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
FORWARD_SECONDS = Histogram(
    "kensa_inference_forward_seconds",
    "Seconds of one forward pass (a batch of one model's images).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
