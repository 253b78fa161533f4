"""Roles x lines x endpoints: the four groups the data migrations make (results/migrations/
0007_role_groups.py and 0008_plant_admins_unlock_sign_ins.py), each member limited to its own
line (plant admins see every line), against every dashboard page, the live feed, the JSON
reads, images, the admin's lists, pages, actions and exports; and Kensa's own sign-in page.

A cell is what one role gets for one endpoint on its own line or on the other line. Each
endpoint says what "seen" means for it; a role that lacks the permission altogether is refused
on both lines.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.db import connections
from django.test import Client

from config.asgi import application
from inspection.constants import ModelStage, Status, Verdict
from inspection.inference.registry import model_promote
from inspection.models import Defect, Inspection, InspectionModel, ModelEvent
from lines.models import ProductionLine, Station
from results.consumers import CLOSE_UNKNOWN_LINE
from results.review.models import DefectReview, PartDisposition
from tests.factories import make_line, make_station
from tests.inspection.test_worker import accept
from tests.users import make_role_groups, make_user, migration_apps, role_migration

ROLES = ["Operator", "QA reviewer", "Line supervisor", "Plant admin"]

EVERYTHING = ("view", "add", "change", "delete")
ROLE_PERMISSIONS = {
    "Operator": set(),
    "QA reviewer": {
        "inspection.view_inspection",
        "inspection.view_defect",
        "results.view_defectreview",
        "results.view_partdisposition",
        "results.review_inspection",
        "results.export_inspections",
    },
    "Line supervisor": {
        "lines.view_productionline",
        "lines.change_productionline",
        "lines.view_station",
        "lines.add_station",
        "lines.change_station",
        "inspection.view_inspectionmodel",
        "inspection.promote_inspectionmodel",
        "inspection.view_modelevent",
        "inspection.view_inspection",
        "inspection.view_defect",
    },
    "Plant admin": {
        "lines.see_every_line",
        "inspection.promote_inspectionmodel",
        "results.review_inspection",
        "results.export_inspections",
        "results.send_webhookdelivery",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        *(
            f"{app}.{action}_{model}"
            for app, models in {
                "lines": ("productionline", "station", "lineaccess"),
                "inspection": ("inspectionmodel", "modelevent", "inspection", "defect", "resumableupload"),
                "results": (
                    "apiclient",
                    "acknowledgement",
                    "defectreview",
                    "partdisposition",
                    "mqttcursor",
                    "webhooksubscription",
                    "webhookdelivery",
                    "webhookattempt",
                ),
                "auth": ("user", "group"),
            }.items()
            for model in models
            for action in EVERYTHING
        ),
    },
}


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.mark.django_db
def test_each_group_holds_exactly_its_permissions_and_the_migration_can_run_again_and_back(roles):
    assert {name: group_permissions(name) for name in ROLES} == ROLE_PERMISSIONS
    extra = Group.objects.get(name="Operator")
    extra.permissions.add(*Group.objects.get(name="Plant admin").permissions.all()[:3])
    make_role_groups()  # again: back to exactly the sets
    assert {name: group_permissions(name) for name in ROLES} == ROLE_PERMISSIONS
    Group.objects.create(name="Plant's own")
    role_migration().delete_groups(migration_apps(), None)
    assert list(Group.objects.values_list("name", flat=True)) == ["Plant's own"]


# --- the matrix -------------------------------------------------------------------------------


@dataclass
class Side:
    """One line with one of everything: a finished, reviewed inspection with a stored image and
    a defect, a station, a draft model version to promote."""

    line: ProductionLine
    station: Station
    inspection: Inspection
    defect: Defect
    review: DefectReview
    disposition: PartDisposition
    candidate: InspectionModel
    event: ModelEvent
    unjudged: Defect


def side(code: str) -> Side:
    line = make_line(code=code)
    model = InspectionModel.objects.create(
        name=code, version="1", sha256="0" * 64, labels=["good", "scratch"], line=line
    )
    event = model_promote(model=model, by="setup")
    station, _ = make_station(line, code="cam")
    inspection = accept(line)
    Inspection.objects.filter(id=inspection.id).update(status=Status.DONE, verdict=Verdict.FAIL, model=model)
    defect = Defect.objects.create(inspection=inspection, label="scratch", confidence=0.5, box=[1, 1, 9, 9], area=64)
    unjudged = Defect.objects.create(inspection=inspection, label="scratch", confidence=0.4)  # for the bulk action
    review = DefectReview.objects.create(defect=defect, decision="confirmed", by="setup")
    disposition = PartDisposition.objects.create(inspection=inspection, disposition="fail", by="setup")
    candidate = InspectionModel.objects.create(name=code, version="2", sha256="0" * 64, line=line)
    return Side(line, station, inspection, defect, review, disposition, candidate, event, unjudged)


def member(role: str, own: ProductionLine) -> User:
    """A member of the group, staff unless an operator, seeing its own line (a plant admin
    needs no line access record to see every line)."""
    lines = None if role == "Plant admin" else [own]
    user = make_user(role.lower().replace(" ", "-"), staff=role != "Operator", lines=lines)
    user.groups.add(Group.objects.get(name=role))
    return user


# What each role may do at all; on a line it does not see, it gets what a missing row gets.
ADMIN_VIEW = {
    "inspection/inspection": {"QA reviewer", "Line supervisor", "Plant admin"},
    "inspection/defect": {"QA reviewer", "Line supervisor", "Plant admin"},
    "results/defectreview": {"QA reviewer", "Plant admin"},
    "results/partdisposition": {"QA reviewer", "Plant admin"},
    "lines/productionline": {"Line supervisor", "Plant admin"},
    "lines/station": {"Line supervisor", "Plant admin"},
    "inspection/inspectionmodel": {"Line supervisor", "Plant admin"},
    "inspection/modelevent": {"Line supervisor", "Plant admin"},
}
REVIEWERS = {"QA reviewer", "Plant admin"}
PROMOTERS = {"Line supervisor", "Plant admin"}
STAFF = {"QA reviewer", "Line supervisor", "Plant admin"}


def admin_object(target: Side, model: str) -> object:
    return {
        "inspection/inspection": target.inspection.id,
        "inspection/defect": target.defect.id,
        "results/defectreview": target.review.id,
        "results/partdisposition": target.disposition.id,
        "lines/productionline": target.line.id,
        "lines/station": target.station.id,
        "inspection/inspectionmodel": target.candidate.id,
        "inspection/modelevent": target.event.id,
    }[model]


Check = Callable[[Client, Side], object]  # what the role got, to compare with the expectation


def status(path: str) -> Check:
    return lambda client, target: client.get(path.format(t=target)).status_code


def shows(path: str, text: Callable[[Side], object]) -> Check:
    """The page lists the target's row (200), or the role is refused (its status, or "login")."""

    def check(client: Client, target: Side) -> object:
        response = client.get(path.format(t=target))
        if response.status_code == 302 and response["Location"].startswith("/admin/login/"):
            return "login"
        if response.status_code != 200:
            return response.status_code
        body = response.getvalue()
        return str(text(target)) in body.decode()

    return check


