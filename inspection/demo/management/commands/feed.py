import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inspection.demo.feeder import feed


class Command(BaseCommand):
    help = "Upload synthetic part images to a Kensa server as a station would (the demo's camera)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between uploads")
        parser.add_argument("--count", type=int, default=None, help="stop after this many (default: run forever)")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        key = os.environ.get("KENSA_STATION_KEY")
        if not key:
            raise CommandError("Set KENSA_STATION_KEY to the station's API key (see create_station).")
        feed(
            options["url"],
            key,
            interval=options["interval"],
            count=options["count"],
            seed=options["seed"],
            report=lambda line: self.stdout.write(f"feeder: {line}"),
        )
