"""The review in the admin: the inspection's page (image, boxes, times to the second, model,
thresholds, review state), the decision POSTs with and without the permission and CSRF, the
bulk actions, the queue and the CSV export."""

import csv
import io
import re

import pytest
from django.test import Client

from inspection.constants import Verdict
from inspection.models import Defect, Inspection
from results.review.models import DefectReview, PartDisposition
from results.review.services import defect_review_record
from tests.results.review_data import finished, review_line
from tests.users import make_user, signed_in, viewer

pytestmark = pytest.mark.django_db

REVIEWER_PERMS = ("inspection.view_inspection", "results.review_inspection")


def reviewer(name: str = "qa", *extra: str) -> Client:
    return signed_in(make_user(name, staff=True, perms=(*REVIEWER_PERMS, *extra)))


def page(inspection: Inspection) -> str:
    return f"/admin/inspection/inspection/{inspection.id}/change/"


def test_the_page_shows_the_image_with_its_boxes_times_to_the_second_and_the_model():
    _, station, model = review_line("ad-a")
    inspection = finished(station, Verdict.FAIL, defects=(("scratch", 0.91), ("dent", 0.7)))
    defect_review_record(defect=inspection.defects.get(label="dent"), decision="rejected", by="qa1")

    html = reviewer().get(page(inspection)).content.decode()

    assert f'<img src="/api/v1/inspections/{inspection.id}/image"' in html
    assert '<svg class="kensa-boxes" viewBox="0 0 320 256"' in html
    assert re.search(r'<rect x="10(\.0)?" y="20(\.0)?" width="30(\.0)?" height="40(\.0)?"', html)
    assert 'class="kensa-box state-rejected"' in html and 'class="kensa-box state-unreviewed"' in html
    assert inspection.received_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert str(model) in html and "<td>scratch</td><td>0.6</td>" in html  # per-label threshold
    assert "rejected by qa1" in html
    assert "/static/results/review.js" in html and "/static/results/review.css" in html
    assert 'name="decision" value="rejected"' in html and 'name="disposition" value="fail"' in html


def test_a_viewer_sees_the_review_without_its_forms():
    _, station, _ = review_line("ad-b")
    inspection = finished(station, Verdict.FAIL, defects=(("scratch", 0.91),))
    html = signed_in(viewer()).get(page(inspection)).content.decode()
    assert "kensa-boxes" in html and 'name="decision"' not in html and 'name="disposition"' not in html


def test_decisions_need_the_review_permission():
    _, station, _ = review_line("ad-c")
    inspection = finished(station, Verdict.PASS, defects=(("scratch", 0.3),))
    defect = inspection.defects.get()
    url = f"/admin/inspection/inspection/{inspection.id}/review/defects/{defect.id}/"
    disposition = f"/admin/inspection/inspection/{inspection.id}/review/disposition/"
    staff_viewer = signed_in(viewer())

    assert staff_viewer.post(url, {"decision": "rejected"}).status_code == 403
    assert staff_viewer.post(disposition, {"disposition": "fail", "reason": "crack"}).status_code == 403
    assert reviewer("qa-get").get(url).status_code == 405  # decisions are POSTs
    assert not DefectReview.objects.exists() and not PartDisposition.objects.exists()

    qa = reviewer()
    assert qa.post(url, {"decision": "rejected"}).status_code == 302
    assert qa.post(disposition, {"disposition": "fail", "reason": "crack"}).status_code == 302
    assert DefectReview.objects.get().decision == "rejected"
    record = PartDisposition.objects.get()
    assert (record.disposition, record.escape, record.by, record.reason) == ("fail", True, "qa", "crack")
    assert Inspection.objects.get(id=inspection.id).verdict == Verdict.PASS


def test_a_refused_decision_writes_nothing_and_says_why():
    _, station, _ = review_line("ad-d")
    inspection = finished(station, Verdict.PASS, defects=(("scratch", 0.3),))
    defect = inspection.defects.get()
    qa = reviewer()

    response = qa.post(
        f"/admin/inspection/inspection/{inspection.id}/review/disposition/", {"disposition": "fail"}, follow=True
    )
    assert "review_reason_required" in response.content.decode()
    response = qa.post(
        f"/admin/inspection/inspection/{inspection.id}/review/defects/{defect.id}/",
        {"decision": "relabelled", "new_label": "rust"},
        follow=True,
    )
    assert "review_label_invalid" in response.content.decode()
    assert not DefectReview.objects.exists() and not PartDisposition.objects.exists()


