"""The tus 1.0.0 protocol at /api/v1/uploads/, request by request."""

import base64
import errno
import hashlib
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.utils import timezone

from inspection.ingest import backlog, storage
from inspection.ingest.resumable import part_path, uploads_expire
from inspection.models import Inspection, ResumableUpload
from inspection.per_process import PerProcess
from tests.conftest import stored_files
from tests.factories import jpeg_bytes, make_line, make_station, stored_inspection

URL = "/api/v1/uploads/"
pytestmark = pytest.mark.django_db


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OCTETS = "application/offset+octet-stream"


class Station:
    def __init__(self, key: str):
        self.client = Client(headers={"Authorization": f"Bearer {key}", "Tus-Resumable": "1.0.0"})

    def create(self, length: int, metadata: str | None = None):
        metadata = metadata if metadata is not None else f"serial {b64('TUS-1')},filetype {b64('image/jpeg')}"
        return self.client.post(URL, headers={"Upload-Length": str(length), "Upload-Metadata": metadata})

    def patch(self, location: str, offset: int, piece: bytes, *, checksum: str = "", content_type: str = OCTETS):
        # Content-Type goes as a header too: the test client drops it for an empty body.
        headers = {"Upload-Offset": str(offset), "Content-Type": content_type}
        if checksum:
            headers["Upload-Checksum"] = checksum
        return self.client.generic("PATCH", location, data=piece, content_type=content_type, headers=headers)

    def head(self, location: str):
        return self.client.head(location)


@pytest.fixture
def station():
    _, key = make_station(make_line(code="tus-line"))
    return Station(key)


def test_discovery_needs_no_key():
    response = Client().options(URL)
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "expiration", "checksum", "termination"}
    assert int(response["Tus-Max-Size"]) > 0
    assert "sha1" in response["Tus-Checksum-Algorithm"]


def test_upload_in_pieces_with_checksums_becomes_an_inspection(station):
    data = jpeg_bytes(size=(640, 512))
    created = station.create(len(data))
    assert created.status_code == 201, created.content
    location = created["Location"]
    assert created["Upload-Expires"].endswith("GMT")
    head = station.head(location)
    assert (head.status_code, head["Upload-Offset"], head["Upload-Length"]) == (200, "0", str(len(data)))
    assert head["Cache-Control"] == "no-store"

    third = len(data) // 3
    for start in (0, third, 2 * third):
        piece = data[start : start + third] if start < 2 * third else data[start:]
        checksum = "sha1 " + base64.b64encode(hashlib.sha1(piece).digest()).decode()
        response = station.patch(location, start, piece, checksum=checksum)
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(start + len(piece))

    inspection = Inspection.objects.get(id=response["Kensa-Inspection-Id"])
    assert response["Kensa-Inspection-Url"].endswith(f"/api/v1/inspections/{inspection.id}/")
    assert (inspection.serial, inspection.status, inspection.image_bytes) == ("TUS-1", "queued", len(data))
    with default_storage.open(inspection.image_key) as stored:
        assert stored.read() == data
    upload = ResumableUpload.objects.get()
    assert not part_path(upload.id).exists()
    # Asking again (a client whose last answer was lost) gets the same inspection.
    again = station.patch(location, len(data), b"")
    assert again["Kensa-Inspection-Id"] == str(inspection.id)
    assert station.head(location)["Kensa-Inspection-Id"] == str(inspection.id)
    assert Inspection.objects.count() == 1


def test_wrong_offset_is_a_conflict(station):
    data = jpeg_bytes()
    location = station.create(len(data))["Location"]
    assert station.patch(location, 0, data[:100]).status_code == 204
    response = station.patch(location, 50, data[50:200])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "upload_offset_mismatch"
    assert station.head(location)["Upload-Offset"] == "100"


def test_piece_with_a_bad_checksum_is_discarded(station):
    data = jpeg_bytes()
    location = station.create(len(data))["Location"]
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    response = station.patch(location, 0, data[:500], checksum=wrong)
    assert response.status_code == 460
    assert response.json()["error"]["code"] == "upload_checksum_mismatch"
    assert station.head(location)["Upload-Offset"] == "0"
    assert station.patch(location, 0, data[:500]).status_code == 204


def test_unknown_checksum_algorithm(station):
    location = station.create(10)["Location"]
    response = station.patch(location, 0, b"0123456789", checksum="crc32 AAAA")
    assert response.json()["error"]["code"] == "checksum_algorithm_unsupported"


def test_requests_without_the_tus_version_are_refused(station):
    response = station.client.post(URL, headers={"Upload-Length": "10", "Tus-Resumable": "0.2.2"})
    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0"
    assert response.json()["error"]["code"] == "tus_version_unsupported"


