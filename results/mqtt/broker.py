"""The connection to the plant's MQTT broker: paho-mqtt's client, with its network thread,
reconnection with backoff, and the publisher's retained status topic.

The status topic says whether a publisher is running: `online` (retained) once connected,
`offline` (retained) as its last will, which the broker publishes when the connection breaks
without a goodbye (a killed process, a lost network), and `offline` again on a clean stop.
"""

import logging
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

logger = logging.getLogger(__name__)

ONLINE = "online"
OFFLINE = "offline"
# Seconds between reconnection attempts: from the first, doubling up to the last (paho's backoff).
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 30
# A broker hears nothing from an idle publisher for this long before it pings; a broker that
# stops answering is noticed within 1.5 times this, and the last will published then.
KEEPALIVE_SECONDS = 30


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "BrokerAddress":
        """mqtt://[user:password@]host[:1883] or mqtts://…[:8883]; user and password
        percent-encoded as in any URL."""
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("An MQTT URL is mqtt://[user:password@]host[:port] or mqtts://….")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),  # .port raises ValueError for a bad port
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=None if parts.password is None else unquote(parts.password),
        )

    def __str__(self) -> str:  # never the password: this goes to logs
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class BrokerConnection:
    """A paho client that connects in the background, reconnects with backoff for as long as
    the process runs, and keeps the retained status topic. `connected` is set while a session is
    up: the publisher publishes only then, so that an outage piles nothing up in memory."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        status_topic: str,
        max_inflight: int,
        ca_file: str | None = None,
    ):
        self.address = address
        self.status_topic = status_topic
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if address.username is not None:
            self.client.username_pw_set(address.username, address.password)
        if address.tls:
            # The server's certificate and host name checked, against the system's CA
            # certificates unless the plant's own CA is given.
            self.client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        # A whole page in flight at once (the broker acknowledges each message on its own).
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        self.client.will_set(status_topic, OFFLINE, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail

    def start(self) -> None:
        """Connect in paho's network thread, which retries (with backoff) until the broker answers."""
        logger.info("Connecting to the MQTT broker at %s", self.address)
        self.client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_SECONDS)
        self.client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say `offline` (retained) if connected, then disconnect cleanly: a clean disconnect
        does not fire the last will, so the status must be set by hand."""
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
                acknowledged = info.is_published()
            except (RuntimeError, ValueError):  # the connection broke meanwhile
                acknowledged = False
            if not acknowledged:
                logger.warning("The broker did not acknowledge the offline status")
        self.connected.clear()  # a disconnect asked for, not an outage to report
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: ConnectFlags, reason: ReasonCode, properties: object
    ) -> None:
        if reason.is_failure:
            logger.warning("The MQTT broker at %s refused the connection: %s", self.address, reason)
            return
        logger.info("Connected to the MQTT broker at %s", self.address)
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        self.connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho does not say why: the broker down, the host unreachable, or TLS refused (an
        # unknown CA, a certificate for another host name).
        logger.warning("Could not connect to the MQTT broker at %s; trying again with backoff", self.address)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: DisconnectFlags, reason: ReasonCode, properties: object
    ) -> None:
        if self.connected.is_set():
            logger.warning("Lost the MQTT broker at %s (%s); reconnecting", self.address, reason)
        self.connected.clear()
