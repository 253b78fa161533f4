"""The class behind issue #22's crashes, proved on the upload view: whatever a station sends
(multipart or raw body, any serial, captured_at, line, Idempotency-Key or Content-Type), the
answer is a 202 or a 4xx whose code is in inspection.errors.API_ERRORS with its status, never
a 5xx, and a refusal stores nothing (no row, no image file)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inspection.errors import API_ERRORS, KensaError
from inspection.ingest.fields import parse_captured_at
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station
from tests.strategies import LINE_CODE, UploadRequest, captured_at_texts, upload_requests

URL = "/api/v1/inspections/"
pytestmark = pytest.mark.django_db

# One Django test client request per example, each a few milliseconds: 300 examples take
# about half a minute on a laptop core.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def station_key() -> str:
    _, key = make_station(make_line(code=LINE_CODE))
    return key


def check_answer(status: int, body: dict[str, Any], *, rows_before: int, files_before: set) -> None:
    """The property every answer to an upload must have."""
    assert status < 500, body
    event(f"{status} {body['error']['code'] if status >= 400 else 'accepted'}")  # --hypothesis-show-statistics
    if status >= 400:
        code = body["error"]["code"]
        assert code in API_ERRORS, f"{code!r} is not a documented error code"
        assert API_ERRORS[code][0] == status, f"{code} is documented as {API_ERRORS[code][0]}, answered {status}"
        assert body["error"]["message"]
        assert Inspection.objects.count() == rows_before, f"a refusal ({code}) stored a row"
        assert stored_files() == files_before, f"a refusal ({code}) left an image file"
    else:
        assert status == 202, body
        assert Inspection.objects.filter(id=body["id"]).exists()
        assert Inspection.objects.count() - rows_before in (0, 1)  # 0: an idempotent replay


def post(key: str, upload: UploadRequest) -> tuple[int, dict[str, Any]]:
    response = Client().generic(
        "POST",
        URL + upload.query_string,
        upload.body,
        content_type=upload.content_type,
        headers={"Authorization": f"Bearer {key}", **upload.headers},
    )
    return response.status_code, response.json()


@PROPERTY
@given(upload=upload_requests())
def test_any_upload_is_accepted_or_refused_with_a_documented_code(station_key, upload):
    rows_before, files_before = Inspection.objects.count(), stored_files()
    status, body = post(station_key, upload)
    check_answer(status, body, rows_before=rows_before, files_before=files_before)


@settings(max_examples=500, deadline=None)
@given(text=captured_at_texts())
def test_captured_at_is_a_time_in_the_window_or_captured_at_invalid(text):
    now = datetime.now(UTC)
    try:
        parsed = parse_captured_at(text, now=now)
    except KensaError as refusal:
        assert refusal.code == "captured_at_invalid"
        return
    if parsed is not None:
        assert parsed.tzinfo is not None
        assert now - timedelta(days=django_settings.KENSA_CAPTURED_AT_MAX_AGE_DAYS) <= parsed
        assert parsed <= now + timedelta(hours=django_settings.KENSA_CAPTURED_AT_MAX_AHEAD_HOURS)
        parsed.astimezone(UTC)  # readable back: it exists in UTC


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=captured_at_texts(), serial=st.sampled_from(["CAP-1", "CAP-2"]))
def test_an_accepted_captured_at_reads_back_from_the_database(station_key, text, serial):
    """What the validator lets through is what PostgreSQL stores and gives back."""
    rows_before, files_before = Inspection.objects.count(), stored_files()
    upload = UploadRequest("image/jpeg", jpeg_bytes(size=(32, 32)), query={"serial": serial, "captured_at": text})
    status, body = post(station_key, upload)
    check_answer(status, body, rows_before=rows_before, files_before=files_before)
    if status == 202:
        row = Inspection.objects.get(id=body["id"])
        assert row.captured_at == parse_datetime(text.strip())
