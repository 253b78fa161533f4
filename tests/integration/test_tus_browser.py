"""The standard browser tus client, tus-js-client 4.3.1 (vendored in tests/vendor/), uploads
through a real Chromium to a real daphne: a plain upload, an interrupted and resumed one, and a
last piece that is refused, which the client must not report as done."""

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from inspection.ingest import backlog
from inspection.models import Inspection, ResumableUpload
from lines.models import ProductionLine
from tests.factories import jpeg_bytes, make_line, make_station, stored_inspection

# The dashboard's browser test owns the Chromium fixture; its skip applies here too.
from tests.integration.test_dashboard_browser import CHROMEDRIVER, CHROMIUM, browser  # noqa: F401

BUNDLE = Path(__file__).parents[1] / "vendor" / "tus-js-client" / "tus.min.js"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are needed"),
]

# Runs in the page. Each upload is kept by name, so a test can start it again after an error
# as a station's page would; every response is recorded, so a test can see what the client did.
HARNESS = """
window.kensaTus = {
  uploads: {},
  start(spec) {
    const bytes = Uint8Array.from(atob(spec.image), (c) => c.charCodeAt(0));
    const file = new File([bytes], spec.serial + ".jpg", {type: "image/jpeg", lastModified: 1});
    const state = {responses: [], chunks: 0, resolve: null};
    const report = (result) => state.resolve({...result, url: upload.url, responses: state.responses});
    const upload = new tus.Upload(file, {
      endpoint: spec.endpoint,
      headers: {Authorization: "Bearer " + spec.key},
      metadata: {serial: spec.serial, filetype: "image/jpeg", filename: file.name},
      chunkSize: spec.chunkSize || Infinity,
      retryDelays: spec.retryDelays,
      onAfterResponse(req, res) {
        state.responses.push([req.getMethod(), res.getStatus(), res.getHeader("Upload-Offset") || null]);
      },
      onChunkComplete() {
        state.chunks += 1;
        if (spec.abortAfterChunks && state.chunks === spec.abortAfterChunks) {
          upload.abort().then(() => report({outcome: "aborted"}));
        }
      },
      onSuccess(payload) {
        report({outcome: "success", inspectionId: payload.lastResponse.getHeader("Kensa-Inspection-Id")});
      },
      onError(error) {
        const response = error.originalResponse;
        const [status, body] = response ? [response.getStatus(), response.getBody()] : [null, null];
        report({outcome: "error", status, body});
      },
    });
    this.uploads[spec.serial] = {upload, state};
    return this.resume(spec.serial, spec.findPrevious);
  },
  resume(serial, findPrevious) {
    const {upload, state} = this.uploads[serial];
    return new Promise((resolve) => {
      state.resolve = resolve;
      if (!findPrevious) return upload.start();
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
  },
};
"""


