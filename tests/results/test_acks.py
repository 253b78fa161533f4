"""POST /api/v1/results/ack and ?unacknowledged=true: per client, idempotent, in feed order."""

import uuid

import pytest

from inspection.constants import Status
from inspection.models import Inspection
from results.mes.models import Acknowledgement
from tests.factories import make_api_client, make_line, mes_api
from tests.inspection.test_worker import accept
from tests.results.test_results_api import finish

URL = "/api/v1/results/ack"
pytestmark = pytest.mark.django_db(transaction=True)


def finished(line, n: int) -> list[Inspection]:
    rows = [accept(line) for _ in range(n)]
    for row in rows:
        finish(row, seconds_ago=1)  # one commit each: the feed's order is this order
    return rows


def ack(api, ids) -> dict[str, str]:
    response = api.post(URL, {"ids": [str(i) for i in ids]}, format="json")
    assert response.status_code == 200, response.json()
    return {item["id"]: item["outcome"] for item in response.json()["results"]}


def unacknowledged(api) -> list[str]:
    return [item["id"] for item in api.get("/api/v1/results/", {"unacknowledged": "true"}).json()["results"]]


def test_acknowledging_is_idempotent_and_per_client():
    rows = finished(make_line(), 3)
    first, second = (mes_api(make_api_client()[1]) for _ in range(2))
    a, b, c = (str(row.id) for row in rows)

    assert ack(first, [rows[0].id, rows[1].id]) == {a: "acknowledged", b: "acknowledged"}
    assert ack(first, [rows[0].id, rows[1].id, rows[2].id]) == {
        a: "already_acknowledged",
        b: "already_acknowledged",
        c: "acknowledged",
    }
    assert Acknowledgement.objects.count() == 3
    # The other client has acknowledged nothing: its own list is whole, and its acks are its own.
    assert unacknowledged(first) == []
    assert unacknowledged(second) == [a, b, c]
    assert ack(second, [rows[1].id]) == {b: "acknowledged"}
    assert unacknowledged(second) == [a, c]


def test_unknown_unfinished_and_repeated_ids():
    line = make_line()
    [done] = finished(line, 1)
    queued = accept(line)
    missing = uuid.uuid4()
    api = mes_api(make_api_client()[1])
    outcomes = api.post(URL, {"ids": [str(done.id), str(queued.id), str(missing), str(done.id)]}, format="json")
    assert outcomes.json() == {
        "results": [
            {"id": str(done.id), "outcome": "acknowledged"},
            {"id": str(queued.id), "outcome": "not_found"},
            {"id": str(missing), "outcome": "not_found"},
        ]
    }


def test_unacknowledged_is_in_feed_order_and_pages_by_cursor():
    rows = finished(make_line(), 5)
    api = mes_api(make_api_client()[1])
    ack(api, [rows[1].id, rows[3].id])
    page = api.get("/api/v1/results/", {"unacknowledged": "true", "limit": "2"}).json()
    assert [item["id"] for item in page["results"]] == [str(rows[0].id), str(rows[2].id)]
    rest = api.get("/api/v1/results/", {"unacknowledged": "true", "cursor": page["next_cursor"]}).json()
    assert [item["id"] for item in rest["results"]] == [str(rows[4].id)]
    acknowledged = api.get("/api/v1/results/", {"acknowledged": "true"}).json()["results"]
    assert [item["id"] for item in acknowledged] == [str(rows[1].id), str(rows[3].id)]


def test_a_result_finished_anew_is_unacknowledged_again():
    """QA queues a result again: it leaves the feed and re-enters at the end when it finishes anew,
    a new result the MES has not taken yet."""
    [row] = finished(make_line(), 1)
    api = mes_api(make_api_client()[1])
    assert ack(api, [row.id]) == {str(row.id): "acknowledged"}
    Inspection.objects.filter(id=row.id).update(status=Status.QUEUED, feed_position=None)
    assert ack(api, [row.id]) == {str(row.id): "not_found"}  # not finished now
    finish(row, seconds_ago=0, defects=0)
    assert unacknowledged(api) == [str(row.id)]
    assert ack(api, [row.id]) == {str(row.id): "acknowledged"}
    assert ack(api, [row.id]) == {str(row.id): "already_acknowledged"}
    assert Acknowledgement.objects.filter(inspection_id=row.id).count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ids": []}, "ids_invalid"),
        ({"ids": "not-a-list"}, "ids_invalid"),
        ({"ids": ["not-a-uuid"]}, "ids_invalid"),
        ({"ids": [123]}, "ids_invalid"),
        ({"ids": [str(uuid.uuid4())] * 1001}, "ids_invalid"),
        ({"ids": [str(uuid.uuid4())], "all": True}, "body_invalid"),
        ([str(uuid.uuid4())], "body_invalid"),
    ],
)
def test_bad_batches_are_refused(body, code):
    response = mes_api(make_api_client()[1]).post(URL, body, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)


def test_a_body_that_is_not_json():
    response = mes_api(make_api_client()[1]).post(URL, "{not json", content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parse_error")