def test_a_defect_of_another_inspection_is_not_found():
    _, station, _ = review_line("ad-e")
    one = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),))
    other = finished(station, Verdict.FAIL, defects=(("dent", 0.9),))
    url = f"/admin/inspection/inspection/{one.id}/review/defects/{other.defects.get().id}/"
    assert reviewer().post(url, {"decision": "confirmed"}).status_code == 404
    assert not DefectReview.objects.exists()


def test_decisions_need_the_csrf_token():
    _, station, _ = review_line("ad-f")
    inspection = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),))
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("qa", staff=True, perms=REVIEWER_PERMS))
    url = f"/admin/inspection/inspection/{inspection.id}/review/defects/{inspection.defects.get().id}/"

    assert client.post(url, {"decision": "confirmed"}).status_code == 403
    assert not DefectReview.objects.exists()

    html = client.get(page(inspection)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token
    assert client.post(url, {"decision": "confirmed", "csrfmiddlewaretoken": token.group(1)}).status_code == 302
    assert DefectReview.objects.count() == 1


def test_bulk_actions_need_the_review_permission():
    _, station, _ = review_line("ad-g")
    failed = finished(station, Verdict.FAIL, defects=(("scratch", 0.9), ("dent", 0.8)))
    passed = finished(station, Verdict.PASS)
    changelist = "/admin/inspection/inspection/"
    data = {"_selected_action": [str(failed.id), str(passed.id)], "post": "yes"}
    change_only = signed_in(make_user("editor", staff=True, perms=("inspection.view_inspection",)))

    change_only.post(changelist, {**data, "action": "confirm_defects"})
    change_only.post(changelist, {**data, "action": "disposition_pass"})
    assert not DefectReview.objects.exists() and not PartDisposition.objects.exists()

    qa = reviewer()
    qa.post(changelist, {**data, "action": "confirm_defects"})
    qa.post(changelist, {**data, "action": "disposition_pass"})
    assert DefectReview.objects.filter(decision="confirmed").count() == 2
    # The model failed one part: passing it needs a reason, which a bulk action has none of.
    assert list(PartDisposition.objects.values_list("inspection_id", "disposition")) == [(passed.id, "pass")]


def test_the_queue_lists_what_to_review_first():
    _, station, _ = review_line("ad-h", rate=0.0)
    sure = finished(station, Verdict.FAIL, defects=(("scratch", 0.95),), serial="SN-SURE")
    unsure = finished(station, Verdict.FAIL, defects=(("scratch", 0.55),), serial="SN-UNSURE")
    asked = finished(station, Verdict.REVIEW, serial="SN-ASKED")
    finished(station, Verdict.PASS, serial="SN-PASS")  # rate 0: no pass is sampled

    html = reviewer().get("/admin/inspection/inspection/?queue=1").content.decode()
    listed = re.findall(r"SN-[A-Z]+", html)
    assert listed.index("SN-ASKED") < listed.index("SN-UNSURE")
    assert "SN-SURE" not in listed and "SN-PASS" not in listed
    assert {asked.id, unsure.id}.isdisjoint({sure.id})


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_streams_the_filtered_list_to_those_allowed():
    line, station, model = review_line("ad-i")
    failed = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),), serial="=HYPERLINK(1)")
    finished(station, Verdict.PASS, serial="SN-OK")
    url = f"/admin/inspection/inspection/export.csv?verdict__exact=fail&line__id__exact={line.id}"

    assert reviewer("qa-only").get(url).status_code == 403  # reviewing is not exporting
    response = reviewer("exporter", "results.export_inspections").get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    header, *rows = csv_rows(response)
    assert header[:6] == ["id", "line", "station", "serial", "status", "verdict"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["id"] == str(failed.id) and row["serial"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet
    assert (row["model"], row["defects"], row["verdict"]) == (str(model), "scratch:0.900", "fail")


def test_the_quality_page_shows_the_figures():
    _, station, _ = review_line("ad-j")
    inspection = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),))
    defect_review_record(defect=Defect.objects.get(inspection=inspection), decision="confirmed", by="q")
    html = signed_in(viewer()).get("/admin/inspection/inspection/quality/").content.decode()
    assert "<td>ad-j</td>" in html and "<td>scratch</td><td>1</td><td>1</td><td>0</td><td>0</td><td>1.000</td>" in html
