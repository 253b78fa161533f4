"""Webhook backlogs for /metrics, read from the database at each scrape (as the MQTT lag is):
the senders run in the notify worker, which Prometheus does not scrape, and the rows say it all."""

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from results.webhooks.selectors import webhook_backlogs

logger = logging.getLogger(__name__)


class WebhookBacklogCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending, oldest, lag = self._families()
        try:
            backlogs = webhook_backlogs()
        except DatabaseError:  # /metrics still answers, without these samples
            logger.warning("Could not read the webhook backlogs", exc_info=True)
            backlogs = {}
        for name, backlog in backlogs.items():
            pending.add_metric([name], backlog.pending)
            oldest.add_metric([name], backlog.oldest_pending_seconds)
            lag.add_metric([name], backlog.fan_out_lag_seconds)
        yield from (pending, oldest, lag)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names without reading the database (the registry asks when it is registered)."""
        yield from self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["subscription"]
        return (
            GaugeMetricFamily(
                "kensa_webhook_pending_deliveries",
                "Deliveries of an active subscription not yet delivered and still retried.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "kensa_webhook_oldest_pending_seconds",
                "Seconds since the oldest pending delivery of a subscription was made; 0 when none.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "kensa_webhook_fan_out_lag_seconds",
                "Seconds the oldest finished result without a delivery for a subscription yet has waited; 0 when none.",
                labels=labels,
            ),
        )
