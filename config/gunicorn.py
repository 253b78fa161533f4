"""gunicorn settings for the upload API (docker/compose.yaml's `ingest` service, bench/ingest.py):

    gunicorn -c config/gunicorn.py config.ingest:application

gunicorn manages the processes (restarts, graceful shutdown, the metrics hooks below); each
runs uvicorn's event loop (uvloop, and httptools to parse HTTP), where direct uploads go to
their door (inspection/ingest/door.py). daphne keeps the pages and WebSockets. The worker count
and type were chosen by measurement (bench/ingest.py, see docs/performance.md#ingest).
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8001")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "uvicorn_worker.UvicornWorker")
# Keep connections from stations open between uploads; a camera sends one every second or so.
keepalive = 30
# A slow station must not hold a worker forever.
timeout = 60
graceful_timeout = 30
accesslog = None

# Every worker's metrics in one /metrics answer (prometheus_client's multiprocess mode).
# Without it a scrape reads whichever worker answers, so counters jump between the workers'
# values and a rate() means nothing. Each worker keeps its values in files in this directory;
# it must be named before a worker imports prometheus_client, hence here, in the master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="kensa-ingest-metrics-")
    # Made here, so removed when the server exits (on_exit); one named by the environment stays.
    # Kept in the environment, not in this module: a reload runs this file again.
    os.environ["KENSA_MADE_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server: Any) -> None:
    """A new server's counters start at zero, as one process's do: drop an earlier run's files."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's counters stay in the sum; its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """A server that made its metrics directory leaves none behind in /tmp."""
    made = os.environ.get("KENSA_MADE_METRICS_DIR")
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)
