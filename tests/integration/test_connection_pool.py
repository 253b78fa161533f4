"""daphne keeps a bounded pool of PostgreSQL connections (config/settings.py, KENSA_DB_POOL_SIZE):
with many dashboards open and uploads and API calls arriving at once, the connections it holds
stay within the pool's size, and each request either succeeds or is answered 503
database_unavailable with Retry-After, never left hanging (issue 22: 50 dashboards took 50-82
connections and reached PostgreSQL's limit). One connection and a 0.2 s pool timeout make the
pool run dry during the burst on any machine: every dashboard still gets its hello (the feed waits
for a connection, results/consumers.py), where a busy CI machine once saw one closed with 1011."""

import http.client
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import websockets.sync.client
from django.test import Client
from websockets.typing import Origin

from inspection.demo.feeder import multipart_body
from tests import processes
from tests.factories import jpeg_bytes, make_line, make_station
from tests.processes import process_env, start_daphne
from tests.users import make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

POOL_SIZE = 1
DASHBOARDS = 40
REQUESTS = 40


def held_connections(application_name: str) -> int:
    with psycopg.connect(processes.test_database_url(), autocommit=True) as db:
        row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return int(row.fetchone()[0])  # type: ignore[index]


def test_daphne_holds_no_more_connections_than_its_pool_under_many_clients(process_logs):
    application_name = f"kensa-pool-test-{os.getpid()}"
    line = make_line(code="pool-line")
    _, key = make_station(line)
    client = Client()
    client.force_login(make_user("pool-operator"))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    env = process_env(KENSA_DB_POOL_SIZE=str(POOL_SIZE), KENSA_DB_POOL_TIMEOUT="0.2", PGAPPNAME=application_name)
    daphne = start_daphne(env, process_logs, name="daphne-pool")

    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, held_connections(application_name))
            time.sleep(0.05)

    def dashboard(_: int) -> str:
        socket = websockets.sync.client.connect(
            f"ws://127.0.0.1:{daphne.port}/ws/lines/pool-line/",
            additional_headers={"Cookie": cookie},
            origin=Origin("http://127.0.0.1"),
            open_timeout=30,
            legacy=True,  # a plain connection, not the reconnecting iterator
        )
        hello = json.loads(socket.recv(timeout=30))
        sockets.append(socket)
        return str(hello["type"])

    def call(index: int) -> tuple[int, str | None, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", daphne.port, timeout=30)
        try:
            if index % 2:
                connection.request("GET", "/ready")
            else:
                body, content_type = multipart_body(
                    {"serial": f"POOL-{index}"},
                    filename="a.jpg",
                    content=jpeg_bytes(seed=index),
                    content_type="image/jpeg",
                )
                headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
                connection.request("POST", "/api/v1/inspections/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheader("Retry-After"), json.loads(response.read())
        finally:
            connection.close()

    sockets: list = []
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=DASHBOARDS + REQUESTS) as pool:
            opened = pool.map(dashboard, range(DASHBOARDS))
            answers = list(pool.map(call, range(REQUESTS)))
            hellos = list(opened)
        after_dashboards = list(pool_free_calls(call))
    finally:
        done.set()
        watcher.join()
        for socket in sockets:
            socket.close()
        daphne.stop()

    assert hellos == ["hello"] * DASHBOARDS
    assert 0 < peak <= POOL_SIZE, peak
    for status, retry_after, body in answers:
        assert status in (200, 202) or (status == 503 and retry_after), (status, body)
        if status == 503 and "error" in body:
            assert body["error"]["code"] == "database_unavailable"
    assert any(status == 202 for status, _, _ in answers)
    assert [status for status, _, _ in after_dashboards] == [202, 200]


def pool_free_calls(call):
    """Once the burst is over, requests are served again from the same pool."""
    yield call(0)
    yield call(1)
