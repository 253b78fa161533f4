"""GET /api/v1/parts/<serial>/: a part's inspections across stations and lines, oldest first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inspection.models import Inspection
from tests.factories import make_api_client, make_line, mes_api
from tests.inspection.test_worker import accept
from tests.results.test_results_api import finish

pytestmark = pytest.mark.django_db(transaction=True)


def part(line, serial: str, *, minutes_ago: int) -> Inspection:
    row = accept(line)
    Inspection.objects.filter(id=row.id).update(
        serial=serial, received_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return row


def test_every_inspection_of_a_part_oldest_first_with_the_feed_payload():
    press, paint = make_line(code="p-press"), make_line(code="p-paint")
    at_paint = part(paint, "SN/42", minutes_ago=5)
    at_press = part(press, "SN/42", minutes_ago=30)
    finish(at_press, seconds_ago=1)
    part(press, "SN/43", minutes_ago=1)
    api = mes_api(make_api_client()[1])

    response = api.get("/api/v1/parts/SN/42/")
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["inspections"]] == [str(at_press.id), str(at_paint.id)]
    assert [item["status"] for item in body["inspections"]] == ["done", "queued"]
    assert body["serial"] == "SN/42" and body["has_more"] is False
    assert body["inspections"][0] == api.get(f"/api/v1/inspections/{at_press.id}/").json()


def test_a_part_is_bounded_by_the_largest_page(settings):
    settings.KENSA_RESULTS_MAX_PAGE_SIZE = 2
    line = make_line()
    rows = [part(line, "SN-MANY", minutes_ago=minutes) for minutes in (3, 2, 1)]
    body = mes_api(make_api_client()[1]).get("/api/v1/parts/SN-MANY/").json()
    assert [item["id"] for item in body["inspections"]] == [str(row.id) for row in rows[:2]]
    assert body["has_more"] is True


def test_unknown_part_and_unknown_parameters():
    api = mes_api(make_api_client()[1])
    missing = api.get("/api/v1/parts/SN-NONE/")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "part_not_found")
    part(make_line(), "SN-1", minutes_ago=1)
    extra = api.get("/api/v1/parts/SN-1/", {"limit": "5"})
    assert (extra.status_code, extra.json()["error"]["code"]) == (400, "parameter_unknown")
