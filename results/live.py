"""Live push of finished inspections to the line's dashboards over the Channels layer.

Delivery over the channel layer is at most once: a dashboard that was disconnected catches
up over REST. A failed push therefore never fails the inspection; it is logged.
"""

import asyncio
import json
import logging
import os
import threading
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

EVENT_TYPE = "inspection.finished"
SEND_TIMEOUT_SECONDS = 10

# One event loop per process, in its own thread, for every push from sync code. The Redis
# channel layer keeps its connections per event loop, so `async_to_sync` (a new loop per
# call) opened and closed a connection for every inspection; this loop keeps them.
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked child does not inherit the thread
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="kensa-live-push", daemon=True).start()
        return _loop


def line_group(line_code: str) -> str:
    return f"line.{line_code}"


def inspection_json(inspection: Any) -> dict[str, Any]:
    """The inspection as plain JSON types (what the serializer gives, with dates as strings)."""
    from results.api.serializers import InspectionSerializer

    data: dict[str, Any] = json.loads(json.dumps(InspectionSerializer(inspection).data, cls=DjangoJSONEncoder))
    return data


def publish_inspection(*, inspection_id: uuid.UUID) -> None:
    from results.selectors import inspection_get

    inspection = inspection_get(inspection_id)
    if inspection is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": EVENT_TYPE, "inspection": inspection_json(inspection)}
    try:
        sent = asyncio.run_coroutine_threadsafe(
            layer.group_send(line_group(inspection.line.code), message), _publisher_loop()
        )
        sent.result(timeout=SEND_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Live push of inspection %s failed; dashboards catch up over REST", inspection_id)