def admin_changelist(model: str) -> Check:
    """The target's row in the admin list: the list's links name each row's id."""
    app_model = model

    def check(client: Client, target: Side) -> object:
        response = client.get(f"/admin/{app_model}/")
        if response.status_code != 200:
            return "login" if response.status_code == 302 else response.status_code
        return f"/admin/{app_model}/{admin_object(target, app_model)}/change/" in response.content.decode()

    return check


def admin_change(model: str) -> Check:
    def check(client: Client, target: Side) -> object:
        response = client.get(f"/admin/{model}/{admin_object(target, model)}/change/")
        if response.status_code == 302:
            return "login" if response["Location"].startswith("/admin/login/") else "not found"
        return response.status_code

    return check


def action(url: str, name: str, target_id: Callable[[Side], object], changed: Callable[[Side], bool]) -> Check:
    def check(client: Client, target: Side) -> object:
        client.post(url, {"action": name, "_selected_action": [str(target_id(target))]})
        return changed(target)

    return check


def review_post(client: Client, target: Side) -> object:
    response = client.post(
        f"/admin/inspection/inspection/{target.inspection.id}/review/defects/{target.defect.id}/",
        {"decision": "rejected"},
    )
    if response.status_code == 302:
        return "login" if response["Location"].startswith("/admin/login/") else "recorded"
    return response.status_code


