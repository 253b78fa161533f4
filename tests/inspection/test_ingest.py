"""POST /api/v1/inspections/: what is accepted, and how every kind of bad input is refused."""

import io
import mimetypes
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from inspection import rows
from inspection.constants import Status
from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import image_bytes, jpeg_bytes, make_line, make_station

URL = "/api/v1/inspections/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def station_key():
    line = make_line(code="press-1", priority="high")
    station, key = make_station(line)
    return station, key


def post(key: str | None, *, image: bytes | None = None, name: str = "part.jpg", **fields: str):
    client = APIClient()
    data: dict[str, object] = {"serial": "SN-1", **fields}
    if image is not None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        data["image"] = SimpleUploadedFile(name, image, content_type=content_type)
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.post(URL, data, format="multipart")


def assert_refused(response, status: int, code: str, files_before: set) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert Inspection.objects.count() == 0
    assert stored_files() == files_before


def test_accepted_image_is_stored_recorded_and_queued_on_its_priority(
    station_key, redis_client, django_capture_on_commit_callbacks
):
    station, key = station_key
    data = jpeg_bytes(size=(640, 512))
    before = redis_client.llen("inspect.high")
    # Within the window of accepted times (KENSA_CAPTURED_AT_MAX_AGE_DAYS), whenever the test runs.
    day = timezone.now().date() - timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(key, image=data, name="../../etc/passwd.jpg", captured_at=f"{day}T08:00:00+01:00")

    assert response.status_code == 202, response.content
    body = response.json()
    inspection = Inspection.objects.get(id=body["id"])
    assert body["url"].endswith(f"/api/v1/inspections/{inspection.id}/")
    assert response["Location"] == body["url"]
    assert inspection.status == Status.QUEUED
    assert (inspection.station, inspection.line, inspection.serial) == (station, station.line, "SN-1")
    assert (inspection.width, inspection.height, inspection.image_format) == (640, 512, "JPEG")
    assert inspection.image_bytes == len(data)
    assert inspection.captured_at is not None
    assert inspection.captured_at.isoformat() == f"{day}T07:00:00+00:00"
    # The server picks the key; the client's file name never reaches storage.
    assert inspection.image_key == f"images/press-1/{inspection.received_at:%Y/%m/%d}/{inspection.id}.jpg"
    assert "passwd" not in inspection.image_key
    assert any(path.read_bytes() == data for path in stored_files())
    queued = redis_client.lrange("inspect.high", 0, -1)
    assert len(queued) == before + 1
    assert str(inspection.id).encode() in queued[0]


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "RGB"), ("BMP", "RGB"), ("TIFF", "L"), ("TIFF", "I;16"), ("PNG", "I;16")]
)
def test_industrial_formats_are_accepted(station_key, fmt, mode):
    _, key = station_key
    response = post(key, image=image_bytes(fmt, mode=mode), name=f"x.{fmt.lower()}")
    assert response.status_code == 202, response.content
    assert Inspection.objects.get().image_format == fmt


def test_missing_key(station_key):
    before = stored_files()
    assert_refused(post(None, image=jpeg_bytes()), 401, "missing_api_key", before)


def test_unknown_key(station_key):
    before = stored_files()
    response = post("ksa_00000000_not-a-key", image=jpeg_bytes())
    assert_refused(response, 401, "invalid_api_key", before)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_inactive_station(station_key):
    station, key = station_key
    station.active = False
    station.save()
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes()), 403, "station_inactive", before)


def test_inactive_line(station_key):
    station, key = station_key
    station.line.active = False
    station.line.save()
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes()), 409, "line_inactive", before)


def test_line_without_model(station_key):
    station, key = station_key
    station.line.inspection_model = None
    station.line.save()
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes()), 409, "line_has_no_model", before)


def test_not_an_image(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key, image=b"%PDF-1.4 this is not an image" * 10), 415, "image_unrecognized", before)


def test_image_in_an_unsupported_format(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key, image=image_bytes("GIF", mode="P")), 415, "image_unrecognized", before)


