from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from lines.models import ProductionLine
from results.mes.constants import Scope
from results.mes.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client (an MES) and print its token, which is shown this once only."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True, help="e.g. mes-plant-1")
        parser.add_argument(
            "--scope", action="append", required=True, choices=Scope.values, help="repeat for each scope"
        )
        parser.add_argument(
            "--line", action="append", default=[], help="a line code it may see (repeat); none: every line"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        codes = options["line"]
        lines = list(ProductionLine.objects.filter(code__in=codes))
        missing = sorted(set(codes) - {line.code for line in lines})
        if missing:
            raise CommandError(f"No line has the code: {', '.join(missing)}.")
        try:
            _, token = api_client_create(
                name=options["name"], scopes=options["scope"], lines=lines, all_lines=not codes
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(token)
