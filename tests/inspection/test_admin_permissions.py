"""Admin actions on models, lines and inspections need their permission; audit records and
defects cannot be written by hand in the admin, by anyone."""

import pytest
from django.test import Client

from inspection.constants import ModelStage, Status
from inspection.inference.registry import model_promote
from inspection.models import Defect, Inspection, InspectionModel, ModelEvent
from tests.factories import make_line, make_model
from tests.inspection.test_worker import accept
from tests.users import make_user, signed_in, viewer

pytestmark = pytest.mark.django_db

MODELS_URL = "/admin/inspection/inspectionmodel/"
LINES_URL = "/admin/lines/productionline/"
INSPECTIONS_URL = "/admin/inspection/inspection/"


def offered(client: Client, url: str, action: str) -> bool:
    return f'<option value="{action}"' in client.get(url).content.decode()


def run_action(client: Client, url: str, action: str, *ids: object):
    response = client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def line_with_candidate():
    current = make_model(always="good")
    line = make_line(model=current)
    candidate = make_model(always="scratch")
    InspectionModel.objects.filter(id=candidate.id).update(line=line)
    candidate.refresh_from_db()
    return line, current, candidate


def test_promote_needs_the_promote_permission_not_just_view_or_change():
    line, current, candidate = line_with_candidate()
    for user in (
        viewer(),
        make_user("editor", staff=True, perms=("inspection.view_inspectionmodel", "inspection.change_inspectionmodel")),
    ):
        client = signed_in(user)
        assert not offered(client, MODELS_URL, "promote")
        page = run_action(client, MODELS_URL, "promote", candidate.id)
        assert "now serves line" not in page
        line.refresh_from_db()
        assert line.inspection_model_id == current.id
        assert InspectionModel.objects.get(id=candidate.id).stage == ModelStage.DRAFT
        assert not ModelEvent.objects.exists()

    lead = signed_in(
        make_user(
            "qa-lead", staff=True, perms=("inspection.view_inspectionmodel", "inspection.promote_inspectionmodel")
        )
    )
    assert offered(lead, MODELS_URL, "promote")
    assert f"now serves line {line.code}" in run_action(lead, MODELS_URL, "promote", candidate.id)
    line.refresh_from_db()
    assert line.inspection_model_id == candidate.id
    assert list(ModelEvent.objects.values_list("model", "by")) == [(candidate.id, "qa-lead")]


def test_roll_back_needs_the_promote_permission_not_just_view_or_change_on_the_line():
    line, current, candidate = line_with_candidate()
    model_promote(model=candidate, by="setup")
    events = ModelEvent.objects.count()
    for user in (
        viewer(),
        make_user("planner", staff=True, perms=("lines.view_productionline", "lines.change_productionline")),
    ):
        client = signed_in(user)
        assert not offered(client, LINES_URL, "roll_back_model")
        assert "is back on" not in run_action(client, LINES_URL, "roll_back_model", line.id)
        line.refresh_from_db()
        assert line.inspection_model_id == candidate.id
        assert ModelEvent.objects.count() == events

    lead = signed_in(
        make_user("qa-lead", staff=True, perms=("lines.view_productionline", "inspection.promote_inspectionmodel"))
    )
    assert offered(lead, LINES_URL, "roll_back_model")
    assert f"Line {line.code} is back on" in run_action(lead, LINES_URL, "roll_back_model", line.id)
    line.refresh_from_db()
    assert line.inspection_model_id == current.id
    assert ModelEvent.objects.count() == events + 1


