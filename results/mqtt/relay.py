"""The publisher's loop: read a page of the result feed after the cursor, publish it at QoS 1,
wait until the broker has acknowledged every message of it, then move the cursor.

At least once: a page is published again whenever its acknowledgements do not all come (the
broker went away, the process was killed before the cursor moved), so a subscriber may see a
result twice and de-duplicates by its id (docs/mqtt.md). Nothing is skipped: the cursor moves
only past what the broker acknowledged, and the feed shows only results that can no longer
be overtaken (inspection/feed.py).

Finished results are found by polling the feed every KENSA_MQTT_POLL_SECONDS rather than by
listening for the "finished" event: the feed's visible horizon can move with no event at all
(a long transaction that held results back commits), so a listener would still have to poll,
and a poll is one indexed query and the horizon's two small reads. When a page comes back
full, the next is read at once.
"""

import json
import logging
import threading
import time

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from paho.mqtt.client import MQTTMessageInfo

from inspection.links import Links, links_for
from inspection.models import Inspection
from inspection.payloads import inspection_json
from results.mqtt.broker import BrokerConnection
from results.mqtt.cursor import mqtt_cursor_advance
from results.mqtt.models import MqttCursor
from results.selectors import finished_inspections_after

logger = logging.getLogger(__name__)

# Results per page: one query with its defects prefetched, then all in flight at once. A
# result's JSON is about 1 KB, so a page is about 100 KB in paho's memory until acknowledged.
PAGE_SIZE = 100
# How long a connected broker may take to acknowledge a page before it is published again.
# While the connection is down the wait does not count: paho sends the page again itself once
# it reconnects.
ACK_TIMEOUT_SECONDS = 30.0
# On SIGTERM, how long a connected broker may still take to acknowledge the page in flight, so
# that a clean stop (a redeploy) moves the cursor past it rather than publishing it again.
STOP_GRACE_SECONDS = 5.0
# How often the publisher logs what it published and how far behind it ran.
REPORT_SECONDS = 60.0
# Pause after the database failed (a restart, a failover) before the next try.
DATABASE_RETRY_SECONDS = 2.0


def results_topic(prefix: str, line_code: str) -> str:
    return f"{prefix}/{line_code}/results"


def status_topic(prefix: str, name: str) -> str:
    return f"{prefix}/status/{name}"


class FeedPublisher:
    """Publishes the feed after `cursor` to `connection` until `stop` is set."""

    def __init__(
        self,
        *,
        cursor: MqttCursor,
        connection: BrokerConnection,
        prefix: str,
        poll_seconds: float,
        stop: threading.Event,
        page_size: int = PAGE_SIZE,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
    ):
        self.cursor = cursor
        self.connection = connection
        self.prefix = prefix
        self.poll_seconds = poll_seconds
        self.stop = stop
        self.page_size = page_size
        self.ack_timeout = ack_timeout
        self._published_since_report = 0
        self._max_lag = 0.0
        self._last_report = time.monotonic()

    def run(self) -> None:
        logger.info("Publishing results from feed position %s", self.cursor.feed_position)
        while not self.stop.is_set():
            if not self.connection.connected.wait(self.poll_seconds):
                continue  # paho is reconnecting; the cursor stays where the broker left it
            close_old_connections()  # drops a connection the database closed (a restart)
            try:
                published = self.publish_next_page()
            except DatabaseError:
                logger.exception("Could not read the result feed; trying again")
                self.stop.wait(DATABASE_RETRY_SECONDS)
                continue
            self._report()
            if published < self.page_size:
                self.stop.wait(self.poll_seconds)

    def publish_next_page(self) -> int:
        """Publish the next page; the number of results the broker acknowledged (0: none
        waiting, or the page goes again)."""
        rows = finished_inspections_after(after=self.cursor.after, limit=self.page_size)
        if not rows:
            return 0
        client = self.connection.client
        links = links_for()  # absolute with KENSA_PUBLIC_URL; the image link signed for this page
        infos = [
            client.publish(results_topic(self.prefix, row.line.code), _payload(row, links), qos=1, retain=False)
            for row in rows
        ]
        logger.debug("Sent %d results; waiting for the broker's acknowledgements", len(rows))
        if not self._acknowledged(infos):
            if not self.stop.is_set():
                logger.warning("The broker did not acknowledge %d results; publishing them again", len(rows))
            return 0
        if not mqtt_cursor_advance(cursor=self.cursor, to=rows[-1]):
            logger.error("Another publisher named %r moved the cursor: run one per name", self.cursor.name)
            self.cursor.refresh_from_db()
            return 0
        finished_at = rows[0].finished_at
        if finished_at is not None:
            self._max_lag = max(self._max_lag, (timezone.now() - finished_at).total_seconds())
        self._published_since_report += len(rows)
        logger.debug("Published %d results through feed position %s", len(rows), self.cursor.feed_position)
        return len(rows)

    def _acknowledged(self, infos: list[MQTTMessageInfo]) -> bool:
        """True once the broker acknowledged every message. False if the wait ran past the
        timeout while connected, if the process is stopping (after a short grace while
        connected), or if a message could not even be handed to the connection (it broke during
        the page): the caller publishes again."""
        deadline = time.monotonic() + self.ack_timeout
        stopping_by = None
        while True:
            try:
                pending = [info for info in infos if not info.is_published()]
                if not pending:
                    return True
                connected = self.connection.connected.is_set()
                if self.stop.is_set():
                    stopping_by = stopping_by or time.monotonic() + STOP_GRACE_SECONDS
                    if not connected or time.monotonic() > stopping_by:
                        return False
                if not connected:
                    deadline = time.monotonic() + self.ack_timeout
                elif time.monotonic() > deadline:
                    return False
                pending[0].wait_for_publish(0.2)
            except (RuntimeError, ValueError):  # paho: not sent (no connection) or not queued
                return False

    def _report(self) -> None:
        """A line a minute while results flow: how many, and the longest any waited (its lag)."""
        if time.monotonic() - self._last_report < REPORT_SECONDS:
            return
        if self._published_since_report:
            logger.info(
                "Published %d results in the last %.0f s, through feed position %s; the longest wait "
                "from finished to published was %.1f s",
                self._published_since_report,
                time.monotonic() - self._last_report,
                self.cursor.feed_position,
                self._max_lag,
            )
        self._published_since_report, self._max_lag, self._last_report = 0, 0.0, time.monotonic()


def _payload(inspection: Inspection, links: Links) -> bytes:
    return json.dumps(inspection_json(inspection, links=links), separators=(",", ":")).encode()
