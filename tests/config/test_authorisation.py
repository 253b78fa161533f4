"""Who may do what, for every URL in the URLconf and every admin action, against one table.

Each URL pattern (config.urls, walked recursively: the admin's and django_prometheus's included)
has a row saying what each kind of caller gets; a pattern without a row fails the test, so a new
URL is added to the table on purpose. Every action of every registered ModelAdmin is POSTed to
its changelist by every caller, and the whole database is compared before and after.
"""

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from inspection.constants import Status, Verdict
from inspection.inference.registry import model_promote
from inspection.ingest.resumable import upload_create
from inspection.models import Defect, Inspection, InspectionModel
from lines.models import ProductionLine
from results.review.models import DefectReview, PartDisposition
from results.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from tests.factories import jpeg_bytes, make_api_client, make_line, make_station
from tests.inspection.test_worker import accept
from tests.users import make_user, viewer

pytestmark = pytest.mark.django_db

# The admin's app index is a regex of the registered apps, in the order they registered:
# its row goes by name, so re-registering a ModelAdmin elsewhere does not move it.
APP_INDEX = "admin app index (app_list)"

CALLERS = ["anonymous", "station", "other_station", "api_token", "plain_user", "viewer", "superuser"]

Outcome = str | int  # OK, LOGIN, or the exact status of a refusal
OK = "allowed"  # 2xx, or a redirect anywhere but a login page
LOGIN = "302 to login"  # the admin's
SIGN_IN = "302 to Kensa's sign-in page"  # the dashboards' (operators are not staff)


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return dict.fromkeys(CALLERS, outcome)


def staff_only(*, viewer: Outcome, superuser: Outcome) -> dict[str, Outcome]:
    """The admin: whoever is not signed in as staff is sent to its login page (a station key or
    an API token is no admin session)."""
    return {**everyone(LOGIN), "viewer": viewer, "superuser": superuser}


# Dashboards: any signed-in plant user who sees the line (operators are not staff; line A is
# the plain user's, every line the viewer's); keys and tokens are for the API.
# tests/config/test_roles.py checks the lines a user does not see.
SIGNED_IN = {**everyone(SIGN_IN), "plain_user": OK, "viewer": OK, "superuser": OK}
# One inspection of line A: plant users, and line A's own station; line B's station is told
# what an unknown id gets (404), so ids of other lines cannot be probed.
INSPECTION_OF_LINE_A = {**everyone(OK), "anonymous": 401, "other_station": 404}
# Station uploads (tus): stations only; for anyone else the answer asks for a station key.
STATIONS = {**everyone(401), "station": OK, "other_station": OK}


@dataclass
class Row:
    """How to call one URL pattern, and what each caller gets. `path` is formatted with the
    world's ids; `expect` has one entry per caller."""

    path: str
    expect: dict[str, Outcome]
    method: str = "get"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    signs_out: bool = False  # needs a client of its own: it ends the caller's session


TUS = {"Tus-Resumable": "1.0.0"}