def test_uploads_belong_to_their_station(station):
    location = station.create(100)["Location"]
    _, other_key = make_station(make_line(code="other-tus"))
    response = Station(other_key).head(location)
    assert response.status_code == 404


def test_termination(station):
    location = station.create(100)["Location"]
    upload = ResumableUpload.objects.get()
    assert station.client.delete(location).status_code == 204
    assert station.head(location).status_code == 404
    assert not part_path(upload.id).exists()


def test_expired_uploads_are_gone_and_cleaned_up(station):
    location = station.create(100)["Location"]
    second = station.create(100)["Location"]
    ResumableUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = station.patch(location, 0, b"x")
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "upload_expired"
    abandoned = ResumableUpload.objects.get()
    assert second.endswith(str(abandoned.id))
    assert uploads_expire() == 1
    assert not part_path(abandoned.id).exists() and ResumableUpload.objects.count() == 0


def test_a_complete_upload_that_is_no_image_is_refused_and_ends(station):
    data = b"%PDF-1.7 not an image" * 20
    location = station.create(len(data))["Location"]
    before = stored_files()
    response = station.patch(location, 0, data)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "image_unrecognized"
    assert Inspection.objects.count() == 0 and ResumableUpload.objects.count() == 0
    assert stored_files() == before


@pytest.mark.parametrize(
    ("length", "metadata", "status", "code"),
    [
        (10**12, None, 413, "image_too_large"),
        (100, f"filetype {b64('image/jpeg')}", 400, "serial_missing"),
        (100, "serial !!notbase64", 400, "upload_metadata_invalid"),
    ],
)
def test_creation_refusals(station, length, metadata, status, code):
    response = station.create(length, metadata)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert ResumableUpload.objects.count() == 0


def test_more_bytes_than_announced(station):
    location = station.create(10)["Location"]
    response = station.patch(location, 0, b"x" * 11)
    assert response.json()["error"]["code"] == "upload_exceeds_length"
    assert station.head(location)["Upload-Offset"] == "0"


def test_pieces_must_be_offset_octet_streams(station):
    location = station.create(10)["Location"]
    response = station.patch(location, 0, b"x", content_type="application/json")
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("Upload-Length", "²", "upload_length_invalid"),  # passes str.isdigit, crashes int()
        ("Upload-Length", "\uff11\uff10", "upload_length_invalid"),  # fullwidth digits
        ("Upload-Length", "+10", "upload_length_invalid"),
        ("Upload-Length", "9" * 5000, "upload_length_invalid"),  # past int()'s own digit limit
        ("Upload-Length", "0", "image_empty"),  # never an image, and never shown unfinished
    ],
)
def test_upload_length_is_ascii_digits(station, header, value, code):
    response = station.client.post(URL, headers={header: value, "Upload-Metadata": f"serial {b64('S')}"})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert ResumableUpload.objects.count() == 0


@pytest.mark.parametrize("value", ["²", "٣", "-0", "1e3"])
def test_upload_offset_is_ascii_digits(station, value):
    location = station.create(10)["Location"]
    response = station.client.generic(
        "PATCH", location, data=b"x", content_type=OCTETS, headers={"Upload-Offset": value, "Content-Type": OCTETS}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "upload_offset_invalid"
    assert station.head(location)["Upload-Offset"] == "0"


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ("serial " + b64("TUS\x00-1"), "upload_metadata_invalid"),
        (f"serial {b64('TUS-1')},filename " + b64("part\x00.jpg"), "upload_metadata_invalid"),
        (f"serial {b64('TUS-1')},file\x00name {b64('part.jpg')}", "upload_metadata_invalid"),
    ],
)
def test_nul_in_metadata_is_refused_not_a_database_outage(station, metadata, code):
    response = station.create(100, metadata)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert ResumableUpload.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "code"), [({"inspection_model": None}, "line_has_no_model"), ({"active": False}, "line_inactive")]
)
def test_a_line_that_takes_no_images_is_refused_at_creation(fields, code):
    line = make_line(code="tus-closed")
    type(line).objects.filter(id=line.id).update(**fields)
    _, key = make_station(line)
    response = Station(key).create(100)
    # 422, not the direct upload's 409: tus clients read 409 as an offset conflict.
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code
    assert ResumableUpload.objects.count() == 0


def upload_all_but_finishing(station: Station, data: bytes) -> str:
    """Send all of `data` but its last piece, and return the upload's location."""
    location = station.create(len(data))["Location"]
    assert station.patch(location, 0, data[:-1000]).status_code == 204
    return location


