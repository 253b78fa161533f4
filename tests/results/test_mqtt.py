"""MQTT push (results/mqtt/, docs/mqtt.md) against a real Mosquitto that the tests start, kill
and start again, and the publisher as a real process (`manage.py publish_mqtt`): every result
reaches a QoS 1 subscriber, in feed order per line once duplicates are dropped, whatever
happens to the broker or the publisher."""

import json
import threading
import time
from collections.abc import Iterator

import pytest

from inspection.constants import ErrorCode, Status
from inspection.lifecycle.finish import inspections_finish
from inspection.models import Inspection
from results.mqtt.models import MqttCursor
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.processes import Mosquitto, Process, process_env, start_mosquitto, start_mqtt_publisher
from tests.results.mqtt_watcher import Watcher, retained
from tests.threads import closing_connections

pytestmark = pytest.mark.django_db(transaction=True)

USERS = {"kensa": "kensa-pw", "watcher": "watch-pw"}


@pytest.fixture
def broker(tmp_path) -> Iterator[Mosquitto]:
    mosquitto = start_mosquitto(tmp_path, USERS)
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def watcher(broker) -> Iterator[Watcher]:
    subscriber = Watcher(broker.port)
    yield subscriber
    subscriber.close()


PUBLIC_URL = "https://kensa.plant.example"


def publisher(broker: Mosquitto, log_dir, name: str = "kensa", **env: str) -> Process:
    defaults = {
        "KENSA_MQTT_URL": f"mqtt://kensa:{USERS['kensa']}@127.0.0.1:{broker.port}",
        "KENSA_MQTT_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "DEBUG",
    }
    return start_mqtt_publisher(process_env(**{**defaults, **env}), log_dir, name)


def end(inspection: Inspection) -> None:
    """Finish an inspection as the worker's failures do: one transaction stamps its feed
    position (inspection.feed.position_expression()) and announces it."""
    inspections_finish(
        Inspection.objects.filter(id=inspection.id).waiting(),
        status=Status.FAILED,
        error_code=ErrorCode.IMAGE_DECODE_FAILED,
    )


def feed_order(line) -> list[str]:
    rows = Inspection.objects.filter(line=line, feed_position__isnull=False).order_by("feed_position", "id")
    return [str(row_id) for row_id in rows.values_list("id", flat=True)]


