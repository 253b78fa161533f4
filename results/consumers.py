"""The live feed of a line: `/ws/lines/<line code>/` sends every finished inspection as JSON."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lines.models import ProductionLine
from lines.selectors import line_limited, visible_line_ids_for_user
from results.live import line_group

# Close codes in the 4000 range are the application's own (RFC 6455 §7.4.2).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNKNOWN_LINE = 4404


@database_sync_to_async
def _line_visible(code: str, user: Any) -> bool:
    """The line exists and the user sees it (lines.selectors): a line hidden from the user is
    refused as an unknown one, so its code cannot be probed."""
    lines = line_limited(ProductionLine.objects.filter(code=code), visible_line_ids_for_user(user), "id")
    return lines.exists()


class LineFeedConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        code = self.scope["url_route"]["kwargs"]["line_code"]
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await _line_visible(code, user):
            await self.close(code=CLOSE_UNKNOWN_LINE)
            return
        self.group = line_group(code)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "line": code})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The feed is one-way; anything a client sends is ignored."""

    async def inspections_finished(self, event: dict[str, Any]) -> None:
        """A round of the line's finished inspections (results.live): one message each."""
        for inspection in event["inspections"]:
            await self.send_json({"type": "inspection", "inspection": inspection})

    async def inspection_finished(self, event: dict[str, Any]) -> None:
        """One finished inspection, as a worker of the previous release sends it."""
        await self.inspections_finished({"inspections": [event["inspection"]]})
