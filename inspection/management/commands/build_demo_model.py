from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from inspection.constants import ModelStage
from inspection.models import InspectionModel
from inspection.registry import check_artifact, inspection_model_register, model_promote
from inspection.synthetic import DEMO_GOOD_LABELS, DEMO_LABELS
from lines.models import ProductionLine

MODEL_NAME = "demo-surface"


class Command(BaseCommand):
    help = "Train the demo classifier on synthetic parts (seeded, CPU, about a minute) and register it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--line", help="make it the model of this line")

    def handle(self, *args: Any, **options: Any) -> None:
        from inspection import demo_model

        version = f"1.0-seed{options['seed']}"
        spec = InspectionModel.objects.filter(name=MODEL_NAME, version=version).first()
        if spec is None:
            self.stdout.write(f"Training {demo_model.ARCHITECTURE} on synthetic parts (seed {options['seed']})…")
            trained = demo_model.train_demo_classifier(seed=options["seed"])
            self.stdout.write(f"Held-out accuracy: {trained.accuracy:.3f}")
            spec = inspection_model_register(
                name=MODEL_NAME,
                version=version,
                architecture=demo_model.ARCHITECTURE,
                artifact=trained.artifact,
                labels=DEMO_LABELS,
                good_labels=DEMO_GOOD_LABELS,
                input_size=demo_model.INPUT_SIZE,
                mean=demo_model.MEAN,
                std=demo_model.STD,
                default_threshold=0.6,
                line=ProductionLine.objects.filter(code=options["line"]).first() if options["line"] else None,
                checker=check_artifact,  # trained just now by this process
            )
        if spec.line is not None and spec.stage != ModelStage.PRODUCTION:
            model_promote(model=spec, by="manage.py build_demo_model")
        self.stdout.write(f"Model {spec} sha256 {spec.sha256}")
