"""ASGI entry point of the upload API: what the ingest server (gunicorn with uvicorn workers,
config/gunicorn.py, KENSA_ROLE=ingest) runs.

Direct uploads (`POST /api/v1/inspections/`) go to their door on the event loop
(inspection/ingest/door.py): no middleware, URL resolution or thread per request, and the rows
of concurrent uploads committed together. Everything else the ingest role serves (tus at
/api/v1/uploads/, /ready, /health, /metrics) goes to Django's own ASGI handler.
"""

import gc
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from inspection.ingest import door  # noqa: E402 - Django must be set up first

UPLOAD_PATH = "/api/v1/inspections/"


async def application(scope: dict[str, Any], receive: door.Receive, send: door.Send) -> None:
    if scope["type"] == "http" and door.head_too_large(scope, limit=settings.KENSA_MAX_HEADER_BYTES):
        # httptools (uvicorn's parser) sets no limit of its own: an 8 MB header was accepted.
        await door.refuse_head(send, limit=settings.KENSA_MAX_HEADER_BYTES)
    elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == UPLOAD_PATH:
        await door.upload(scope, receive, send)
    elif scope["type"] == "http" and (refusal := door.refusal_at_headers(scope)) is not None:
        await door.send_error(send, refusal, door.cors_headers(scope["headers"]))
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await django_application(scope, receive, send)


async def _lifespan(receive: door.Receive, send: door.Send) -> None:
    """Django's handler refuses the lifespan protocol; there is nothing to set up or close."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# Everything imported so far lives as long as the process. Moving it out of the cyclic garbage
# collector's generations keeps each full collection from walking Django's whole object graph
# while uploads wait on the loop.
gc.collect()
gc.freeze()
