"""The dashboards' WebSocket, through the real ASGI application and Redis channel layer."""

import asyncio
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission
from django.db import OperationalError, connections
from django.test import Client

from config.asgi import application
from results import consumers
from results.consumers import CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHENTICATED, CLOSE_UNKNOWN_LINE
from results.live import SINGLE_EVENT_TYPE, line_group, publish_json
from tests.factories import make_line, make_model, run_inspection
from tests.inspection.test_worker import accept
from tests.threads import closing_connections
from tests.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def consumer_connections_closed():
    """The consumers reach the database on asgiref's own thread, whose connection Django keeps
    for CONN_MAX_AGE: left open, it would keep the test database from being dropped."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())


def session_cookie() -> bytes:
    client = Client()
    client.force_login(make_user("operator"))
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
        await asyncio.to_thread(closing_connections(run_inspection), inspection.id)  # commits, then publishes
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


def test_a_rounds_inspections_go_out_as_one_event_per_line_and_arrive_one_message_each():
    make_line(code="press-10")
    make_line(code="press-11")
    cookie = session_cookie()
    finished = [{"id": f"a-{n}", "line": "press-10"} for n in range(3)] + [{"id": "b-0", "line": "press-11"}]
    layer = get_channel_layer()
    sent_to: list[str] = []
    group_send = layer.group_send

    async def counted_group_send(group, message):
        sent_to.append(group)
        await group_send(group, message)

    async def scenario():
        first, second = communicator("/ws/lines/press-10/", cookie), communicator("/ws/lines/press-11/", cookie)
        assert (await first.connect())[0] and (await second.connect())[0]
        assert (await first.receive_json_from())["type"] == "hello"
        assert (await second.receive_json_from())["type"] == "hello"
        await asyncio.to_thread(publish_json, finished)  # type: ignore[arg-type]  # partial payloads suffice
        received = [await first.receive_json_from(timeout=5) for _ in range(3)]
        assert received == [{"type": "inspection", "inspection": data} for data in finished[:3]]
        assert await second.receive_json_from(timeout=5) == {"type": "inspection", "inspection": finished[3]}
        assert await first.receive_nothing(timeout=0.5)
        # A worker of the previous release sends one event per inspection: still delivered.
        await layer.group_send(line_group("press-11"), {"type": SINGLE_EVENT_TYPE, "inspection": {"id": "old"}})
        assert await second.receive_json_from(timeout=5) == {"type": "inspection", "inspection": {"id": "old"}}
        await first.disconnect()
        await second.disconnect()

    with mock.patch.object(layer, "group_send", counted_group_send):
        asyncio.run(scenario())
    # One channel-layer send per line for the round, not one per inspection.
    assert sorted(sent_to[:2]) == [line_group("press-10"), line_group("press-11")]
    assert len(sent_to) == 3  # and the old-style event sent by the test itself


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


def test_an_expiry_by_the_sweeper_reaches_the_lines_dashboard():
    """Every terminal transition goes through the one "finished" event, the sweeper's expiries
    included: a dashboard hears of them at once, not only after a reconnect."""
    from datetime import timedelta

    from django.utils import timezone

    from inspection.models import Inspection
    from inspection.tasks import sweep_inspections

    line = make_line(code="press-12", model=make_model(always="good"))
    late = accept(line)
    Inspection.objects.filter(id=late.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    cookie = session_cookie()

    async def scenario():
        watcher = communicator("/ws/lines/press-12/", cookie)
        assert (await watcher.connect())[0]
        assert (await watcher.receive_json_from())["type"] == "hello"
        swept = await asyncio.to_thread(closing_connections(sweep_inspections))
        assert swept["expired"] == 1
        message = await watcher.receive_json_from(timeout=5)
        assert message["type"] == "inspection"
        assert message["inspection"]["id"] == str(late.id)
        assert (message["inspection"]["status"], message["inspection"]["error_code"]) == (
            "expired",
            "deadline_exceeded",
        )
        await watcher.disconnect()

    asyncio.run(scenario())


def test_a_feed_opening_while_the_pool_is_exhausted_waits_for_a_connection_and_says_hello(monkeypatch):
    """What daphne's pool raises when every connection is lent out (KENSA_DB_POOL_TIMEOUT):
    the opening feed asks again instead of failing with 1011 (issue 22's connection test)."""
    make_line(code="press-20")
    cookie = session_cookie()
    real_lines_visible_to = consumers.lines_visible_to
    refusals: list[str] = []

    def exhausted_twice(*args, **kwargs):
        if len(refusals) < 2:
            refusals.append("refused")
            raise OperationalError("couldn't get a connection after 3.00 sec")
        return real_lines_visible_to(*args, **kwargs)

    monkeypatch.setattr(consumers, "lines_visible_to", exhausted_twice)

    async def scenario():
        feed = communicator("/ws/lines/press-20/", cookie)
        assert (await feed.connect())[0]
        assert await feed.receive_json_from(timeout=15) == {"type": "hello", "line": "press-20"}
        await feed.disconnect()

    asyncio.run(scenario())
    assert refusals == ["refused", "refused"]


def test_a_feed_whose_database_stays_away_closes_with_try_again_later(monkeypatch):
    make_line(code="press-21")
    cookie = session_cookie()

    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(consumers, "lines_visible_to", unavailable)
    monkeypatch.setattr(consumers, "DATABASE_PATIENCE_SECONDS", 0.5)

    async def scenario():
        feed = communicator("/ws/lines/press-21/", cookie)
        assert (await feed.connect())[0]
        closed = await feed.receive_output(timeout=15)
        assert closed == {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER}
        await feed.wait()

    asyncio.run(scenario())


def test_a_feed_closes_when_its_viewer_loses_the_line_and_the_others_stay_open():
    """results/live_access.py: an open dashboard follows its viewer's line access."""
    kept, lost = make_line(code="press-30"), make_line(code="press-31")
    operator = make_user("moved-operator", lines=[kept, lost])
    client = Client()
    client.force_login(operator)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    colleague = session_cookie()  # sees every line

    def move_off_the_line() -> None:
        operator.line_access.lines.remove(lost)

    async def scenario():
        on_kept, on_lost = communicator("/ws/lines/press-30/", cookie), communicator("/ws/lines/press-31/", cookie)
        colleagues = communicator("/ws/lines/press-31/", colleague)
        for feed in (on_kept, on_lost, colleagues):
            assert (await feed.connect())[0]
            assert (await feed.receive_json_from(timeout=15))["type"] == "hello"
        await asyncio.to_thread(closing_connections(move_off_the_line))
        assert await on_lost.receive_output(timeout=15) == {"type": "websocket.close", "code": CLOSE_UNKNOWN_LINE}
        after: Any = [{"id": "after", "line": "press-30"}, {"id": "after", "line": "press-31"}]  # partial payloads
        await asyncio.to_thread(publish_json, after)
        assert (await on_kept.receive_json_from(timeout=15))["inspection"]["id"] == "after"
        assert (await colleagues.receive_json_from(timeout=15))["inspection"]["id"] == "after"
        for feed in (on_kept, on_lost, colleagues):
            await feed.disconnect()

    asyncio.run(scenario())


@pytest.mark.parametrize("change", ["deactivated", "signed out"])
def test_a_feed_closes_when_its_viewer_is_deactivated_or_signs_out(change):
    make_line(code="press-32")
    operator = make_user("leaving-operator")
    client = Client()
    client.force_login(operator)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    def make_the_change() -> None:
        if change == "deactivated":
            operator.is_active = False
            operator.save()
        else:
            client.logout()

    async def scenario():
        feed = communicator("/ws/lines/press-32/", cookie)
        assert (await feed.connect())[0]
        assert (await feed.receive_json_from(timeout=15))["type"] == "hello"
        await asyncio.to_thread(closing_connections(make_the_change))
        assert await feed.receive_output(timeout=15) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
        await feed.disconnect()

    asyncio.run(scenario())


def test_a_feed_closes_when_its_viewer_leaves_the_group_that_saw_every_line():
    make_line(code="press-33")
    admin = make_user("former-plant-admin", lines=None)  # no line access record of their own
    # As the plant admins' group (results/migrations/0007_role_groups.py), made here: a
    # transactional test before this one may have emptied the tables.
    plant_admins = Group.objects.create(name="Sees every line")
    plant_admins.permissions.add(Permission.objects.get(content_type__app_label="lines", codename="see_every_line"))
    admin.groups.add(plant_admins)
    client = Client()
    client.force_login(admin)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        feed = communicator("/ws/lines/press-33/", cookie)
        assert (await feed.connect())[0]
        assert (await feed.receive_json_from(timeout=15))["type"] == "hello"
        await asyncio.to_thread(closing_connections(plant_admins.user_set.remove), admin)
        assert await feed.receive_output(timeout=15) == {"type": "websocket.close", "code": CLOSE_UNKNOWN_LINE}
        await feed.disconnect()

    asyncio.run(scenario())