def next_in_queue(client: Client, target: Side) -> object:
    response = client.get(f"/admin/inspection/inspection/{target.inspection.id}/review/next/")
    if response.status_code == 302:
        return "login" if response["Location"].startswith("/admin/login/") else "redirect"
    return response.status_code


def websocket_refusal(seen: bool) -> str:
    return "hello" if seen else f"closed {CLOSE_UNKNOWN_LINE}"


def expectations(role: str, seen: bool) -> dict[str, object]:
    """Endpoint -> what `role` gets when the target line is (`seen`) or is not among its lines."""
    staff = role in STAFF

    def admin_list(model: str) -> object:
        if not staff:
            return "login"
        return seen if role in ADMIN_VIEW[model] else 403

    def admin_page(model: str) -> object:
        if not staff:
            return "login"
        if role not in ADMIN_VIEW[model]:
            return 403
        return 200 if seen else "not found"

    cells: dict[str, object] = {
        "dashboard index": seen,
        "dashboard page": 200 if seen else 404,
        "inspection JSON": 200 if seen else 404,
        "inspection image": 200 if seen else 404,
        "part's inspections": seen,
        "results of the line": 200 if seen else 404,
        "quality of the line": 200 if seen else 404,
    }
    for model in ADMIN_VIEW:
        cells[f"admin list {model}"] = admin_list(model)
        cells[f"admin change {model}"] = admin_page(model)
    cells["admin review decision"] = (
        "login" if not staff else ("recorded" if seen else 404) if role in REVIEWERS else 403
    )
    # Every staff role views inspections.
    cells["admin next in queue"] = ("redirect" if seen else 404) if staff else "login"
    cells["admin CSV export"] = "login" if not staff else seen if role in REVIEWERS else 403
    cells["admin quality page"] = "login" if not staff else seen if role in REVIEWERS | PROMOTERS else 403
    cells["admin action confirm defects"] = role in REVIEWERS and seen
    cells["admin action promote"] = role in PROMOTERS and seen
    cells["admin action rotate station key"] = role in PROMOTERS and seen
    return cells


CHECKS: dict[str, Check] = {
    "dashboard index": shows("/", lambda t: f'href="/lines/{t.line.code}/"'),
    "dashboard page": status("/lines/{t.line.code}/"),
    "inspection JSON": status("/api/v1/inspections/{t.inspection.id}/"),
    "inspection image": status("/api/v1/inspections/{t.inspection.id}/image"),
    "part's inspections": shows("/api/v1/parts/SN-9/", lambda t: t.inspection.id),
    "results of the line": status("/api/v1/results/?line={t.line.code}"),
    "quality of the line": status("/api/v1/quality/?line={t.line.code}"),
    **{f"admin list {model}": admin_changelist(model) for model in ADMIN_VIEW},
    **{f"admin change {model}": admin_change(model) for model in ADMIN_VIEW},
    "admin review decision": review_post,
    "admin next in queue": next_in_queue,
    "admin CSV export": shows("/admin/inspection/inspection/export.csv", lambda t: t.inspection.id),
    "admin quality page": shows("/admin/inspection/inspection/quality/", lambda t: f"<td>{t.line.code}</td>"),
    "admin action confirm defects": action(
        "/admin/inspection/inspection/",
        "confirm_defects",
        lambda t: t.inspection.id,
        lambda t: DefectReview.objects.filter(defect=t.unjudged).exists(),
    ),
    "admin action promote": action(
        "/admin/inspection/inspectionmodel/",
        "promote",
        lambda t: t.candidate.id,
        lambda t: InspectionModel.objects.get(id=t.candidate.id).stage == ModelStage.PRODUCTION,
    ),
    "admin action rotate station key": action(
        "/admin/lines/station/",
        "rotate_keys",
        lambda t: t.station.id,
        lambda t: Station.objects.get(id=t.station.id).key_hash != t.station.key_hash,
    ),
}