URLS: dict[str, Row] = {
    "": Row("/", SIGNED_IN),
    "lines/<slug:line_code>/": Row("/lines/{line_a_code}/", SIGNED_IN),
    # Kensa's own sign-in page: open to all (a signed-in user is sent on to the dashboards);
    # signing out is a POST and ends on the sign-in page.
    "login/": Row("/login/", everyone(OK)),
    "logout/": Row("/logout/", everyone(SIGN_IN), method="post", signs_out=True),
    # Raw upload naming line A: its own station is accepted; line B's station is refused for
    # the line (403 line_mismatch); any other caller is asked for a station key.
    "api/v1/inspections/": Row(
        "/api/v1/inspections/?serial=SN-AUTH&line={line_a_code}",
        {**everyone(401), "station": OK, "other_station": 403},
        method="post",
        body=jpeg_bytes(),
        headers={"Content-Type": "image/jpeg"},
    ),
    "api/v1/uploads/": Row(
        "/api/v1/uploads/",
        STATIONS,
        method="post",
        headers={**TUS, "Upload-Length": "100", "Upload-Metadata": "serial " + base64.b64encode(b"SN-TUS").decode()},
    ),
    # Station A's upload: another station cannot even learn that it exists.
    "api/v1/uploads/<uuid:upload_id>": Row(
        "/api/v1/uploads/{upload}", {**STATIONS, "other_station": 404}, method="head", headers=TUS
    ),
    "api/v1/inspections/<uuid:inspection_id>/": Row("/api/v1/inspections/{inspection}/", INSPECTION_OF_LINE_A),
    "api/v1/inspections/<uuid:inspection_id>/image": Row(
        "/api/v1/inspections/{inspection}/image", INSPECTION_OF_LINE_A
    ),
    # The MES feed: plant users (the MES's API client is one), never a station (a station key
    # is no credential here at all).
    "api/v1/results/": Row(
        "/api/v1/results/", {**everyone(OK), "anonymous": 401, "station": 401, "other_station": 401}
    ),
    # Acknowledgements are an API client's own: a signed-in user has none to keep.
    "api/v1/results/ack": Row(
        "/api/v1/results/ack",
        {**everyone(403), "anonymous": 401, "station": 401, "other_station": 401, "api_token": OK},
        method="post",
        body=b'{"ids": ["{inspection}"]}',
        headers={"Content-Type": "application/json"},
    ),
    # Every inspection of a part: plant users and the MES, never a station.
    "api/v1/parts/<path:serial>/": Row(
        "/api/v1/parts/{serial}/", {**everyone(OK), "anonymous": 401, "station": 401, "other_station": 401}
    ),
    # Model quality from QA's reviews: plant users and the MES, never a station.
    "api/v1/quality/": Row(
        "/api/v1/quality/", {**everyone(OK), "anonymous": 401, "station": 401, "other_station": 401}
    ),
    # Webhook subscriptions: an API client's own (scope webhooks:manage); a signed-in user has none.
    "api/v1/webhooks/": Row(
        "/api/v1/webhooks/", {**everyone(403), "anonymous": 401, "station": 401, "other_station": 401, "api_token": OK}
    ),
    "api/v1/webhooks/<int:webhook_id>/": Row(
        "/api/v1/webhooks/{api_webhook}/",
        {**everyone(403), "anonymous": 401, "station": 401, "other_station": 401, "api_token": OK},
        method="delete",
    ),
    # The API's contract and its docs: public, as integrators read them before they hold a token.
    "api/schema/": Row("/api/schema/", everyone(OK)),
    "api/docs/": Row("/api/docs/", everyone(OK)),
    "api/redoc/": Row("/api/redoc/", everyone(OK)),
    "health": Row("/health", everyone(OK)),
    # /ready and /metrics: a bearer token or an allowed network (issue #22, item 10). The test
    # client calls from 127.0.0.1, inside the default allowed networks; tests/integration/
    # test_server_edges.py checks the refusals from outside.
    "ready": Row("/ready", everyone(OK)),
    "metrics": Row("/metrics", everyone(OK)),
    # The admin site's own pages.
    "admin/": Row("/admin/", staff_only(viewer=OK, superuser=OK)),
    "admin/login/": Row("/admin/login/", everyone(OK)),
    # Signing out is a POST; without a session it sends the caller to the admin's index.
    "admin/logout/": Row("/admin/logout/", everyone(OK), method="post", signs_out=True),
    "admin/password_change/": Row("/admin/password_change/", staff_only(viewer=OK, superuser=OK)),
    "admin/password_change/done/": Row("/admin/password_change/done/", staff_only(viewer=OK, superuser=OK)),
    # Autocomplete lists a related model's rows to staff who may view that model (here lines).
    "admin/autocomplete/": Row(
        "/admin/autocomplete/?app_label=lines&model_name=station&field_name=line", staff_only(viewer=OK, superuser=OK)
    ),
    "admin/jsi18n/": Row("/admin/jsi18n/", staff_only(viewer=OK, superuser=OK)),
    # No Kensa model has a public URL to "view on site".
    "admin/r/<path:content_type_id>/<path:object_id>/": Row(
        "/admin/r/{line_content_type}/{line_a}/", staff_only(viewer=404, superuser=404)
    ),
    APP_INDEX: Row("/admin/lines/", staff_only(viewer=OK, superuser=OK)),
    # QA review (results/review/admin.py): deciding needs results.review_inspection and the
    # export results.export_inspections, which a viewer lacks; the quality page is a view.
    "admin/inspection/inspection/<path:object_id>/review/defects/<int:defect_id>/": Row(
        "/admin/inspection/inspection/{inspection}/review/defects/{defect}/",
        staff_only(viewer=403, superuser=OK),
        method="post",
        body=b"decision=confirmed",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "admin/inspection/inspection/<path:object_id>/review/disposition/": Row(
        "/admin/inspection/inspection/{inspection}/review/disposition/",
        staff_only(viewer=403, superuser=OK),
        method="post",
        body=b"disposition=pass",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    # The `n` key: a redirect to the queue's next inspection, for whoever may view inspections.
    "admin/inspection/inspection/<path:object_id>/review/next/": Row(
        "/admin/inspection/inspection/{inspection}/review/next/", staff_only(viewer=OK, superuser=OK)
    ),
    "admin/inspection/inspection/export.csv": Row(
        "/admin/inspection/inspection/export.csv", staff_only(viewer=403, superuser=OK)
    ),
    "admin/inspection/inspection/quality/": Row(
        "/admin/inspection/inspection/quality/", staff_only(viewer=OK, superuser=OK)
    ),
    "admin/(?P<url>.*)$": Row("/admin/no-such-page/", staff_only(viewer=404, superuser=404)),
}

# The admin's pages for each registered model, as (viewer, superuser) per page: the viewer
# holds every view_* permission and nothing else.
EDITABLE: dict[str, tuple[Outcome, Outcome]] = {
    "changelist": (OK, OK),
    "add": (403, OK),
    "history": (OK, OK),
    "delete": (403, OK),
    "change": (OK, OK),
    "redirect": (OK, OK),
}
# Nobody writes these by hand, superusers included: the audit trail of model promotions, and
# the model's own output.
READ_ONLY = {**EDITABLE, "add": (403, 403), "delete": (403, 403)}
ADMIN_MODELS: dict[str, tuple[str, dict[str, tuple[Outcome, Outcome]]]] = {
    "auth/group": ("group", EDITABLE),
    "auth/user": ("user", EDITABLE),
    "results/apiclient": ("api_client", EDITABLE),
    "lines/productionline": ("line_a", EDITABLE),
    "lines/station": ("station_a", EDITABLE),
    "inspection/inspectionmodel": ("model", EDITABLE),
    "inspection/modelevent": ("event", READ_ONLY),
    # Inspections arrive from stations only; QA may delete one by hand.
    "inspection/inspection": ("inspection", {**EDITABLE, "add": (403, 403)}),
    "inspection/defect": ("defect", READ_ONLY),
    # QA's review records: an audit trail, written only by the review's services.
    "results/defectreview": ("defect_review", READ_ONLY),
    "results/partdisposition": ("disposition", READ_ONLY),
    # Webhooks: subscriptions are managed by admins; deliveries and their attempts are written by
    # the sender only ("send again" is an action), and go with their subscription or inspection.
    "results/webhooksubscription": ("webhook_subscription", EDITABLE),
    "results/webhookdelivery": ("webhook_delivery", {**EDITABLE, "add": (403, 403)}),
    "results/webhookattempt": ("webhook_attempt", {**EDITABLE, "add": (403, 403)}),
    # Sign-ins (django-axes): attempts are counted by the sign-in alone, and deleting one unlocks
    # it; the log of sign-ins is a trail.
    "axes/accessattempt": ("access_attempt", {**EDITABLE, "add": (403, 403)}),
    "axes/accesslog": ("access_log", READ_ONLY),
}
ADMIN_PAGES = {
    "changelist": ("", ""),
    "add": ("add/", "add/"),
    "history": ("<path:object_id>/history/", "{id}/history/"),
    "delete": ("<path:object_id>/delete/", "{id}/delete/"),
    "change": ("<path:object_id>/change/", "{id}/change/"),
    "redirect": ("<path:object_id>/", "{id}/"),
}
for _model, (_object, _pages) in ADMIN_MODELS.items():
    for _page, (_pattern, _path) in ADMIN_PAGES.items():
        _viewer, _superuser = _pages[_page]
        URLS[f"admin/{_model}/{_pattern}"] = Row(
            f"/admin/{_model}/" + _path.replace("{id}", "{" + _object + "}"),
            staff_only(viewer=_viewer, superuser=_superuser),
        )
URLS["admin/auth/user/<id>/password/"] = Row("/admin/auth/user/{user}/password/", staff_only(viewer=403, superuser=OK))


def url_patterns(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield APP_INDEX if pattern.name == "app_list" else prefix + str(pattern.pattern)


@dataclass
class World:
    """Two lines with a station each, and one of everything the admin and the API show."""

    keys: dict[str, str]
    users: dict[str, User]
    ids: dict[str, object]
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, caller: str) -> Client:
        """The caller's client, signed in once (the requests stay independent: none keeps state
        but the session)."""
        if caller not in self.clients:
            self.clients[caller] = self.new_client(caller)
        return self.clients[caller]

    def new_client(self, caller: str) -> Client:
        # Stations send their key, the MES (an API client with every scope, on every line) its token.
        if caller in ("station", "other_station", "api_token"):
            return Client(headers={"Authorization": f"Bearer {self.keys[caller]}"})
        client = Client()
        if caller in self.users:
            client.force_login(self.users[caller])
        return client


def model_row(line: ProductionLine | None = None) -> InspectionModel:
    """A registered version as a row only: no request here loads a model, and checking a real
    artifact would cost seconds."""
    return InspectionModel.objects.create(name="auth", version=uuid.uuid4().hex, sha256="0" * 64, line=line)


@pytest.fixture
def world() -> World:
    model = model_row()
    line_a, line_b = make_line(model=model), make_line(model=model)
    station_a, key_a = make_station(line_a, code="cam-a")
    _, key_b = make_station(line_b, code="cam-b")
    # The plain user (an operator) sees line A; the viewer every line (tests/config/test_roles.py
    # checks the lines a user does not see).
    users = {
        "plain_user": make_user("operator", lines=[line_a]),
        "viewer": viewer(),
        "superuser": make_user("root", superuser=True),
    }
    mes = make_user("mes")
    api_client, token = make_api_client(name="mes")
    inspection = accept(line_a)
    defect = Defect.objects.create(inspection=inspection, label="scratch", confidence=0.9)
    event = model_promote(model=model_row(line_b), by="setup")
    upload = upload_create(station=station_a, length=100, metadata={"serial": "SN-TUS"})
    ids = {
        "line_a": line_a.id,
        "line_a_code": line_a.code,
        "line_b": line_b.id,
        "station_a": station_a.id,
        "model": model.id,
        "event": event.id,
        "inspection": inspection.id,
        "defect": defect.id,
        "group": Group.objects.create(name="qa").id,
        "user": mes.id,
        "api_client": api_client.id,
        "serial": inspection.serial,
        "upload": upload.id,
        "defect_review": DefectReview.objects.create(defect=defect, decision="confirmed", by="setup").id,
        "disposition": PartDisposition.objects.create(inspection=inspection, disposition="pass", by="setup").id,
        "line_content_type": ContentType.objects.get_for_model(ProductionLine).id,
        **webhook_rows(inspection),
        **sign_in_rows(),
        "api_webhook": WebhookSubscription.objects.create(
            name="mes-own-hook", url="http://127.0.0.1:9/own", all_lines=True, api_client=api_client
        ).id,
    }
    return World(keys={"station": key_a, "other_station": key_b, "api_token": token}, users=users, ids=ids)


def sign_in_rows(username: str = "guesser") -> dict[str, object]:
    """A failed sign-in's count and a sign-in's log entry (django-axes)."""
    attempt = AccessAttempt.objects.create(
        username=username, ip_address="192.0.2.1", user_agent="test", failures_since_start=1
    )
    log = AccessLog.objects.create(username=username, ip_address="192.0.2.1", user_agent="test")
    return {"access_attempt": attempt.id, "access_log": log.id}


def webhook_rows(inspection: Inspection, name: str = "mes-hook") -> dict[str, object]:
    """A subscription with one delivered delivery and its attempt."""
    subscription = WebhookSubscription.objects.create(name=name, url=f"http://127.0.0.1:9/{name}", all_lines=True)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        inspection=inspection,
        feed_position=1,
        state="delivered",
        attempts=1,
        retry_until=timezone.now(),
    )
    attempt = WebhookAttempt.objects.create(delivery=delivery, at=timezone.now(), status_code=200)
    return {"webhook_subscription": subscription.id, "webhook_delivery": delivery.id, "webhook_attempt": attempt.id}


def outcome_matches(response: Any, expected: Outcome) -> bool:
    location = response.get("Location", "")
    to_login = response.status_code == 302 and location.startswith("/admin/login/")
    to_sign_in = response.status_code == 302 and location.startswith("/login/")
    if expected == LOGIN:
        return to_login
    if expected == SIGN_IN:
        return to_sign_in
    if expected == OK:
        return response.status_code < 400 and not to_login and not to_sign_in
    return response.status_code == expected


def describe(response: Any) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} to {response['Location']}"
    if response.get("Content-Type", "").startswith("application/json"):
        return f"{response.status_code} {response.json().get('error', {}).get('code', '')}"
    return str(response.status_code)


