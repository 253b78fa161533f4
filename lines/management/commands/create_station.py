from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from lines.constants import Priority
from lines.models import Station
from lines.services import line_get_or_create, station_create, station_rotate_key


class Command(BaseCommand):
    help = "Create a station (and its line if needed) and print the station's new API key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("line", help="line code, e.g. press-3")
        parser.add_argument("station", help="station code, e.g. cam-1")
        parser.add_argument("--priority", choices=Priority.values, default=Priority.NORMAL, help="for a new line")
        parser.add_argument("--rotate", action="store_true", help="give an existing station a new key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            line = line_get_or_create(code=options["line"], priority=options["priority"])
            existing = Station.objects.filter(line=line, code=options["station"]).first()
            if existing is not None:
                if not options["rotate"]:
                    raise CommandError(f"Station {existing} exists; use --rotate to give it a new key.")
                key = station_rotate_key(station=existing)
            else:
                _, key = station_create(line=line, code=options["station"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(key)
