"""A line over its queue limit sheds uploads with 503 and Retry-After, and counts them."""

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from inspection.ingest import backlog
from inspection.models import Inspection
from inspection.per_process import PerProcess
from tests.factories import jpeg_bytes, make_line, make_station

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_backlog_checks(monkeypatch):
    # Answers serve for a second per process; these tests look at every upload.
    monkeypatch.setattr(backlog, "gauge", PerProcess(lambda: backlog.BacklogGauge(interval=0, max_share=1)))


def test_uploads_over_the_queue_limit_get_503():
    line = make_line(code="busy-line", queue_limit=2)
    _, key = make_station(line)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def send():
        return client.post("/api/v1/inspections/?serial=BUSY", data=jpeg_bytes(), content_type="image/jpeg")

    shed_before = REGISTRY.get_sample_value("kensa_uploads_shed_total", {"line": "busy-line"}) or 0
    assert [send().status_code, send().status_code] == [202, 202]
    response = send()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "line_backlog_full"
    assert int(response["Retry-After"]) > 0
    assert Inspection.objects.count() == 2
    assert REGISTRY.get_sample_value("kensa_uploads_shed_total", {"line": "busy-line"}) == shed_before + 1

    Inspection.objects.filter(line=line).update(status="done")  # the backlog drains
    assert send().status_code == 202
