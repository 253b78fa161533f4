"""The operator's view: a real Chromium shows a new verdict on the line's dashboard, live."""

import shutil

import pytest
from django.test import Client
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from inspection.demo.feeder import upload
from tests.factories import jpeg_bytes, make_line, make_model, make_station
from tests.users import make_user

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are needed"),
]


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_dashboard_shows_a_new_verdict_live(celery_worker_process, daphne_server, browser):
    line = make_line(code="browser-line", model=make_model(always="scratch"))
    _, key = make_station(line)
    client = Client()
    client.force_login(make_user("operator"))

    browser.get(f"{daphne_server.url}/health")  # a page on the host, so the cookie can be set
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    browser.get(f"{daphne_server.url}/lines/browser-line/")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
    assert browser.find_elements(By.CSS_SELECTOR, "#feed .card") == []

    status, body = upload(daphne_server.url, key, jpeg=jpeg_bytes(label="scratch"), serial="BROWSER-1")
    assert status == 202, body

    card = WebDriverWait(browser, 90).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f'#feed .card[data-id="{body["id"]}"]')
    )
    assert "fail" in card.get_attribute("class").split()
    assert "BROWSER-1" in card.text and "scratch" in card.text
    assert browser.find_element(By.ID, "n-fail").text == "1"
    image = card.find_element(By.TAG_NAME, "img")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)


def test_dashboard_draws_the_boxes_of_a_segmentation_models_defects(celery_worker_process, daphne_server, browser):
    from inspection.inference.registry import check_artifact, inspection_model_register
    from tests.inspection.test_segmentation import LABELS, PaintedRegions, scripted

    model = inspection_model_register(
        name="seg-browser",
        version="1",
        architecture="",
        artifact=scripted(PaintedRegions()),
        labels=LABELS,
        good_labels=["background"],
        input_size=64,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        format="torchscript",
        task="segmentation",
        checker=check_artifact,
    )
    line = make_line(code="browser-seg", model=model)
    _, key = make_station(line)
    client = Client()
    client.force_login(make_user("operator"))
    browser.get(f"{daphne_server.url}/health")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    browser.get(f"{daphne_server.url}/lines/browser-seg/")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")

    status, body = upload(daphne_server.url, key, jpeg=jpeg_bytes(), serial="BROWSER-SEG")
    assert status == 202, body
    card = WebDriverWait(browser, 90).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f'#feed .card[data-id="{body["id"]}"]')
    )
    boxes = card.find_elements(By.CSS_SELECTOR, ".box")
    assert sorted(box.text for box in boxes) == ["scratch", "spot"]
    scratch = next(box for box in boxes if box.text == "scratch")
    # rows 10-19, columns 30-49 of 64: the box sits in the upper right part of the image
    assert scratch.value_of_css_property("left").endswith("px") and scratch.size["width"] > scratch.size["height"]
    browser.save_screenshot(str(daphne_server.log.parent / "dashboard-boxes.png"))


def test_a_dashboard_follows_its_operators_access_and_sign_out(daphne_server, browser):
    """results/live_access.py through daphne to Chromium: the open dashboard of a line taken
    from the operator says so (and stops reconnecting); one whose operator signs out elsewhere
    goes to the sign-in page."""
    kept, lost = make_line(code="browser-kept"), make_line(code="browser-lost")
    operator = make_user("moving-operator", lines=[kept, lost])
    client = Client()
    client.force_login(operator)
    browser.get(f"{daphne_server.url}/health")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})

    browser.get(f"{daphne_server.url}/lines/browser-lost/")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
    operator.line_access.lines.remove(lost)
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text == "no access to this line")

    browser.get(f"{daphne_server.url}/lines/browser-kept/")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
    client.logout()  # the same session, signed out from another tab
    WebDriverWait(browser, 20).until(lambda d: "/login/" in d.current_url)
    assert browser.current_url.endswith("/login/?next=%2Flines%2Fbrowser-kept%2F")
