from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Synthetic parts, the demo models and the feeder, with their commands (`demo`, `feed`,
    `build_demo_model`, `generate_dataset`). An app of its own only so that Django finds the
    commands; it has no models."""

    name = "inspection.demo"
    label = "inspection_demo"
    verbose_name = "Demo"
