from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "results"
    verbose_name = "Results"

    def ready(self) -> None:
        from inspection.events import subscribe_finished
        from results.live import publish_json

        # Dashboards hear of every inspection that reaches a terminal state.
        subscribe_finished(publish_json)
