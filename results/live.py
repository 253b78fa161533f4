"""Live push of finished inspections to the line's dashboards over the Channels layer.

Delivery over the channel layer is at most once: a dashboard that was disconnected catches
up over REST. A failed push therefore never fails the inspection; it is logged.
"""

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from config.per_process import PerProcess

logger = logging.getLogger(__name__)

EVENT_TYPE = "inspection.finished"
SEND_TIMEOUT_SECONDS = 10


# One event loop per process, in its own thread, for every push from sync code. The Redis
# channel layer keeps its connections per event loop, so `async_to_sync` (a new loop per
# call) opened and closed a connection for every inspection; this loop keeps them.
def _start_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="kensa-live-push", daemon=True).start()
    return loop


_publisher_loop = PerProcess(_start_loop)


def line_group(line_code: str) -> str:
    return f"line.{line_code}"


def inspections_json(inspections: Sequence[Any]) -> list[dict[str, Any]]:
    """Inspections as plain JSON types (what the serializer gives, with dates as strings)."""
    from results.api.serializers import InspectionSerializer

    data: list[dict[str, Any]] = json.loads(
        json.dumps(InspectionSerializer(inspections, many=True).data, cls=DjangoJSONEncoder)
    )
    return data


def publish_inspections(*, inspection_ids: Sequence[uuid.UUID]) -> None:
    """Push finished inspections to their lines' dashboards: one read and one serialization
    for all of them, and all the sends at once on the push loop."""
    from results.selectors import inspections_with_results

    layer = get_channel_layer()
    if layer is None or not inspection_ids:
        return
    inspections = list(inspections_with_results().filter(id__in=list(inspection_ids)))
    messages = [
        (line_group(inspection.line.code), {"type": EVENT_TYPE, "inspection": data})
        for inspection, data in zip(inspections, inspections_json(inspections), strict=True)
    ]

    async def send_all() -> list[BaseException | None]:
        sends = (layer.group_send(group, message) for group, message in messages)
        return await asyncio.gather(*sends, return_exceptions=True)

    try:
        outcomes = asyncio.run_coroutine_threadsafe(send_all(), _publisher_loop.get()).result(
            timeout=SEND_TIMEOUT_SECONDS
        )
    except Exception:
        logger.exception("Live push of %d inspections failed; dashboards catch up over REST", len(messages))
        return
    for (group, _), outcome in zip(messages, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            logger.error("Live push to %s failed; dashboards catch up over REST: %r", group, outcome)