def first_seen(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def cursor_id(name: str = "kensa") -> str | None:
    cursor = MqttCursor.objects.filter(name=name).first()
    return None if cursor is None or cursor.inspection_id is None else str(cursor.inspection_id)


def newest_id() -> str:
    newest = Inspection.objects.filter(feed_position__isnull=False).order_by("-feed_position", "-id").first()
    assert newest is not None
    return str(newest.id)


def sent(process: Process) -> int:
    """Pages the publisher has handed to paho so far (its DEBUG log)."""
    return process.log.read_text().count("waiting for the broker's acknowledgements")


def test_every_result_arrives_in_feed_order_across_a_broker_restart(broker, watcher, tmp_path):
    lines = [make_line(code="mqtt-a"), make_line(code="mqtt-b")]
    before = [accept(line) for line in lines for _ in range(4)]
    unacknowledged = [accept(line) for line in lines for _ in range(3)]
    during = [accept(line) for _ in range(8) for line in lines]
    for row in before:
        end(row)  # finished before the publisher ever ran: a new cursor starts at the feed's beginning
    process = publisher(broker, tmp_path, KENSA_PUBLIC_URL=PUBLIC_URL)
    try:
        watcher.wait_until(lambda: set(watcher.result_ids()) >= {str(r.id) for r in before}, "the first results")
        watcher.wait_until(lambda: cursor_id() == newest_id(), "the cursor to pass the first results")
        # A broker that takes messages and answers nothing: the publisher sends this page into
        # it (0.1 s polls) and no acknowledgement comes back, so the cursor must stay.
        broker.freeze()
        held, pages_sent = cursor_id(), sent(process)
        for row in unacknowledged:
            end(row)
        time.sleep(1.0)
        assert sent(process) > pages_sent, "no page went to the frozen broker"
        assert cursor_id() == held, "the cursor moved past results no broker acknowledged"

        @closing_connections
        def finish_while_the_broker_restarts() -> None:
            for row in during:
                end(row)
                time.sleep(0.05)

        finisher = threading.Thread(target=finish_while_the_broker_restarts)
        finisher.start()
        watcher.subscribed.clear()
        # Killed without a goodbye, and started empty: the page it held unacknowledged is gone.
        # The new broker first lets in only the subscriber, so that it is listening again before
        # the publisher returns (a broker without persistence keeps no subscription either).
        broker.restart(allowed=["watcher"])
        assert watcher.subscribed.wait(15), "the watcher did not come back"
        time.sleep(1.0)  # the publisher is refused meanwhile
        assert cursor_id() == held, "the cursor moved while no broker acknowledged anything"
        broker.allow(["kensa", "watcher"])
        finisher.join()
        everything = {str(row.id) for row in before + unacknowledged + during}
        watcher.wait_until(lambda: set(watcher.result_ids()) >= everything, "every result")
        # The cursor follows the broker's last acknowledgements, a moment after the subscriber's copies.
        watcher.wait_until(lambda: cursor_id() == newest_id(), "the cursor to reach the newest result")
    finally:
        process.stop()

    assert process.popen.returncode == 0, process.tail()
    received = watcher.results()
    assert {m.qos for m in received} == {1}
    by_line: dict[str, list[str]] = {line.code: [] for line in lines}
    for message in received:
        payload = json.loads(message.payload)
        assert message.topic == f"kensa/{payload['line']}/results"
        assert payload["status"] == Status.FAILED and payload["error_code"] == ErrorCode.IMAGE_DECODE_FAILED
        # Links as integrations get them (docs/result-model.md): absolute, the image's signed.
        assert payload["url"] == f"{PUBLIC_URL}/api/v1/inspections/{payload['id']}/"
        assert payload["image_url"].startswith(f"{PUBLIC_URL}/api/v1/inspections/{payload['id']}/image?expires=")
        by_line[payload["line"]].append(payload["id"])
    for line in lines:
        assert first_seen(by_line[line.code]) == feed_order(line), f"line {line.code} out of feed order"


def test_status_is_online_the_last_will_says_offline_and_a_restart_resumes_at_the_cursor(broker, watcher, tmp_path):
    line = make_line(code="mqtt-c")
    first, second = [accept(line) for _ in range(3)], [accept(line) for _ in range(3)]
    for row in first:
        end(row)
    process = publisher(broker, tmp_path)
    killed = False
    try:
        watcher.wait_until(lambda: set(watcher.result_ids()) >= {str(r.id) for r in first}, "the first results")
        assert retained(broker.port, "kensa/status/kensa") == "online"
        watcher.wait_until(lambda: cursor_id() == str(first[-1].id), "the cursor to pass the first results")

        process.kill()  # SIGKILL: no goodbye, so the broker publishes the last will
        killed = True
        watcher.wait_until(lambda: watcher.statuses()[-1:] == ["offline"], "the last will")
        assert retained(broker.port, "kensa/status/kensa") == "offline"

        for row in second:
            end(row)
        process = publisher(broker, tmp_path)
        killed = False
        watcher.wait_until(lambda: set(watcher.result_ids()) >= {str(r.id) for r in second}, "the later results")
        assert retained(broker.port, "kensa/status/kensa") == "online"
    finally:
        if not killed:
            process.stop()  # SIGTERM
    assert process.popen.returncode == 0, process.tail()
    # The restarted publisher began after the cursor: nothing the broker had acknowledged went again.
    assert watcher.result_ids() == [str(row.id) for row in first + second]
    # A clean stop says offline itself (a clean disconnect does not fire the last will).
    watcher.wait_until(lambda: watcher.statuses()[-1:] == ["offline"], "the offline status on SIGTERM")
    assert retained(broker.port, "kensa/status/kensa") == "offline"
    assert "stopped at feed position" in process.tail()


def test_results_go_over_tls_to_a_broker_that_the_plants_own_ca_signed(tmp_path):
    broker = start_mosquitto(tmp_path, USERS, tls=True)
    ca_file = str(tmp_path / "mqtt-ca.pem")
    watcher = Watcher(broker.port, ca_file=ca_file)
    url = f"mqtts://kensa:{USERS['kensa']}@localhost:{broker.port}"
    untrusting = trusting = None
    try:
        line = make_line(code="mqtt-tls")
        rows = [accept(line) for _ in range(2)]
        for row in rows:
            end(row)
        # Without the plant's CA the broker's certificate is not trusted: no connection, nothing sent.
        untrusting = publisher(broker, tmp_path, name="untrusting", KENSA_MQTT_URL=url)
        watcher.wait_until(lambda: "Could not connect to the MQTT broker" in untrusting.tail(), "a refused handshake")
        untrusting.stop()
        assert cursor_id("untrusting") is None and watcher.result_ids() == []

        trusting = publisher(broker, tmp_path, name="trusting", KENSA_MQTT_URL=url, KENSA_MQTT_CA_FILE=ca_file)
        watcher.wait_until(lambda: watcher.result_ids() == [str(row.id) for row in rows], "the results over TLS")
        assert "Connected to the MQTT broker at mqtts://kensa@localhost" in trusting.tail()
    finally:
        for process in (untrusting, trusting):
            if process is not None:
                process.stop()
        watcher.close()
        broker.stop()