def finish_refused(station: Station, location: str, data: bytes, status: int, code: str) -> None:
    """The last piece is refused with `code`, and the upload stays unfinished: HEAD shows its
    last byte missing (never "complete"), and no inspection exists."""
    before = stored_files()
    response = station.patch(location, len(data) - 1000, data[-1000:])
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    head = station.head(location)
    assert (head.status_code, head["Upload-Offset"], head["Upload-Length"]) == (200, str(len(data) - 1), str(len(data)))
    assert "Kensa-Inspection-Id" not in head
    assert not Inspection.objects.filter(serial="TUS-1").exists()
    assert stored_files() == before
    # The client's retry, while the condition holds, sends the last byte and is refused again.
    again = station.patch(location, len(data) - 1, data[-1:])
    assert (again.status_code, again.json()["error"]["code"]) == (status, code)
    assert station.head(location)["Upload-Offset"] == str(len(data) - 1)


def finished_once(station: Station, location: str, data: bytes) -> None:
    """Once the condition clears, the client's retry (the last byte) finishes the upload into one inspection."""
    response = station.patch(location, len(data) - 1, data[-1:])
    assert response.status_code == 204, response.content
    assert response["Upload-Offset"] == str(len(data))
    inspection = Inspection.objects.get(serial="TUS-1")
    assert response["Kensa-Inspection-Id"] == str(inspection.id)
    with default_storage.open(inspection.image_key) as stored:
        assert stored.read() == data
    head = station.head(location)
    assert (head["Upload-Offset"], head["Kensa-Inspection-Id"]) == (str(len(data)), str(inspection.id))
    assert not part_path(ResumableUpload.objects.get().id).exists()


@pytest.fixture
def fresh_backlog(monkeypatch):
    """Every upload asks the database about the backlog, rather than a per-process answer up
    to a second old, so the test sees its own changes at once."""
    monkeypatch.setattr(backlog, "gauge", PerProcess(lambda: backlog.BacklogGauge(interval=0, max_share=1)))


def test_a_last_piece_refused_for_a_full_backlog_is_kept_until_the_backlog_clears(fresh_backlog):
    line = make_line(code="tus-busy", queue_limit=1)
    station_row, key = make_station(line)
    station = Station(key)
    data = jpeg_bytes(size=(640, 512))
    location = upload_all_but_finishing(station, data)
    waiting = stored_inspection(station_row, "WAITING")
    waiting.save()

    finish_refused(station, location, data, 503, "line_backlog_full")

    Inspection.objects.filter(id=waiting.id).update(status="done")
    finished_once(station, location, data)


def test_a_last_piece_refused_for_a_line_without_a_model_is_kept_until_the_line_has_one():
    line = make_line(code="tus-no-model")
    _, key = make_station(line)
    station = Station(key)
    data = jpeg_bytes(size=(640, 512))
    location = upload_all_but_finishing(station, data)
    model = line.inspection_model
    type(line).objects.filter(id=line.id).update(inspection_model=None)

    finish_refused(station, location, data, 422, "line_has_no_model")

    type(line).objects.filter(id=line.id).update(inspection_model=model)
    finished_once(station, location, data)


def test_a_last_piece_refused_for_unwritable_storage_is_kept(station, monkeypatch):
    data = jpeg_bytes(size=(640, 512))
    location = upload_all_but_finishing(station, data)
    with monkeypatch.context() as failing_disk:  # as tests/inspection/test_durable_images.py's sync_fails

        def eio(path: str) -> None:
            raise OSError(errno.EIO, "Input/output error")

        failing_disk.setattr(storage, "_sync_filesystem", eio)
        failing_disk.setattr(storage, "_fsync_path", eio)
        finish_refused(station, location, data, 503, "storage_unavailable")
    finished_once(station, location, data)


def test_a_last_piece_refused_while_the_database_refuses_inserts_is_kept(station):
    data = jpeg_bytes(size=(640, 512))
    location = upload_all_but_finishing(station, data)
    table = Inspection._meta.db_table
    with connection.cursor() as cursor:
        # A real server error at the insert (SQLSTATE 57P01, admin_shutdown), not a stand-in.
        cursor.execute(
            "CREATE FUNCTION tus_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P01'; END $$"
        )
        cursor.execute(f"CREATE TRIGGER tus_test_refuse BEFORE INSERT ON {table} EXECUTE FUNCTION tus_test_refuse()")
    finish_refused(station, location, data, 503, "database_unavailable")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER tus_test_refuse ON {table}")
    finished_once(station, location, data)
