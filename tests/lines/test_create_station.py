"""manage.py create_station: plant IT sets up stations without the admin."""

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from lines.models import ProductionLine, Station

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_station", *args, stdout=out)
    return out.getvalue().strip()


def authenticates(key: str) -> bool:
    # The detail endpoint of an unknown id answers 404 to a valid key and 401 to an invalid one.
    response = APIClient().get(
        "/api/v1/inspections/00000000-0000-0000-0000-000000000000/", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    return response.status_code == 404


def test_creates_line_and_station_and_prints_a_working_key():
    key = run("press-1", "cam-1", "--priority", "critical")
    line = ProductionLine.objects.get(code="press-1")
    assert line.priority == "critical"
    station = Station.objects.get(line=line, code="cam-1")
    assert key.startswith("ksa_") and key not in (station.key_hash, station.key_prefix)
    assert authenticates(key)


def test_existing_station_needs_rotate_and_rotation_revokes_the_old_key():
    old = run("press-1", "cam-1")
    with pytest.raises(CommandError, match="--rotate"):
        run("press-1", "cam-1")
    new = run("press-1", "cam-1", "--rotate")
    assert new != old
    assert authenticates(new) and not authenticates(old)


def test_invalid_codes_are_refused():
    with pytest.raises(CommandError):
        run("Press 1!", "cam-1")
    assert ProductionLine.objects.count() == 0
