"""GET /api/v1/results/: the MES feed. Ordered, cursor-paged, bounded, no N+1."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inspection import feed
from inspection.constants import Status, Verdict
from inspection.models import Defect, Inspection
from tests.factories import make_api_client, make_line, make_station, mes_api
from tests.inspection.test_worker import accept

URL = "/api/v1/results/"
# Feed positions are transaction ids, visible once committed: each finish commits on its own.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mes_client():
    _, token = make_api_client(scopes=["results:read", "inspections:read"])
    return mes_api(token)


def finish(inspection: Inspection, *, seconds_ago: float, verdict: str = Verdict.FAIL, defects: int = 2) -> None:
    Inspection.objects.filter(id=inspection.id).update(
        status=Status.DONE,
        verdict=verdict,
        finished_at=timezone.now() - timedelta(seconds=seconds_ago),
        feed_position=feed.position_expression(),
    )
    Defect.objects.bulk_create(Defect(inspection=inspection, label="spot", confidence=0.9) for _ in range(defects))


def test_pages_through_every_finished_result_once_in_order(mes_client):
    line = make_line(code="paint-2")
    other = make_line(code="weld-1")
    rows = [accept(line) for _ in range(7)]
    for age, row in zip(range(70, 0, -10), rows, strict=True):
        finish(row, seconds_ago=age)
    finish(accept(other), seconds_ago=30)
    accept(line)  # still queued: not a result yet

    seen, cursor = [], ""
    for _ in range(10):
        page = mes_client.get(URL, {"line": "paint-2", "limit": 3, "cursor": cursor}).json()
        seen += [item["id"] for item in page["results"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [str(row.id) for row in rows]
    # Polling again from the last cursor returns nothing new, and the same cursor.
    again = mes_client.get(URL, {"line": "paint-2", "cursor": cursor}).json()
    assert again == {"results": [], "next_cursor": cursor, "has_more": False}


def test_result_shape(mes_client):
    row = accept(make_line(code="paint-3"))
    finish(row, seconds_ago=5, defects=1)
    [item] = mes_client.get(URL, {"line": "paint-3"}).json()["results"]
    assert item["id"] == str(row.id)
    assert item["status"] == "done" and item["verdict"] == "fail"
    assert item["line"] == "paint-3" and item["station"].startswith("cam-")
    assert item["defects"] == [{"label": "spot", "confidence": 0.9, "box": None, "area": None}]
    assert item["url"] == f"http://testserver/api/v1/inspections/{row.id}/"
    image_link = item["image_url"]
    assert image_link.startswith(f"http://testserver/api/v1/inspections/{row.id}/image?expires=")
    assert "&signature=" in image_link  # short-lived and signed: tests/results/test_image_links.py


def test_query_count_does_not_grow_with_the_page(mes_client, django_assert_max_num_queries):
    line = make_line(code="paint-4")
    for _ in range(20):
        finish(accept(line), seconds_ago=5)
    mes_client.get(URL, {"line": "paint-4"})  # the first use of a client records it (once a minute)
    # API client, line lookup, the feed's visible horizon (two), inspections with their joins, defects
    with django_assert_max_num_queries(6):
        response = mes_client.get(URL, {"line": "paint-4"})
    assert len(response.json()["results"]) == 20


def test_unknown_line(mes_client):
    response = mes_client.get(URL, {"line": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "line_not_found"


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "100000"])
def test_bad_limit(mes_client, limit):
    response = mes_client.get(URL, {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "limit_invalid"


def test_bad_cursor(mes_client):
    response = mes_client.get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "cursor_invalid"


def test_anonymous_and_stations_get_no_results():
    _, key = make_station(make_line())
    anonymous = APIClient().get(URL)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    station = APIClient().get(URL, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert station.status_code in (401, 403)


def test_inspection_detail_for_its_station_and_for_plant_users(mes_client):
    line = make_line()
    row = accept(line)
    _, own_key = make_station(line, code="cam-own")
    _, other_key = make_station(make_line(), code="cam-other")
    assert mes_client.get(f"/api/v1/inspections/{row.id}/").json()["id"] == str(row.id)
    assert APIClient().get(f"/api/v1/inspections/{row.id}/", HTTP_AUTHORIZATION=f"Bearer {own_key}").status_code == 200
    # Another line's station is told what an unknown id gets, so ids of other lines cannot be probed.
    unknown = APIClient().get(
        "/api/v1/inspections/00000000-0000-0000-0000-000000000000/", HTTP_AUTHORIZATION=f"Bearer {other_key}"
    )
    for path in (f"/api/v1/inspections/{row.id}/", f"/api/v1/inspections/{row.id}/image"):
        other = APIClient().get(path, HTTP_AUTHORIZATION=f"Bearer {other_key}")
        assert (other.status_code, other.json()) == (404, unknown.json())
    assert unknown.json()["error"]["code"] == "not_found"
    image = mes_client.get(f"/api/v1/inspections/{row.id}/image")
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content)[:2] == b"\xff\xd8"


def test_unknown_and_malformed_inspection_ids(mes_client):
    missing = mes_client.get("/api/v1/inspections/00000000-0000-0000-0000-000000000000/")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    malformed = mes_client.get("/api/v1/inspections/not-a-uuid/")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("limit", ["²", "\u0661\u0660", "+5", " 5", "5_0", "9" * 40])
def test_a_limit_in_anything_but_ascii_digits_is_limit_invalid(mes_client, limit):
    response = mes_client.get(URL, {"limit": limit})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "limit_invalid")


@pytest.mark.parametrize(
    "inside",
    [
        ["2020-01-01T00:00:00+00:00", 5],
        ["2020-01-01T00:00:00+00:00", "12345678-1234-1234-1234-123456789abc"],  # the old (finished_at, id)
        [1.5, "12345678-1234-1234-1234-123456789abc"],
        [True, "12345678-1234-1234-1234-123456789abc"],
        [2**63, "12345678-1234-1234-1234-123456789abc"],
        [5, "{12345678-1234-1234-1234-123456789abc}"],
        ["2020-01-01T00:00:00+00:00", "{12345678-1234-1234-1234-123456789abc}"],
        ["2020-01-01T00:00:00", "12345678-1234-1234-1234-123456789abc"],
        ["9999-12-31T23:59:59-14:00", "12345678-1234-1234-1234-123456789abc"],
        ["2020-01-01T00:00:00+00:00", "12345678-1234-1234-1234-123456789abc", 1],
        {"a": 1},
        "2020",
    ],
)
def test_a_cursor_that_is_not_one_the_api_wrote_is_cursor_invalid(mes_client, inside):
    cursor = base64.urlsafe_b64encode(json.dumps(inside).encode()).decode().rstrip("=")
    response = mes_client.get(URL, {"cursor": cursor})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "cursor_invalid")


@pytest.mark.parametrize("line", ["\x00", "paint-2\x00", "Paint-2", "paint-2\n", "x" * 49])
def test_a_line_code_no_line_can_have_is_line_invalid(mes_client, line):
    make_line(code="paint-2")
    response = mes_client.get(URL, {"line": line})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "line_invalid")


def test_the_feed_and_the_inspection_read_give_the_same_json(mes_client):
    """The feed builds its page from rows (results.selectors.finished_payloads_after), the
    inspection's own read from a model instance: both must give the same JSON, field for field."""
    line = make_line(code="paint-5")
    judged = accept(line)
    finish(judged, seconds_ago=5, defects=0)
    Inspection.objects.filter(id=judged.id).update(model=line.inspection_model)
    Defect.objects.bulk_create(
        [
            Defect(inspection=judged, label="spot", confidence=0.4, box=[1, 2, 3, 4], area=4),
            Defect(inspection=judged, label="dent", confidence=0.9, box=None, area=None),
            Defect(inspection=judged, label="crack", confidence=0.4, box=[0, 0, 9, 9], area=81),
        ]
    )
    unjudged = accept(line)  # failed before any model judged it: no model, no verdict
    Inspection.objects.filter(id=unjudged.id).update(
        status=Status.FAILED,
        error_code="image_decode_failed",
        model=None,
        finished_at=timezone.now(),
        feed_position=feed.position_expression(),
    )
    _, token = make_api_client(scopes=["results:read", "inspections:read"])
    client = mes_api(token)
    page = client.get(URL, {"line": "paint-5"}).json()["results"]
    assert [item["id"] for item in page] == [str(judged.id), str(unjudged.id)]

    def unsigned(item: dict) -> dict:
        return {**item, "image_url": item["image_url"].split("?")[0]}

    for item in page:
        read = client.get(f"/api/v1/inspections/{item['id']}/").json()
        assert unsigned(item) == unsigned(read)
    assert [d["label"] for d in page[0]["defects"]] == ["dent", "spot", "crack"]
    assert page[0]["model"]["thresholds_version"] and page[1]["model"] is None
    assert page[1]["verdict"] == "" and page[1]["error_code"] == "image_decode_failed"
