"""Write a line's reviewed images as a training data set (results.review.dataset)."""

from argparse import ArgumentParser, ArgumentTypeError
from datetime import datetime, time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from inspection.errors import KensaError
from inspection.models import Inspection
from lines.models import ProductionLine
from results.review.dataset import dataset_write


def _since(text: str) -> datetime:
    """A date (from its midnight, in the server's time zone) or an ISO 8601 date and time."""
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time()) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise ArgumentTypeError(f"{text!r} is not a date (2026-05-01) or an ISO 8601 date and time.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Write a line's reviewed images with QA's labels (rejected defects dropped, relabels applied, "
        "the disposition deciding pass or fail), masks from the kept boxes where the model gave boxes, "
        "and a train/test split, in the layout generate_dataset writes (manifest.json)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--line", required=True, help="the line's code")
        parser.add_argument("--since", type=_since, help="only images received from then on (a date or ISO 8601)")
        parser.add_argument("--out", type=Path, required=True, help="a new or empty directory")

    def handle(self, *args: Any, **options: Any) -> None:
        line = ProductionLine.objects.filter(code=options["line"]).first()
        if line is None:
            raise CommandError(f"line_not_found: no line has the code {options['line']!r}.")
        out: Path = options["out"]
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} is not empty; name a new or empty directory.")
        inspections = Inspection.objects.filter(line=line)
        if options["since"] is not None:
            inspections = inspections.filter(received_at__gte=options["since"])

        def write(name: str, data: bytes) -> None:
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        try:
            summary = dataset_write(inspections=inspections, write=write, line=line.code)
        except KensaError as refusal:
            raise CommandError(f"{refusal.code}: {refusal.message}") from None
        self.stdout.write(f"Wrote {summary} to {out} (manifest.json).")