def test_every_url_has_a_row_and_every_row_a_url():
    patterns = list(url_patterns())
    assert len(patterns) == len(set(patterns)), "two patterns read the same: give them distinct rows"
    assert sorted(set(patterns) - URLS.keys()) == [], "URLs without a row in the authorisation table"
    assert sorted(URLS.keys() - set(patterns)) == [], "rows for URLs that no longer exist"


def test_every_caller_gets_what_the_table_says(world):
    wrong = []
    for pattern, row in URLS.items():
        path = row.path.format(**world.ids)
        for caller in CALLERS:
            client = world.new_client(caller) if row.signs_out else world.client(caller)
            body = row.body
            for name, value in world.ids.items():  # ids in a body, as `{name}` (JSON has braces of its own)
                body = body.replace(f"{{{name}}}".encode(), str(value).encode()) if body else body
            response = getattr(client, row.method)(
                path,
                **({"data": body, "content_type": row.headers["Content-Type"]} if body else {}),
                headers={k: v for k, v in row.headers.items() if k != "Content-Type"},
            )
            expected = row.expect[caller]
            if not outcome_matches(response, expected):
                wrong.append(
                    f"{row.method.upper()} {path} ({pattern}) as {caller}: {describe(response)}, want {expected}"
                )
            elif path.startswith("/api/") and response.status_code >= 400 and row.method != "head":
                # Refusals in the API come in its one error shape, with a code.
                assert response.json()["error"]["code"], path
    assert not wrong, "\n".join(wrong)


