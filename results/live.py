"""Live push of finished inspections to the line's dashboards over the Channels layer.

Delivery over the channel layer is at most once: a dashboard that was disconnected catches
up over REST. A failed push therefore never fails the inspection; it is logged.
"""

import asyncio
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from channels.layers import get_channel_layer

from inspection.payloads import InspectionPayload
from inspection.per_process import PerProcess

logger = logging.getLogger(__name__)

# A round's finished inspections of one line travel as one event (the consumer sends each
# as its own WebSocket message): a channel-layer send per inspection cost the worker as much
# CPU as writing the results (docs/performance.md#inference). The single-inspection
# event is still delivered, for messages sent by a worker of the previous release.
EVENT_TYPE = "inspections.finished"
SINGLE_EVENT_TYPE = "inspection.finished"
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


def viewer_group(user_id: int) -> str:
    """Every open feed of one user: told when what the user may see changes (results/live_access.py)."""
    return f"viewer.{user_id}"


def publish_json(inspections: Sequence[InspectionPayload]) -> None:
    """Push finished inspections to their lines' dashboards (subscribed to inspection.events
    in results/apps.py): one event per line, in the order given."""
    by_line: dict[str, list[InspectionPayload]] = {}
    for data in inspections:
        by_line.setdefault(data["line"], []).append(data)
    messages = [(line_group(line), {"type": EVENT_TYPE, "inspections": members}) for line, members in by_line.items()]
    send_to_groups(messages, f"Live push of {len(inspections)} inspections (dashboards catch up over REST)")


ACCESS_CHANGED_EVENT_TYPE = "access.changed"


def publish_access_changed(user_ids: Iterable[int], ended_session: str | None = None) -> None:
    """Tell the users' open feeds to check again whether they may still see their line
    (results/consumers.py); the feeds of `ended_session` (a sign-out) close without asking. At
    most once, like every push: a feed that misses it keeps its line until it reconnects."""
    event = {"type": ACCESS_CHANGED_EVENT_TYPE, "ended_session": ended_session}
    messages = [(viewer_group(user_id), event) for user_id in sorted(set(user_ids))]
    send_to_groups(messages, "Telling feeds of an access change")


def send_to_groups(messages: Sequence[tuple[str, dict[str, Any]]], what: str) -> None:
    """Every (group, message) at once on the push loop; a failure is logged, never raised (the
    push is at most once, and what it tells is also found another way)."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all() -> list[BaseException | None]:
        sends = (layer.group_send(group, message) for group, message in messages)
        return await asyncio.gather(*sends, return_exceptions=True)

    try:
        outcomes = asyncio.run_coroutine_threadsafe(send_all(), _publisher_loop.get()).result(
            timeout=SEND_TIMEOUT_SECONDS
        )
    except Exception:
        logger.exception("%s failed", what)
        return
    for (group, _), outcome in zip(messages, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            logger.error("%s to %s failed: %r", what, group, outcome)
