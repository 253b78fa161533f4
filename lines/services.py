"""Writes on lines and stations."""

from django.db import transaction

from lines.constants import Priority
from lines.models import ProductionLine, Station


@transaction.atomic
def line_get_or_create(*, code: str, name: str | None = None, priority: str = Priority.NORMAL) -> ProductionLine:
    line = ProductionLine.objects.filter(code=code).first()
    if line is None:
        line = ProductionLine(code=code, name=name or code, priority=priority)
        line.full_clean()
        line.save()
    return line


@transaction.atomic
def station_create(*, line: ProductionLine, code: str, name: str = "") -> tuple[Station, str]:
    """Create a station and return it with its API key, which is shown this once only."""
    station = Station(line=line, code=code, name=name)
    key = station.set_new_key()
    station.full_clean()
    station.save()
    return station, key


@transaction.atomic
def station_rotate_key(*, station: Station) -> str:
    """Give the station a new key; the old one stops working at once."""
    key = station.set_new_key()
    station.save(update_fields=["key_prefix", "key_hash"])
    return key