@pytest.mark.django_db
def test_every_role_sees_its_own_lines_only_everywhere(roles):
    wrong = []
    cells = 0
    for role in ROLES:
        # Fresh lines per role: actions change what they act on.
        own, other = side(f"own-{ROLES.index(role)}"), side(f"other-{ROLES.index(role)}")
        client = Client()
        client.force_login(member(role, own.line))
        for target, name in ((own, "own line"), (other, "other line")):
            seen = target is own or role == "Plant admin"
            expected = expectations(role, seen)
            assert expected.keys() == CHECKS.keys()
            for endpoint, check in CHECKS.items():
                got = check(client, target)
                cells += 1
                if got != expected[endpoint]:
                    wrong.append(f"{role}, {name}, {endpoint}: got {got!r}, want {expected[endpoint]!r}")
    assert not wrong, "\n".join(wrong)
    assert cells == len(ROLES) * 2 * len(CHECKS)


@pytest.mark.django_db(transaction=True)
def test_the_live_feed_opens_on_the_roles_own_lines_only(roles):
    own, other = make_line(code="feed-own"), make_line(code="feed-other")
    got = {}
    for role in ROLES:
        client = Client()
        client.force_login(member(role, own))
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        for line in (own, other):
            got[(role, line.code)] = asyncio.run(first_message(line.code, cookie))
    asyncio.run(sync_to_async(connections.close_all)())
    assert got == {
        (role, line.code): websocket_refusal(line is own or role == "Plant admin")
        for role in ROLES
        for line in (own, other)
    }


async def first_message(code: str, cookie: bytes) -> str:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    feed = WebsocketCommunicator(application, f"/ws/lines/{code}/", headers=headers)
    await feed.connect()
    output = await feed.receive_output(timeout=5)
    await feed.disconnect()
    if output["type"] == "websocket.close":
        return f"closed {output['code']}"
    return "hello" if '"hello"' in output.get("text", "") else output.get("text", "")


# --- Kensa's own sign-in page -----------------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_signs_in_on_kensas_page_and_sees_their_dashboard(roles):
    own = make_line(code="sign-own")
    make_line(code="sign-other")
    operator = member("Operator", own)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/lines/sign-own/")
    assert page.status_code == 302 and page["Location"] == "/login/?next=/lines/sign-own/"
    form = client.get(page["Location"])
    assert form.status_code == 200 and b'name="next" value="/lines/sign-own/"' in form.content
    token = form.cookies["csrftoken"].value
    refused = client.post("/login/", {"username": operator.username, "password": "x"})
    assert refused.status_code == 403  # no CSRF token
    wrong = client.post("/login/", {"username": operator.username, "password": "y", "csrfmiddlewaretoken": token})
    assert wrong.status_code == 200 and b"Please enter a correct" in wrong.content
    signed = client.post(
        "/login/",
        {"username": operator.username, "password": "x", "next": "/lines/sign-own/", "csrfmiddlewaretoken": token},
    )
    assert signed.status_code == 302 and signed["Location"] == "/lines/sign-own/"
    dashboard = client.get("/lines/sign-own/")
    assert dashboard.status_code == 200
    html = dashboard.content.decode()
    assert 'href="/admin/"' not in html and 'action="/logout/"' in html  # not staff: no admin link
    assert client.get("/lines/sign-other/").status_code == 404
    index = client.get("/").content.decode()
    assert "sign-own" in index and "sign-other" not in index
    token = client.cookies["csrftoken"].value
    out = client.post("/logout/", {"csrfmiddlewaretoken": token})
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert client.get("/lines/sign-own/").status_code == 302
    # The admin's own sign-in still refuses a non-staff user.
    admin_form = Client().post("/admin/login/", {"username": operator.username, "password": "x"})
    assert admin_form.status_code == 200 and b"staff account" in admin_form.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "unsafe", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "http:evil.example", "javascript:x"]
)
def test_a_next_outside_kensa_is_ignored(unsafe):
    make_user("op", lines=None)
    response = Client().post("/login/", {"username": "op", "password": "x", "next": unsafe})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.django_db
def test_staff_see_the_admin_link_and_a_user_without_line_access_sees_no_line():
    line = make_line(code="no-access")
    staff = Client()
    staff.force_login(make_user("lead", staff=True))
    assert 'href="/admin/"' in staff.get("/").content.decode()
    nobody = Client()
    nobody.force_login(make_user("new-hire", lines=None))
    assert line.code not in nobody.get("/").content.decode()
    assert nobody.get(f"/lines/{line.code}/").status_code == 404
