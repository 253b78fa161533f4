from django.apps import AppConfig
from django.conf import settings


class ResultsConfig(AppConfig):
    name = "results"
    verbose_name = "Results"

    def ready(self) -> None:
        from inspection.events import subscribe_finished
        from results import live_access
        from results.live import publish_json
        from results.webhooks.tasks import wake

        # Dashboards hear of every inspection that reaches a terminal state.
        subscribe_finished(publish_json)
        # Webhooks read the feed; the event only wakes their worker at once.
        subscribe_finished(wake)
        # Open feeds close when their viewer may no longer see the line.
        live_access.connect()

        if settings.KENSA_ROLE != "ingest":  # the upload server's /metrics is about uploads
            from prometheus_client import REGISTRY

            from results.mqtt.metrics import MqttLagCollector
            from results.webhooks.metrics import WebhookBacklogCollector

            REGISTRY.register(MqttLagCollector())
            REGISTRY.register(WebhookBacklogCollector())
