"""Raw image bodies, declared types that lie, and polyglots."""

import io
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import image_bytes, jpeg_bytes, make_line, make_station

URL = "/api/v1/inspections/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    _, station_key = make_station(make_line(code="raw-line"))
    return station_key


def raw(key: str, data: bytes, content_type: str, query: str = "?serial=RAW-1", **headers: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}", **headers)
    return client.post(URL + query, data=data, content_type=content_type)


def refused(response, status: int, code: str, before: set) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Inspection.objects.count() == 0
    assert stored_files() == before


def test_raw_jpeg_with_metadata_in_the_query(key):
    data = jpeg_bytes()
    day = timezone.now().date() - timedelta(days=1)  # within the window of accepted times
    response = raw(key, data, "image/jpeg", f"?serial=RAW-1&line=raw-line&captured_at={day}T09:00:00Z")
    assert response.status_code == 202, response.content
    inspection = Inspection.objects.get(id=response.json()["id"])
    assert (inspection.serial, inspection.image_format, inspection.image_bytes) == ("RAW-1", "JPEG", len(data))
    assert inspection.captured_at is not None


def test_raw_16_bit_tiff_with_metadata_in_headers(key):
    data = image_bytes("TIFF", mode="I;16", size=(200, 100))
    response = raw(key, data, "image/tiff", "", HTTP_KENSA_SERIAL="RAW-2", HTTP_KENSA_LINE="raw-line")
    assert response.status_code == 202, response.content
    inspection = Inspection.objects.get()
    assert (inspection.serial, inspection.image_format, inspection.width, inspection.height) == (
        "RAW-2",
        "TIFF",
        200,
        100,
    )


def test_raw_body_whose_content_type_lies(key):
    before = stored_files()
    refused(raw(key, jpeg_bytes(), "image/png"), 415, "content_type_mismatch", before)


def test_multipart_part_whose_content_type_lies(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    part = SimpleUploadedFile("x.bmp", jpeg_bytes(), content_type="image/bmp")
    before = stored_files()
    refused(client.post(URL, {"image": part, "serial": "S"}, format="multipart"), 415, "content_type_mismatch", before)


def test_raw_body_in_a_format_not_accepted(key):
    before = stored_files()
    refused(raw(key, image_bytes("GIF", mode="P"), "image/gif"), 415, "image_format_unsupported", before)


def test_raw_body_for_another_line(key):
    make_line(code="other-line")
    before = stored_files()
    refused(raw(key, jpeg_bytes(), "image/jpeg", "?serial=S&line=other-line"), 403, "line_mismatch", before)


def test_raw_body_over_the_byte_limit(key, settings):
    settings.KENSA_MAX_IMAGE_BYTES = 5_000
    before = stored_files()
    refused(raw(key, jpeg_bytes(), "image/jpeg"), 413, "image_too_large", before)


def test_raw_body_without_serial(key):
    before = stored_files()
    refused(raw(key, jpeg_bytes(), "image/jpeg", ""), 400, "serial_missing", before)


def test_jpeg_that_is_also_a_zip(key):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    before = stored_files()
    refused(raw(key, jpeg_bytes() + archive.getvalue(), "image/jpeg"), 400, "image_trailing_data", before)


def test_png_with_html_after_its_end(key):
    before = stored_files()
    data = image_bytes("PNG") + b"<html><script>alert(1)</script></html>"
    refused(raw(key, data, "image/png"), 400, "image_trailing_data", before)


def test_bmp_longer_than_its_header_says(key):
    before = stored_files()
    refused(raw(key, image_bytes("BMP") + b"#!/bin/sh\n", "image/bmp"), 400, "image_trailing_data", before)