class Page:
    """A page on daphne's own origin (so no CORS is involved) with tus-js-client loaded."""

    def __init__(self, driver: Any, base_url: str, key: str):
        self.driver = driver
        self.endpoint = f"{base_url}/api/v1/uploads/"
        self.key = key
        driver.set_script_timeout(60)
        driver.get(f"{base_url}/health")
        driver.execute_script(BUNDLE.read_text())
        driver.execute_script(HARNESS)
        assert driver.execute_script("return tus.isSupported") is True

    def start(self, image: bytes, serial: str, **options: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {"endpoint": self.endpoint, "key": self.key, "image": base64.b64encode(image).decode()}
        spec |= {"serial": serial, "retryDelays": [0, 200, 200], **options}
        return self._run("kensaTus.start(arguments[0])", spec)

    def resume(self, serial: str, *, find_previous: bool = False) -> dict[str, Any]:
        return self._run("kensaTus.resume(arguments[0], arguments[1])", serial, find_previous)

    def _run(self, call: str, *args: Any) -> dict[str, Any]:
        script = f"const done = arguments[arguments.length - 1]; {call}.then(done, (e) => done({{thrown: String(e)}}));"
        return self.driver.execute_async_script(script, *args)


@pytest.fixture
def line_and_page(daphne_server, browser):  # noqa: F811 (the fixture imported above)
    def make(code: str, **fields: Any) -> tuple[ProductionLine, Any, Page]:
        line = make_line(code=code, **fields)
        station, key = make_station(line)
        return line, station, Page(browser, daphne_server.url, key)

    return make


def assert_one_inspection(result: dict[str, Any], serial: str, data: bytes) -> None:
    assert result["outcome"] == "success", result
    inspection = Inspection.objects.get(serial=serial)  # exactly one
    assert result["inspectionId"] == str(inspection.id)
    assert inspection.image_sha256 == hashlib.sha256(data).hexdigest()
    with default_storage.open(inspection.image_key) as stored:
        assert stored.read() == data
    upload = ResumableUpload.objects.get(inspection=inspection)
    assert result["url"].endswith(str(upload.id))


def test_a_plain_upload_becomes_an_inspection(line_and_page):
    _, _, page = line_and_page("tus-js-plain")
    data = jpeg_bytes(size=(640, 512))
    result = page.start(data, "TUSJS-PLAIN")
    assert [method for method, _, _ in result["responses"]] == ["POST", "PATCH"]
    assert_one_inspection(result, "TUSJS-PLAIN", data)


def test_an_interrupted_upload_resumes_into_one_inspection(line_and_page):
    _, _, page = line_and_page("tus-js-resume")
    data = jpeg_bytes(size=(1280, 1024))
    assert len(data) > 3 * 20_000
    aborted = page.start(data, "TUSJS-RESUME", chunkSize=20_000, abortAfterChunks=1)
    assert aborted["outcome"] == "aborted", aborted
    assert ResumableUpload.objects.get().offset == 20_000
    assert not Inspection.objects.exists()

    # As after a reload: the client finds the upload in its storage and asks where it stands.
    resumed = page.resume("TUSJS-RESUME", find_previous=True)
    requests = [(method, status) for method, status, _ in resumed["responses"]]
    assert requests[2] == ("HEAD", 200) and resumed["responses"][2][2] == "20000"
    assert requests.count(("POST", 201)) == 1  # the first session's, no new upload
    assert_one_inspection(resumed, "TUSJS-RESUME", data)


def make_backlog_full(line: ProductionLine, station: Any) -> Any:
    waiting = stored_inspection(station, "WAITING")
    waiting.save()  # the line's queue_limit is 1: this one queued image fills it
    return lambda: Inspection.objects.filter(id=waiting.id).update(status="done")


def take_the_model_away(line: ProductionLine, station: Any) -> Any:
    model = line.inspection_model
    ProductionLine.objects.filter(id=line.id).update(inspection_model=None)
    return lambda: ProductionLine.objects.filter(id=line.id).update(inspection_model=model)


@pytest.mark.parametrize(
    ("refuse", "status", "code"),
    [(make_backlog_full, 503, "line_backlog_full"), (take_the_model_away, 422, "line_has_no_model")],
)
def test_a_refused_last_piece_is_no_success_and_finishes_once_the_line_takes_it(line_and_page, refuse, status, code):
    line, station, page = line_and_page(f"tus-js-{code.replace('_', '-')}", queue_limit=1)
    data = jpeg_bytes(size=(1280, 1024))
    serial = f"TUSJS-{code}"
    assert page.start(data, serial, chunkSize=20_000, abortAfterChunks=1)["outcome"] == "aborted"
    clear = refuse(line, station)

    refused = page.resume(serial)
    assert refused["outcome"] == "error", refused
    assert refused["status"] == status and f'"{code}"' in refused["body"], refused
    # The client never heard "complete" without an inspection, and made no second upload.
    heads = [offset for method, _, offset in refused["responses"] if method == "HEAD"]
    assert heads and str(len(data)) not in heads, refused["responses"]
    assert [method for method, _, _ in refused["responses"]].count("POST") == 1
    assert not Inspection.objects.filter(serial=serial).exists()
    assert ResumableUpload.objects.get().inspection is None

    clear()
    # daphne keeps its last backlog answer per line for a second (inspection/ingest/backlog.py),
    # and a restarted tus-js-client upload has used up its retries: let the answer go stale.
    time.sleep(backlog.CHECK_INTERVAL_SECONDS + 0.5)
    # The station starts the same upload again.
    finished = page.resume(serial)
    assert_one_inspection(finished, serial, data)
    assert ResumableUpload.objects.count() == 1
