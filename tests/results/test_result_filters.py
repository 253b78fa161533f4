"""Filters of GET /api/v1/results/: each narrows the feed, bad values and unknown parameters are
refused with a code, and a page costs the same number of queries whatever the filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inspection.constants import Status, Verdict
from inspection.models import Inspection
from tests.factories import make_api_client, make_line, make_model, mes_api
from tests.inspection.test_worker import accept
from tests.results.test_results_api import finish

URL = "/api/v1/results/"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api():
    return mes_api(make_api_client()[1])


def ids(api, **params) -> list[str]:
    response = api.get(URL, params)
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def test_each_filter_narrows_the_feed(api):
    model = make_model(always="spot", version="7")
    paint, weld = make_line(code="f-paint", model=model), make_line(code="f-weld")
    old_pass, new_fail, weld_review = accept(paint), accept(paint), accept(weld)
    finish(old_pass, seconds_ago=3600, verdict=Verdict.PASS)
    finish(new_fail, seconds_ago=10, verdict=Verdict.FAIL)
    finish(weld_review, seconds_ago=10, verdict=Verdict.REVIEW)
    Inspection.objects.filter(id=new_fail.id).update(serial="SN-FILTER", model=model)
    Inspection.objects.filter(id=weld_review.id).update(status=Status.FAILED)
    accept(paint)  # queued: never in the feed
    everything = [str(old_pass.id), str(new_fail.id), str(weld_review.id)]
    assert ids(api) == everything

    assert ids(api, line="f-weld") == [str(weld_review.id)]
    station = Inspection.objects.select_related("station").get(id=old_pass.id).station.code
    assert ids(api, station=station) == [str(old_pass.id)]
    assert ids(api, verdict="pass") == [str(old_pass.id)]
    assert ids(api, status="failed") == [str(weld_review.id)]
    assert ids(api, serial="SN-FILTER") == [str(new_fail.id)]
    assert ids(api, model=model.name, model_version="7") == [str(new_fail.id)]
    assert ids(api, model=model.name, model_version="8") == []
    half_hour_ago = (timezone.now() - timedelta(minutes=30)).isoformat()
    assert ids(api, finished_before=half_hour_ago) == [str(old_pass.id)]
    assert ids(api, finished_after=half_hour_ago) == [str(new_fail.id), str(weld_review.id)]
    assert ids(api, finished_after=half_hour_ago, line="f-paint", verdict="fail") == [str(new_fail.id)]
    assert ids(api, acknowledged="false") == everything


@pytest.mark.parametrize("parameters", [{"serail": "x"}, {"line_id": "1"}, {"page": "2"}, {"format": "json"}])
def test_unknown_parameters_are_refused(api, parameters):
    response = api.get(URL, parameters)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parameter_unknown" and error["parameters"] == list(parameters)


def test_a_parameter_given_twice_is_refused(api):
    response = api.get(f"{URL}?verdict=pass&verdict=fail")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "parameter_invalid")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("finished_after", "2025-01-31T06:00:00"),  # no offset
        ("finished_after", "2025-01-31"),  # no time
        ("finished_after", "2025-01-31T06:00:00 01:00"),  # a + not encoded in the URL
        ("finished_before", "yesterday"),
        ("finished_before", "1999-12-31T23:59:59Z"),
        ("finished_before", "9999-12-31T23:59:59-14:00"),
        ("verdict", "PASS"),
        ("status", "queued"),
        ("unacknowledged", "yes"),
        ("acknowledged", "1"),
        ("serial", "x" * 129),
    ],
)
def test_bad_values_are_refused(api, name, value):
    response = api.get(URL, {name: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parameter_invalid" and list(error["fields"]) == [name]


def test_offsets_are_honoured(api):
    row = accept(make_line())
    finish(row, seconds_ago=0)
    finished_at = Inspection.objects.get(id=row.id).finished_at
    assert finished_at is not None
    in_tokyo = (finished_at + timedelta(hours=9)).replace(tzinfo=None).isoformat() + "+09:00"
    assert ids(api, finished_after=in_tokyo) == [str(row.id)]
    assert ids(api, finished_before=in_tokyo) == []
    assert ids(api, finished_after=finished_at.isoformat().replace("+00:00", "Z")) == [str(row.id)]


def test_the_query_count_is_the_same_for_any_page_and_filters(api, django_assert_max_num_queries):
    line = make_line(code="f-count")
    for _ in range(20):
        finish(accept(line), seconds_ago=5)
    api.get(URL)  # the first use of a client records it (once a minute)
    filters = {
        "line": "f-count",
        "verdict": "fail",
        "status": "done",
        "serial": "SN-9",
        "finished_after": "2000-01-01T00:00:00Z",
        "unacknowledged": "true",
    }
    # API client, line lookup, the feed's visible horizon (two), inspections with their joins, defects
    with django_assert_max_num_queries(6):
        assert len(api.get(URL, {**filters, "limit": "1"}).json()["results"]) == 1
    with django_assert_max_num_queries(6):
        assert len(api.get(URL, filters).json()["results"]) == 20