# --- admin actions ----------------------------------------------------------------------------


@dataclass
class ActionRow:
    """What one admin action is run on, and whether a superuser's run changes anything: every
    other caller must change nothing (non-staff are sent to the login page first)."""

    targets: Callable[[dict[str, Any]], list[object]]
    superuser_changes: bool


def spare(kind: str) -> Callable[[dict[str, Any]], list[object]]:
    return lambda objects: [objects[kind]]


ACTIONS: dict[str, ActionRow] = {
    "auth.group:delete_selected": ActionRow(spare("group"), True),
    "auth.user:delete_selected": ActionRow(spare("user"), True),
    "results.apiclient:delete_selected": ActionRow(spare("api_client"), True),
    "results.apiclient:revoke": ActionRow(spare("api_client_to_revoke"), True),
    "results.apiclient:renew_tokens": ActionRow(spare("api_client_to_renew"), True),
    "lines.productionline:delete_selected": ActionRow(spare("line"), True),
    "lines.productionline:roll_back_model": ActionRow(spare("promoted_line"), True),
    "lines.station:delete_selected": ActionRow(spare("station"), True),
    "lines.station:rotate_keys": ActionRow(spare("keyed_station"), True),
    "inspection.inspectionmodel:delete_selected": ActionRow(spare("model"), True),
    "inspection.inspectionmodel:promote": ActionRow(spare("candidate"), True),
    "inspection.modelevent:delete_selected": ActionRow(spare("event"), False),
    "inspection.inspection:delete_selected": ActionRow(spare("inspection"), True),
    "inspection.inspection:requeue": ActionRow(spare("failed"), True),
    "inspection.defect:delete_selected": ActionRow(spare("defect"), False),
    "inspection.inspection:confirm_defects": ActionRow(spare("unreviewed"), True),
    "inspection.inspection:disposition_pass": ActionRow(spare("passed"), True),
    # A download: it writes nothing (tests/results/test_dataset_export.py checks the zip).
    "inspection.inspection:export_dataset": ActionRow(spare("passed"), False),
    "results.defectreview:delete_selected": ActionRow(spare("defect_review"), False),
    "results.partdisposition:delete_selected": ActionRow(spare("disposition"), False),
    "results.webhooksubscription:delete_selected": ActionRow(spare("webhook_to_delete"), True),
    "results.webhooksubscription:rotate_secrets": ActionRow(spare("webhook_subscription"), True),
    "results.webhookdelivery:delete_selected": ActionRow(spare("webhook_delivery_to_delete"), True),
    # Sending again needs results.send_webhookdelivery, which a viewer lacks.
    "results.webhookdelivery:send_again": ActionRow(spare("webhook_delivery"), True),
    "results.webhookattempt:delete_selected": ActionRow(spare("webhook_attempt_to_delete"), True),
    "axes.accessattempt:delete_selected": ActionRow(spare("access_attempt_to_delete"), True),
    "axes.accesslog:delete_selected": ActionRow(spare("access_log"), False),
}


