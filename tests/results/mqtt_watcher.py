"""A subscriber as a plant's MES would run one: paho-mqtt, QoS 1, resubscribing after every
reconnect, keeping every message it receives (duplicates included)."""

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TOPICS = [("kensa/+/results", 1), ("kensa/status/#", 1)]


class Watcher:
    def __init__(self, port: int, *, username: str = "watcher", password: str = "watch-pw", ca_file: str | None = None):
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
        self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async("localhost" if ca_file else "127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the watcher did not subscribe"

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe(TOPICS)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def results(self) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith("/results")]

    def result_ids(self) -> list[str]:
        """The ids of the results received, in order of arrival, duplicates included."""
        return [json.loads(m.payload)["id"] for m in self.results()]

    def statuses(self, name: str = "kensa") -> list[str]:
        with self._lock:
            return [m.payload.decode() for m in self.messages if m.topic == f"kensa/status/{name}"]

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic: str, *, username: str = "watcher", password: str = "watch-pw") -> str | None:
    """What a subscriber that connects now is handed as `topic`'s retained message (None: none)."""
    received: list[mqtt.MQTTMessage] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"peek-{time.monotonic_ns()}")
    client.username_pw_set(username, password)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    # The broker sends retained messages right after SUBACK; a short wait after it catches them.
    client.on_subscribe = lambda *_: threading.Timer(0.5, done.set).start()

    def keep(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received.append(message)
        done.set()

    client.on_message = keep
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        assert done.wait(10), f"no answer to a subscription to {topic}"
    finally:
        client.disconnect()
        client.loop_stop()
    kept = [m for m in received if m.retain]
    return kept[0].payload.decode() if kept else None
