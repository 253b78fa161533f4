"""Results carry absolute links and a short-lived signed image link that opens without a token
(inspection/links.py), and name the thresholds that judged them."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from inspection.constants import ModelStage
from inspection.links import Links, links_for
from inspection.models import thresholds_version
from tests.factories import jpeg_bytes, make_api_client, make_line, make_model, mes_api, run_inspection
from tests.inspection.test_worker import accept
from tests.users import make_user, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished():
    """A real result: an upload stored and run through the worker."""
    image = jpeg_bytes(seed=7)
    row = accept(make_line(code="paint-9"), data=image)
    run_inspection(row.id)
    return row, image


def result_of(row, token: str) -> dict:
    [item] = mes_api(token).get("/api/v1/results/", {"line": "paint-9"}).json()["results"]
    assert item["id"] == str(row.id)
    return item


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_the_signed_link_opens_the_image_without_credentials(finished):
    row, image = finished
    _, token = make_api_client(scopes=["results:read"])
    item = result_of(row, token)
    assert item["url"] == f"http://testserver/api/v1/inspections/{row.id}/"
    link = urlsplit(item["image_url"])
    assert (link.scheme, link.netloc, link.path) == ("http", "testserver", f"/api/v1/inspections/{row.id}/image")
    query = parse_qs(link.query)
    assert sorted(query) == ["expires", "signature"]
    assert 0 < int(query["expires"][0]) - time.time() <= 900

    response = Client().get(path_of(item["image_url"]))  # no token, no session
    assert response.status_code == 200
    assert response.getvalue() == image
    # Without the signature the same path needs credentials.
    assert Client().get(f"/api/v1/inspections/{row.id}/image").status_code == 401


def test_an_altered_or_foreign_signature_is_refused(finished):
    row, _ = finished
    other = accept(make_line(code="paint-10"))
    good = links_for().image(row.id)
    expires = parse_qs(urlsplit(good).query)["expires"][0]
    signature = parse_qs(urlsplit(good).query)["signature"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    later = str(int(expires) + 60)  # a longer life than was signed
    for path in [
        f"/api/v1/inspections/{row.id}/image?expires={expires}&signature={flipped}",
        f"/api/v1/inspections/{row.id}/image?expires={later}&signature={signature}",
        f"/api/v1/inspections/{other.id}/image?expires={expires}&signature={signature}",
        f"/api/v1/inspections/{row.id}/image?expires={expires}",
        f"/api/v1/inspections/{row.id}/image?signature={signature}",
        f"/api/v1/inspections/{row.id}/image?expires=-{expires}&signature={signature}",
        f"/api/v1/inspections/{row.id}/image?expires={expires}&signature={signature[:-2]}",
    ]:
        response = Client().get(path)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "image_link_invalid", path
    extra = Client().get(f"{path_of(good)}&line=paint-9")
    assert extra.status_code == 400 and extra.json()["error"]["code"] == "parameter_unknown"


def test_an_expired_link_is_refused_with_its_own_code(finished):
    row, _ = finished
    stale = Links(base="", expires=int(time.time()) - 1).image(row.id)
    response = Client().get(stale)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "image_link_expired"


def test_a_signed_link_to_an_unknown_inspection_is_not_found(finished):
    import uuid

    unknown = uuid.uuid4()
    response = Client().get(links_for().image(unknown))
    assert response.status_code == 404


@override_settings(KENSA_PUBLIC_URL="https://kensa.plant.example", KENSA_IMAGE_LINK_SECONDS=60)
def test_the_public_url_and_lifetime_come_from_settings(finished):
    row, _ = finished
    _, token = make_api_client(scopes=["results:read", "inspections:read"])
    item = result_of(row, token)
    assert item["url"] == f"https://kensa.plant.example/api/v1/inspections/{row.id}/"
    assert item["image_url"].startswith(f"https://kensa.plant.example/api/v1/inspections/{row.id}/image?")
    assert 0 < int(parse_qs(urlsplit(item["image_url"]).query)["expires"][0]) - time.time() <= 60
    # The inspection's own read and a part's read give the same kind of links.
    detail = mes_api(token).get(f"/api/v1/inspections/{row.id}/").json()
    assert detail["image_url"].startswith("https://kensa.plant.example/")
    part = mes_api(token).get(f"/api/v1/parts/{row.serial}/").json()
    assert part["inspections"][0]["image_url"].startswith("https://kensa.plant.example/")


def test_dashboards_keep_plain_paths(finished):
    """A signed-in browser reads the same origin with its session: paths, nothing signed."""
    row, _ = finished
    browser = signed_in(make_user("operator"))
    body = browser.get("/lines/paint-9/").content.decode()
    assert f"/api/v1/inspections/{row.id}/image" in body
    assert "signature=" not in body


def test_results_name_the_thresholds_that_judged_them(finished):
    row, _ = finished
    row.refresh_from_db()
    model = row.model
    _, token = make_api_client(scopes=["results:read"])
    item = result_of(row, token)
    assert item["model"] == {
        "name": model.name,
        "version": model.version,
        "thresholds_version": thresholds_version(model.thresholds, model.default_threshold),
    }
    assert len(item["model"]["thresholds_version"]) == 12
    # Any change to what judges gives another name; the same thresholds, however written, the same.
    assert thresholds_version({"spot": 0.5}, 0.5) != thresholds_version({"spot": 0.6}, 0.5)
    assert thresholds_version({"spot": 0.5}, 0.5) != thresholds_version({"spot": 0.5}, 0.4)
    assert thresholds_version({"a": 0.1, "b": 0.2}, 0.5) == thresholds_version({"b": 0.2, "a": 0.1}, 0.5)


def test_thresholds_are_fixed_once_a_version_has_served(finished):
    row, _ = finished
    row.refresh_from_db()
    served = row.model
    admin = signed_in(make_user("root", staff=True, superuser=True))

    def editable(model) -> bool:
        page = admin.get(f"/admin/inspection/inspectionmodel/{model.id}/change/").content.decode()
        fields = ['name="thresholds"', 'name="default_threshold"', 'name="labels"', 'name="artifact"']
        shown = [field in page for field in fields]
        assert len(set(shown)) == 1, shown
        return shown[0]

    assert served.has_served() and not editable(served)
    fresh = make_model()
    assert fresh.stage == ModelStage.DRAFT and editable(fresh)
    make_line(code="paint-11", model=fresh)  # serving a line, even as a draft, fixes it
    assert not editable(fresh)
