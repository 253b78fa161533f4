"""QA's review in a real Chromium: the queue, the image with its boxes, a defect rejected, the
next part of the queue by key and a passed part failed; the records and the quality figures follow."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from inspection.constants import Status, Verdict
from inspection.models import Defect, Inspection
from results.review.models import DefectReview, PartDisposition
from results.review.selectors import model_quality
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.integration.test_dashboard_browser import CHROMEDRIVER, CHROMIUM, browser  # noqa: F401  (fixture)
from tests.results.review_data import model_version

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are needed"),
]


@pytest.fixture(scope="module", autouse=True)
def _static_collected():
    """The admin's and the review's CSS and JS, where WhiteNoise serves them from (it reads
    STATIC_ROOT when the server starts, so before daphne_server)."""
    call_command("collectstatic", interactive=False, verbosity=0)


def after_reload(browser) -> WebDriverWait:  # noqa: F811
    """A wait across the POST's redirect: the old page's elements go stale under it."""
    return WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))


def judged(line, verdict: str, boxes: tuple[tuple[str, float, list[int]], ...] = ()) -> Inspection:
    inspection = accept(line)  # a real stored image, which the page loads through the API
    Inspection.objects.filter(id=inspection.id).update(status=Status.DONE, verdict=verdict, model=line.inspection_model)
    for label, confidence, box in boxes:
        Defect.objects.create(inspection=inspection, label=label, confidence=confidence, box=box, area=1)
    return Inspection.objects.get(id=inspection.id)


def test_qa_rejects_a_defect_and_fails_a_passed_part(daphne_server, browser):  # noqa: F811
    line = make_line(code="review-browser", model=None, review_sample_rate=1.0)
    line.inspection_model = model_version(line, version="b1")
    line.save(update_fields=["inspection_model"])
    failed = judged(line, Verdict.FAIL, (("scratch", 0.62, [40, 40, 120, 100]), ("dent", 0.58, [150, 60, 200, 120])))
    passed = judged(line, Verdict.PASS)
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("qa-lead", password="x"))

    browser.get(f"{daphne_server.url}/health")  # a page on the host, so the cookie can be set
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    browser.get(f"{daphne_server.url}/admin/inspection/inspection/?queue=1")
    queue = browser.find_element(By.ID, "result_list").text
    assert failed.serial in queue  # an unsure fail and a sampled pass are both queued

    browser.get(f"{daphne_server.url}/admin/inspection/inspection/{failed.id}/change/")
    image = browser.find_element(By.CSS_SELECTOR, ".kensa-stage img")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.kensa-boxes rect")) == 2
    browser.find_element(By.CSS_SELECTOR, "[data-zoom=in]").click()  # review.js is served and runs
    assert browser.find_element(By.CSS_SELECTOR, ".kensa-zoom-level").text == "125%"

    scratch = failed.defects.get(label="scratch")
    browser.find_element(By.CSS_SELECTOR, f'tr[data-defect="{scratch.id}"] button[value="rejected"]').click()
    after_reload(browser).until(
        lambda d: "rejected by qa-lead" in d.find_element(By.CSS_SELECTOR, f'tr[data-defect="{scratch.id}"]').text
    )
    assert browser.find_element(By.CSS_SELECTOR, f'g[data-defect="{scratch.id}"]').get_attribute("class") == (
        "kensa-box state-rejected"
    )

    dent = failed.defects.get(label="dent")
    browser.find_element(By.TAG_NAME, "body").send_keys("c")  # the next unreviewed defect, by key
    after_reload(browser).until(
        lambda d: "confirmed by qa-lead" in d.find_element(By.CSS_SELECTOR, f'tr[data-defect="{dent.id}"]').text
    )

    # Reviewed, the fail has left the queue: n opens the queue's next one, the sampled pass.
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    after_reload(browser).until(lambda d: f"/admin/inspection/inspection/{passed.id}/change/" in d.current_url)
    browser.find_element(By.CSS_SELECTOR, ".kensa-dispose input[name=reason]").send_keys("crack under the label")
    browser.find_element(By.CSS_SELECTOR, '.kensa-dispose button[value="fail"]').click()
    after_reload(browser).until(lambda d: "escape" in d.find_element(By.CSS_SELECTOR, ".kensa-disposition").text)

    assert dict(DefectReview.objects.values_list("defect__label", "decision")) == {
        "scratch": "rejected",
        "dent": "confirmed",
    }
    record = PartDisposition.objects.get()
    assert (record.inspection_id, record.escape, record.by) == (passed.id, True, "qa-lead")
    (quality,) = model_quality(line_ids={line.id})
    figures = [(q.label, q.reviewed, q.rejected, q.precision) for q in quality.labels]
    assert figures == [("dent", 1, 0, 1.0), ("scratch", 1, 1, 0.0)]
    assert (quality.sampled_passes, quality.escapes, quality.escape_rate) == (1, 1, 1.0)