def test_changing_a_line_never_swaps_its_model_which_only_promotion_does():
    line, current, candidate = line_with_candidate()
    planner = signed_in(
        make_user("planner", staff=True, perms=("lines.view_productionline", "lines.change_productionline"))
    )
    form = {
        "code": line.code,
        "name": "Renamed",
        "priority": line.priority,
        "active": "on",
        "deadline_seconds": "300",
        "queue_limit": "2000",
        "review_sample_rate": "0.02",
        "inspection_model": str(candidate.id),
        "stations-TOTAL_FORMS": "0",
        "stations-INITIAL_FORMS": "0",
    }
    response = planner.post(f"{LINES_URL}{line.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    line.refresh_from_db()
    assert (line.name, line.inspection_model_id) == ("Renamed", current.id)
    assert not ModelEvent.objects.exists()


def test_requeue_needs_change_on_inspections():
    row = accept(make_line())
    Inspection.objects.filter(id=row.id).update(status=Status.FAILED, error_code="too_many_attempts")
    client = signed_in(viewer())
    assert not offered(client, INSPECTIONS_URL, "requeue")
    assert "queued again" not in run_action(client, INSPECTIONS_URL, "requeue", row.id)
    assert Inspection.objects.get(id=row.id).status == Status.FAILED

    qa = signed_in(make_user("qa", staff=True, perms=("inspection.view_inspection", "inspection.change_inspection")))
    assert "1 inspections queued again" in run_action(qa, INSPECTIONS_URL, "requeue", row.id)
    assert Inspection.objects.get(id=row.id).status == Status.QUEUED


def test_model_events_cannot_be_added_changed_or_deleted_even_by_a_superuser():
    line, _, candidate = line_with_candidate()
    event = model_promote(model=candidate, by="qa-lead")
    root = signed_in(make_user("root", superuser=True))
    url = f"/admin/inspection/modelevent/{event.id}/"
    assert root.get(f"{url}change/").status_code == 200  # it can be read
    assert root.get("/admin/inspection/modelevent/add/").status_code == 403
    assert root.post("/admin/inspection/modelevent/add/", {"line": line.id, "action": "promote"}).status_code == 403
    assert root.post(f"{url}change/", {"by": "someone else"}).status_code == 403
    assert root.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert not offered(root, "/admin/inspection/modelevent/", "delete_selected")
    run_action(root, "/admin/inspection/modelevent/", "delete_selected", event.id)
    assert list(ModelEvent.objects.values_list("id", "by")) == [(event.id, "qa-lead")]


def test_defects_cannot_be_added_changed_or_deleted_by_hand_even_by_a_superuser():
    row = accept(make_line())
    defect = Defect.objects.create(inspection=row, label="scratch", confidence=0.9)
    root = signed_in(make_user("root", superuser=True))
    url = f"/admin/inspection/defect/{defect.id}/"
    assert root.get(f"{url}change/").status_code == 200
    assert root.get("/admin/inspection/defect/add/").status_code == 403
    assert root.post(f"{url}change/", {"label": "dent", "confidence": 0.1}).status_code == 403
    assert root.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    run_action(root, "/admin/inspection/defect/", "delete_selected", defect.id)

    # Nor through the inline on the inspection's page: no "add another", no delete box, and
    # a hand-made POST that edits, deletes and adds defects changes none of them.
    page = root.get(f"/admin/inspection/inspection/{row.id}/change/").content.decode()
    assert "defects-0-DELETE" not in page and 'name="defects-MAX_NUM_FORMS" value="0"' in page
    root.post(
        f"/admin/inspection/inspection/{row.id}/change/",
        {
            "defects-TOTAL_FORMS": "2",
            "defects-INITIAL_FORMS": "1",
            "defects-MIN_NUM_FORMS": "0",
            "defects-MAX_NUM_FORMS": "1000",
            "defects-0-id": str(defect.id),
            "defects-0-inspection": str(row.id),
            "defects-0-label": "dent",
            "defects-0-confidence": "0.1",
            "defects-0-DELETE": "on",
            "defects-1-inspection": str(row.id),
            "defects-1-label": "crack",
            "defects-1-confidence": "0.5",
        },
    )
    assert list(Defect.objects.values_list("id", "label", "confidence")) == [(defect.id, "scratch", 0.9)]
