"""Model quality from QA's reviews, against figures computed by hand, in the selector, the
admin's page and GET /api/v1/quality/."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from inspection.constants import Verdict
from results.mes.constants import Scope
from results.review.selectors import model_quality
from results.review.services import defect_review_record, part_disposition_record
from tests.factories import make_api_client, mes_api
from tests.results.review_data import finished, model_version, review_line
from tests.users import make_user

pytestmark = pytest.mark.django_db

# Computed by hand from the reviews below (the current decision of each defect and part counts):
#   press, demo@1: scratch s1 confirmed, s2 confirmed, s3 confirmed then rejected, s4 relabelled
#     -> reviewed 4, confirmed 2, rejected 1, relabelled 1, precision 2/4;
#   dent d1 confirmed, d2 not reviewed -> reviewed 1, confirmed 1, precision 1;
#   passes (all sampled: rate 1): p1 failed by QA (an escape), p2 passed, p3 failed then passed,
#     p4 never dispositioned -> 3 sampled, 1 escape, rate 1/3.
#   press, demo@2: stain rejected -> reviewed 1, precision 0; no pass reviewed -> rate none.
#   paint, demo@3: scratch confirmed -> precision 1.
EXPECTED = [
    {
        "line": "q-paint",
        "model": "demo@3",
        "labels": [
            {"label": "scratch", "reviewed": 1, "confirmed": 1, "rejected": 0, "relabelled": 0, "precision": 1.0}
        ],
        "sampled_passes": 0,
        "escapes": 0,
        "escape_rate": None,
    },
    {
        "line": "q-press",
        "model": "demo@1",
        "labels": [
            {"label": "dent", "reviewed": 1, "confirmed": 1, "rejected": 0, "relabelled": 0, "precision": 1.0},
            {"label": "scratch", "reviewed": 4, "confirmed": 2, "rejected": 1, "relabelled": 1, "precision": 0.5},
        ],
        "sampled_passes": 3,
        "escapes": 1,
        "escape_rate": 1 / 3,
    },
    {
        "line": "q-press",
        "model": "demo@2",
        "labels": [{"label": "stain", "reviewed": 1, "confirmed": 0, "rejected": 1, "relabelled": 0, "precision": 0.0}],
        "sampled_passes": 0,
        "escapes": 0,
        "escape_rate": None,
    },
]


@pytest.fixture
def reviewed_lines() -> dict[str, object]:
    press, station, _ = review_line("q-press")
    first, second = model_version(press, version="1"), model_version(press, version="2")
    paint, paint_station, _ = review_line("q-paint")
    third = model_version(paint, version="3")

    one = finished(station, Verdict.FAIL, model=first, defects=(("scratch", 0.9), ("scratch", 0.8), ("dent", 0.7)))
    two = finished(station, Verdict.FAIL, model=first, defects=(("scratch", 0.6), ("scratch", 0.95), ("dent", 0.5)))
    s1, s2, d1 = one.defects.order_by("id")
    s3, s4, _d2 = two.defects.order_by("id")
    for defect in (s1, s2, d1, s3):
        defect_review_record(defect=defect, decision="confirmed", by="qa")
    defect_review_record(defect=s3, decision="rejected", by="lead")
    defect_review_record(defect=s4, decision="relabelled", new_label="dent", by="qa")

    p1, p2, p3, _p4 = (finished(station, Verdict.PASS, model=first) for _ in range(4))
    part_disposition_record(inspection=p1, disposition="fail", reason="crack", by="qa")
    part_disposition_record(inspection=p2, disposition="pass", by="qa")
    part_disposition_record(inspection=p3, disposition="fail", reason="stain?", by="qa")
    part_disposition_record(inspection=p3, disposition="pass", by="lead")

    stained = finished(station, Verdict.FAIL, model=second, defects=(("stain", 0.9),))
    defect_review_record(defect=stained.defects.get(), decision="rejected", by="qa")
    painted = finished(paint_station, Verdict.FAIL, model=third, defects=(("scratch", 0.9),))
    defect_review_record(defect=painted.defects.get(), decision="confirmed", by="qa")
    return {"press": press, "paint": paint}


def test_the_figures_match_the_hand_computed_fixture(reviewed_lines):
    assert [row.as_json() for row in model_quality()] == EXPECTED


def test_only_sampled_passes_count_towards_escapes():
    """A pass QA opened outside the sample is no unbiased draw: it is left out."""
    _, station, _ = review_line("q-sample", rate=0.5)
    inside = finished(station, Verdict.PASS, id=uuid.UUID("00" + "2" * 30))
    outside = finished(station, Verdict.PASS, id=uuid.UUID("ff" + "2" * 30))
    part_disposition_record(inspection=inside, disposition="pass", by="qa")
    part_disposition_record(inspection=outside, disposition="fail", reason="dent", by="qa")

    (row,) = model_quality()
    assert (row.sampled_passes, row.escapes, row.escape_rate) == (1, 0, 0.0)


def test_the_api_gives_the_figures_by_line(reviewed_lines):
    api = mes_api(make_api_client(scopes=[Scope.RESULTS_READ])[1])
    assert api.get("/api/v1/quality/").json() == {"results": EXPECTED}
    assert api.get("/api/v1/quality/?line=q-press").json() == {"results": EXPECTED[1:]}


def test_the_api_for_signed_in_users_too(reviewed_lines):
    client = APIClient()
    client.force_login(make_user("operator"))
    assert client.get("/api/v1/quality/?line=q-paint").json() == {"results": EXPECTED[:1]}


def test_the_api_refuses_what_it_should(reviewed_lines):
    api = mes_api(make_api_client()[1])
    cases = {
        "/api/v1/quality/?line=nowhere": (404, "line_not_found"),
        "/api/v1/quality/?line=NO%20WAY": (400, "line_invalid"),
        "/api/v1/quality/?label=scratch": (400, "parameter_unknown"),
        "/api/v1/quality/?line=q-press&line=q-paint": (400, "parameter_invalid"),
    }
    for url, (status, code) in cases.items():
        response = api.get(url)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), url

    acks_only = mes_api(make_api_client(scopes=[Scope.RESULTS_ACK])[1])
    assert acks_only.get("/api/v1/quality/").json()["error"]["code"] == "scope_missing"
    assert APIClient().get("/api/v1/quality/").status_code == 401


def test_an_api_client_sees_only_its_lines(reviewed_lines):
    api = mes_api(make_api_client(lines=[reviewed_lines["paint"]])[1])
    assert api.get("/api/v1/quality/").json() == {"results": EXPECTED[:1]}
    # Another line is as unknown as a made-up one.
    response = api.get("/api/v1/quality/?line=q-press")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "line_not_found")


def test_the_api_reads_in_a_fixed_number_of_queries(reviewed_lines):
    """Figures are aggregated in the database: more reviews, lines and versions add no query."""
    api = mes_api(make_api_client()[1])
    api.get("/api/v1/quality/")  # the client's first call writes its last use
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/quality/")
    _, station, _ = review_line("q-more")
    for _ in range(5):
        inspection = finished(station, Verdict.FAIL, defects=(("dent", 0.9), ("scratch", 0.8)))
        for defect in inspection.defects.all():
            defect_review_record(defect=defect, decision="confirmed", by="qa")
        part_disposition_record(inspection=finished(station, Verdict.PASS), disposition="pass", by="qa")
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/quality/").json()["results"]) == 4
    assert len(many) == len(few)
