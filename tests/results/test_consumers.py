"""The dashboards' WebSocket, through the real ASGI application and Redis channel layer."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from config.asgi import application
from results.consumers import CLOSE_UNAUTHENTICATED, CLOSE_UNKNOWN_LINE
from tests.factories import make_line, make_model, run_inspection
from tests.inspection.test_worker import accept

pytestmark = pytest.mark.django_db(transaction=True)


def run_inspection_and_close(inspection_id) -> None:
    """The worker's path in a thread of its own, whose connection must not outlive the test
    (it would keep the test database from being dropped)."""
    try:
        run_inspection(inspection_id)
    finally:
        connection.close()


def session_cookie() -> bytes:
    client = Client()
    client.force_login(get_user_model().objects.create_user("operator", password="x"))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(path: str, cookie: bytes | None = None, origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


def test_a_finished_inspection_reaches_the_lines_dashboards_only():
    line = make_line(code="press-7", model=make_model(always="scratch"))
    other = make_line(code="press-8")
    inspection = accept(line)
    cookie = session_cookie()

    async def scenario():
        watcher, bystander = communicator("/ws/lines/press-7/", cookie), communicator("/ws/lines/press-8/", cookie)
        assert (await watcher.connect())[0] and (await bystander.connect())[0]
        assert await watcher.receive_json_from() == {"type": "hello", "line": "press-7"}
        assert await bystander.receive_json_from() == {"type": "hello", "line": "press-8"}
        await asyncio.to_thread(run_inspection_and_close, inspection.id)  # commits, then publishes
        message = await watcher.receive_json_from(timeout=5)
        assert message["type"] == "inspection"
        assert message["inspection"]["id"] == str(inspection.id)
        assert message["inspection"]["verdict"] == "fail"
        assert message["inspection"]["defects"][0]["label"] == "scratch"
        assert await bystander.receive_nothing(timeout=0.5)
        await watcher.disconnect()
        await bystander.disconnect()

    asyncio.run(scenario())
    assert other.inspections.count() == 0


@pytest.fixture
def in_memory_layer(settings):
    """For the refusals, which never reach the layer: a Redis layer left listening when the
    event loop ends makes asyncio.run wait on its cancelled read."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_anonymous_clients_are_closed(in_memory_layer):
    make_line(code="press-9")

    async def scenario():
        socket = communicator("/ws/lines/press-9/")
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
        await socket.disconnect()  # end the application, or asyncio.run waits for it at exit

    asyncio.run(scenario())


def test_unknown_line_is_closed(in_memory_layer):
    cookie = session_cookie()

    async def scenario():
        socket = communicator("/ws/lines/no-such-line/", cookie)
        await socket.connect()
        assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_UNKNOWN_LINE}
        await socket.disconnect()

    asyncio.run(scenario())


def test_foreign_origin_is_refused(in_memory_layer):
    cookie = session_cookie()

    async def scenario():
        socket = communicator("/ws/lines/any/", cookie, origin=b"http://evil.example")
        connected, _ = await socket.connect()
        assert not connected
        await socket.wait(timeout=2)

    asyncio.run(scenario())
