"""Run the MQTT publisher until SIGTERM (or Ctrl-C): results go to the broker of KENSA_MQTT_URL."""

import logging
import re
import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from results.mqtt.broker import BrokerAddress, BrokerConnection
from results.mqtt.cursor import mqtt_cursor_get_or_create
from results.mqtt.relay import PAGE_SIZE, FeedPublisher, status_topic

logger = logging.getLogger("results.mqtt")

# Part of the status topic and the client id: no MQTT wildcards, no levels.
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class Command(BaseCommand):
    help = "Publish every finished result to the MQTT broker of KENSA_MQTT_URL, from a cursor kept in the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--name", default="kensa", help="the publisher's name: its cursor and status topic (one process per name)"
        )
        parser.add_argument(
            "--from-now",
            action="store_true",
            help="a new publisher starts after the newest result instead of at the feed's beginning",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if not NAME_RE.fullmatch(name):
            raise CommandError("--name: 1-100 letters, digits, '_', '.' or '-'.")
        if not settings.KENSA_MQTT_URL:
            raise CommandError("KENSA_MQTT_URL is not set: there is no broker to publish to.")
        try:
            address = BrokerAddress.from_url(settings.KENSA_MQTT_URL)
        except ValueError as exc:
            raise CommandError(f"KENSA_MQTT_URL: {exc}") from None

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

        prefix = settings.KENSA_MQTT_TOPIC_PREFIX
        cursor = mqtt_cursor_get_or_create(name=name, from_now=options["from_now"])
        connection = BrokerConnection(
            address,
            client_id=f"kensa-{name}",
            status_topic=status_topic(prefix, name),
            max_inflight=PAGE_SIZE,
            ca_file=settings.KENSA_MQTT_CA_FILE,
        )
        connection.start()
        try:
            FeedPublisher(
                cursor=cursor,
                connection=connection,
                prefix=prefix,
                poll_seconds=settings.KENSA_MQTT_POLL_SECONDS,
                stop=stop,
            ).run()
        finally:
            connection.stop()
            logger.info("MQTT publisher %s stopped at feed position %s", name, cursor.feed_position)
