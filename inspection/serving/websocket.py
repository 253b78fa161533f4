"""WebSocket paths that match no route: denied, not a 500 with a traceback.

Channels' URLRouter raises ValueError("No route found for path ...") for such a path; daphne
logs the traceback and answers the upgrade 500 (`/ws/lines/A_B/` in issue 22). Closing before
accepting is the ASGI way to deny the handshake: daphne answers it 403.
"""

import logging
from typing import Any

from channels.routing import URLRouter
from django.urls import Resolver404

logger = logging.getLogger(__name__)


class RoutedOrDenied(URLRouter):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            self._route(scope)
        except ValueError:
            logger.info("WebSocket refused: no route for %s", scope.get("path", "")[:200])
            await send({"type": "websocket.close", "code": 4404})
            return
        await super().__call__(scope, receive, send)

    def _route(self, scope: dict[str, Any]) -> None:
        """Raise ValueError as URLRouter would for a path no route matches (its matching, without
        calling the consumer: a ValueError from inside a consumer must stay its own)."""
        path = str(scope.get("path_remaining", scope.get("path", ""))).lstrip("/")
        for route in self.routes:
            try:
                if route.pattern.match(path):
                    return
            except Resolver404:
                pass
        raise ValueError(f"No route found for path {path!r}.")
