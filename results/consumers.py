"""The live feed of a line: `/ws/lines/<line code>/` sends every finished inspection as JSON.

A dashboard's database work happens when its feed opens, and again when its viewer's access
changes (results/live_access.py): who the viewer is (from the session cookie) and whether the
line is theirs, in one call and so one pooled connection
(config/settings.py, KENSA_DB_POOL_SIZE). Dashboards reopen together (after a restart of daphne,
a network blip on the shop floor) while uploads hold the pool, so the opening waits for a
connection rather than failing: a dashboard that opens a second later loses nothing, it catches
up over REST. Only a database that stays away closes the feed with 1013 Try Again Later, and the
dashboard reconnects with backoff.
"""

import asyncio
import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.sessions.backends.base import SessionBase
from django.db import InterfaceError, OperationalError

from lines.selectors import lines_visible_to
from results.live import line_group, viewer_group

logger = logging.getLogger(__name__)

# Close codes in the 4000 range are the application's own (RFC 6455 §7.4.2).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_UNKNOWN_LINE = 4404
# Registered for "the server is overloaded, try again later" (IANA WebSocket close codes).
CLOSE_TRY_AGAIN_LATER = 1013

SessionStore: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore

# How long an opening feed waits for the database: longer than a request's pool timeout, as
# nobody is blocked meanwhile (the browser shows "reconnecting").
DATABASE_PATIENCE_SECONDS = 30.0
FIRST_PAUSE_SECONDS = 0.1
LONGEST_PAUSE_SECONDS = 2.0


@database_sync_to_async
def viewer_and_visibility(scope: dict[str, Any], code: str) -> tuple[Any, bool]:
    """The session's user, and whether the line exists and is theirs (lines.selectors): a line
    hidden from the user is refused as an unknown one, so its code cannot be probed.

    The session is read afresh each time (a store keeps what it loaded): asked again after a
    sign-out, it has none."""
    session = SessionStore(session_key=scope["session"].session_key)
    user = get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]
    if not user.is_authenticated:
        return user, False
    return user, lines_visible_to(user).filter(code=code).exists()


async def when_database_answers(scope: dict[str, Any], code: str) -> tuple[Any, bool]:
    """viewer_and_visibility, tried again while the pool is exhausted (its timeout) or the
    connection dropped, for DATABASE_PATIENCE_SECONDS; then the last error is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DATABASE_PATIENCE_SECONDS
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            return await viewer_and_visibility(scope, code)
        except (OperationalError, InterfaceError):
            if loop.time() + pause >= deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)


class LineFeedConsumer(AsyncJsonWebsocketConsumer):
    """Its groups, the line's and the viewer's, are joined once the feed opens; Channels leaves
    them when it closes (websocket_disconnect)."""

    async def connect(self) -> None:
        await self.accept()
        if not await self.may_see_line():
            return
        user_id = self.scope["user"].pk
        for group in (line_group(self.line_code), viewer_group(user_id)):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)
        await self.send_json({"type": "hello", "line": self.line_code})

    @property
    def line_code(self) -> str:
        return str(self.scope["url_route"]["kwargs"]["line_code"])

    async def may_see_line(self) -> bool:
        """Whether the session's user may see the line; if not, the feed is closed with the
        reason's code (the dashboard reconnects only after 1013)."""
        try:
            user, visible = await when_database_answers(self.scope, self.line_code)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("Feed of %s closed, try again later: database unavailable (%s)", self.line_code, exc)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return False
        self.scope["user"] = user
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return False
        if not visible:
            await self.close(code=CLOSE_UNKNOWN_LINE)
            return False
        return True

    async def access_changed(self, event: dict[str, Any]) -> None:
        """What the viewer may see changed (results/live_access.py): the feed closes unless the
        line is still theirs, and at once if its own session signed out."""
        ended = event.get("ended_session")
        if ended is not None and ended == self.scope["session"].session_key:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.may_see_line()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The feed is one-way; anything a client sends is ignored."""

    async def inspections_finished(self, event: dict[str, Any]) -> None:
        """A round of the line's finished inspections (results.live): one message each."""
        for inspection in event["inspections"]:
            await self.send_json({"type": "inspection", "inspection": inspection})

    async def inspection_finished(self, event: dict[str, Any]) -> None:
        """One finished inspection, as a worker of the previous release sends it."""
        await self.inspections_finished({"inspections": [event["inspection"]]})