def test_truncated_jpeg(station_key):
    _, key = station_key
    data = jpeg_bytes(size=(640, 512))
    before = stored_files()
    assert_refused(post(key, image=data[: len(data) // 2]), 400, "image_truncated", before)


def test_corrupt_png(station_key):
    """Whole file, valid header, damaged compressed pixel data: refused as corrupt."""
    _, key = station_key
    data = bytearray(image_bytes("PNG", size=(256, 256)))
    idat = data.index(b"IDAT")
    data[idat + 8 : idat + 40] = b"\x00" * 32
    before = stored_files()
    assert_refused(post(key, image=bytes(data), name="x.png"), 400, "image_corrupt", before)


def test_image_above_the_byte_limit(station_key, settings):
    _, key = station_key
    settings.KENSA_MAX_IMAGE_BYTES = 10_000
    data = jpeg_bytes(size=(640, 512))
    assert len(data) > 10_000
    before = stored_files()
    assert_refused(post(key, image=data), 413, "image_too_large", before)


def test_body_far_above_the_byte_limit_is_refused_from_its_length(station_key, settings):
    _, key = station_key
    settings.KENSA_MAX_IMAGE_BYTES = 2_000
    before = stored_files()
    assert_refused(post(key, image=b"\xff" * 200_000), 413, "image_too_large", before)


def test_image_above_the_pixel_limit(station_key, settings):
    _, key = station_key
    settings.KENSA_MAX_IMAGE_PIXELS = 100_000
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes(size=(640, 512))), 413, "image_too_many_pixels", before)


def test_decompression_bomb(station_key):
    """A 30,000 x 30,000 PNG of one colour: a few hundred kilobytes that would decode to 900 MP."""
    _, key = station_key
    buffer = io.BytesIO()
    Image.new("1", (30_000, 30_000), 0).save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) < 1_000_000
    before = stored_files()
    assert_refused(post(key, image=buffer.getvalue(), name="bomb.png"), 413, "image_too_many_pixels", before)


def test_empty_image(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key, image=b""), 400, "image_empty", before)


def test_missing_image(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key), 400, "image_missing", before)


def test_missing_serial(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes(), serial=""), 400, "serial_missing", before)


def test_bad_captured_at(station_key):
    _, key = station_key
    before = stored_files()
    assert_refused(post(key, image=jpeg_bytes(), captured_at="yesterday"), 400, "captured_at_invalid", before)


def test_json_body_is_refused(station_key):
    _, key = station_key
    response = APIClient().post(URL, {"serial": "x"}, format="json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_stored_image_is_removed_when_the_row_cannot_be_written(station_key, monkeypatch):
    """Fault injection: the insert fails after the image was written to storage."""
    _, key = station_key

    def failing_insert(instance, using="default"):
        raise IntegrityError("simulated database failure")

    monkeypatch.setattr(rows, "insert", failing_insert)
    before = stored_files()
    with pytest.raises(IntegrityError):
        post(key, image=jpeg_bytes())
    assert stored_files() == before


@pytest.mark.parametrize(
    "body",
    [
        b'--BoUnDaRy\r\nContent-Disposition: form-data; name="serial"\r\n\r\nSN-1\r\n--BoUnDaRy\r\n'
        b'Content-Disposition: form-data; name="image"; filename="part.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        b"\xff\xd8\xff",  # cut off inside the image, no closing boundary
        b"no multipart framing at all",
    ],
    ids=["truncated", "unframed"],
)
def test_malformed_multipart_body(station_key, body):
    _, key = station_key
    before = stored_files()
    response = APIClient().generic(
        "POST",
        URL,
        body,
        content_type="multipart/form-data; boundary=BoUnDaRy",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert_refused(response, 400, "multipart_invalid", before)


def test_multipart_without_a_boundary(station_key):
    _, key = station_key
    before = stored_files()
    response = APIClient().generic(
        "POST", URL, "x", content_type="multipart/form-data", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert_refused(response, 400, "multipart_invalid", before)


def test_missing_key_names_the_scheme(station_key):
    response = post(None, image=jpeg_bytes())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kensa"'


def test_other_methods_are_refused_in_the_error_shape(station_key):
    _, key = station_key
    response = APIClient().generic("PUT", URL, "", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")
    assert response["Allow"] == "POST"
