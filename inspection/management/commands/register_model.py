from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inspection.constants import ModelFormat, TaskType
from inspection.errors import KensaError
from inspection.inference.registry import inspection_model_register, model_promote
from lines.models import ProductionLine


class Command(BaseCommand):
    help = "Register a model version (state dict or TorchScript; checked in a separate process) as a draft."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("artifact", type=Path, help="the state dict, as saved by torch.save(model.state_dict())")
        parser.add_argument("--name", required=True)
        parser.add_argument("--model-version", required=True)
        parser.add_argument("--format", choices=ModelFormat.values, default=ModelFormat.STATE_DICT)
        parser.add_argument("--task", choices=TaskType.values, default=TaskType.CLASSIFICATION)
        parser.add_argument("--architecture", default="", help="torchvision model name (state dicts), e.g. resnet18")
        parser.add_argument("--labels", required=True, help="comma-separated, in output order")
        parser.add_argument("--good", required=True, help="comma-separated labels that mean a good part")
        parser.add_argument("--input-size", type=int, default=224)
        parser.add_argument("--mean", default="0.485,0.456,0.406")
        parser.add_argument("--std", default="0.229,0.224,0.225")
        parser.add_argument("--threshold", type=float, default=0.5, help="default per-label threshold")
        parser.add_argument("--line", help="the line this version is for")
        parser.add_argument("--promote", action="store_true", help="put it into production on its line at once")

    def handle(self, *args: Any, **options: Any) -> None:
        line = None
        if options["line"]:
            line = ProductionLine.objects.filter(code=options["line"]).first()
            if line is None:
                raise CommandError(f"line_not_found: no line has the code {options['line']!r}.")
        try:
            spec = inspection_model_register(
                name=options["name"],
                version=options["model_version"],
                architecture=options["architecture"],
                format=options["format"],
                task=options["task"],
                artifact=options["artifact"].read_bytes(),
                labels=_split(options["labels"]),
                good_labels=_split(options["good"]),
                input_size=options["input_size"],
                mean=[float(v) for v in _split(options["mean"])],
                std=[float(v) for v in _split(options["std"])],
                default_threshold=options["threshold"],
                line=line,
            )
            if options["promote"]:
                model_promote(model=spec, by="manage.py register_model")
        except KensaError as refusal:
            raise CommandError(f"{refusal.code}: {refusal.message}") from None
        spec.refresh_from_db()
        self.stdout.write(f"{spec} sha256 {spec.sha256} stage {spec.stage}")


def _split(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]
