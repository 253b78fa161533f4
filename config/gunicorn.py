"""gunicorn settings for the upload API (docker/compose.yaml's `ingest` service, bench/ingest.py).

The upload API is plain request/response work, so it runs under WSGI: Django costs several
times more CPU per request under ASGI. daphne keeps the pages and WebSockets. Worker count
and type were chosen by measurement (bench/ingest.py, see README).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8001")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Keep connections from stations open between uploads; a camera sends one every second or so.
keepalive = 30
# A slow station must not hold a worker forever.
timeout = 60
graceful_timeout = 30
accesslog = None
