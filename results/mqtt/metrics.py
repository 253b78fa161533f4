"""How far behind each MQTT publisher runs, for /metrics: read from its cursor at each scrape,
so that it shows in the web process that Prometheus scrapes, while the publisher runs elsewhere."""

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from results.mqtt.selectors import mqtt_publisher_lags

logger = logging.getLogger(__name__)


class MqttLagCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = self._family()
        try:
            lags = mqtt_publisher_lags()
        except DatabaseError:  # /metrics still answers, without this metric's samples
            logger.warning("Could not read the MQTT publishers' cursors", exc_info=True)
            lags = {}
        for name, seconds in lags.items():
            gauge.add_metric([name], seconds)
        yield gauge

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Its name without reading the database (the registry asks when it is registered)."""
        yield self._family()

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "kensa_mqtt_lag_seconds",
            "Seconds the oldest finished result that an MQTT publisher has not yet published has been "
            "waiting; 0 when it has caught up.",
            labels=["publisher"],
        )