def registered_actions() -> Iterator[tuple[str, str, str]]:
    """(row key, changelist URL, action name) for every action of every registered ModelAdmin,
    whoever may run it."""
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        own = (model_admin.get_action(action) for action in model_admin.actions or [])
        names = {found[1] for found in own if found} | {name for name, _ in admin.site.actions}
        for name in sorted(names):
            yield f"{label}:{name}", url, name


def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but sessions (signing in writes one)."""
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models()
        if model is not Session
    }


@pytest.fixture
def action_targets(world) -> dict[str, Any]:
    """Objects for each action to act on, each its own, so one action's run leaves the next
    one's target as it was."""
    line = make_line(model=InspectionModel.objects.get(id=world.ids["model"]))
    promoted_line = make_line(model=InspectionModel.objects.get(id=world.ids["model"]))
    model_promote(model=model_row(promoted_line), by="setup")
    candidate = model_row(line)
    spare_user = make_user("leaver")
    failed = accept(line)
    Inspection.objects.filter(id=failed.id).update(status=Status.FAILED, error_code="too_many_attempts")
    unreviewed, passed = accept(line), accept(line)
    Inspection.objects.filter(id=unreviewed.id).update(status=Status.DONE, verdict=Verdict.FAIL)
    Defect.objects.create(inspection=unreviewed, label="scratch", confidence=0.9)
    Inspection.objects.filter(id=passed.id).update(status=Status.DONE, verdict=Verdict.PASS)
    return {
        "group": Group.objects.create(name="spare").id,
        "user": spare_user.id,
        "api_client": make_api_client(name="old-mes")[0].id,
        "api_client_to_revoke": make_api_client(name="leaving-mes")[0].id,
        "api_client_to_renew": make_api_client(name="leaked-mes")[0].id,
        "line": make_line(code=f"spare-{uuid.uuid4().hex[:8]}", model=None).id,
        "promoted_line": promoted_line.id,
        "station": make_station(line, code="spare")[0].id,
        "keyed_station": world.ids["station_a"],
        "model": model_row().id,
        "candidate": candidate.id,
        "event": world.ids["event"],
        "inspection": accept(line).id,
        "failed": failed.id,
        "defect": world.ids["defect"],
        "defect_review": world.ids["defect_review"],
        "disposition": world.ids["disposition"],
        "unreviewed": unreviewed.id,
        "passed": passed.id,
        # Each from a subscription of its own: deleting the delivery would take the attempt with it.
        "webhook_delivery_to_delete": webhook_rows(accept(line), name="old-hook")["webhook_delivery"],
        "webhook_attempt_to_delete": webhook_rows(accept(line), name="older-hook")["webhook_attempt"],
        "webhook_to_delete": webhook_rows(accept(line), name="gone-hook")["webhook_subscription"],
        "webhook_subscription": world.ids["webhook_subscription"],
        "webhook_delivery": world.ids["webhook_delivery"],
        "webhook_attempt": world.ids["webhook_attempt"],
        "access_attempt_to_delete": sign_in_rows("other-guesser")["access_attempt"],
        "access_log": world.ids["access_log"],
    }


def test_every_admin_action_has_a_row():
    keys = [key for key, _, _ in registered_actions()]
    assert sorted(set(keys) - ACTIONS.keys()) == [], "admin actions without a row in the table"
    assert sorted(ACTIONS.keys() - set(keys)) == [], "rows for admin actions that no longer exist"


def test_only_a_superuser_runs_admin_actions(world, action_targets):
    wrong = []
    for key, url, name in registered_actions():
        row = ACTIONS[key]
        data = {"action": name, "_selected_action": [str(t) for t in row.targets(action_targets)], "post": "yes"}
        for caller in CALLERS:  # the superuser last: a run that changes something ends the row
            client = world.client(caller)  # signed in before the state is read (it writes last_login)
            before = database_state()
            response = client.post(url, data)
            changed = database_state() != before
            staff = caller in ("viewer", "superuser")
            if not staff and not outcome_matches(response, LOGIN):
                wrong.append(f"{key} as {caller}: {describe(response)}, want {LOGIN}")
            if staff and outcome_matches(response, LOGIN):
                wrong.append(f"{key} as {caller}: sent to the login page")
            want_change = caller == "superuser" and row.superuser_changes
            if changed != want_change:
                wrong.append(f"{key} as {caller}: {'changed' if changed else 'did not change'} the database")
    assert not wrong, "\n".join(wrong)
