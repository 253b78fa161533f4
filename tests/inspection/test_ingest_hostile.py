"""The hostile inputs of issue #22 on the upload view, each refused with its own code and
nothing stored: tampered BMP headers, times at the ends of the calendar, NUL in the line or
serial, other scripts' digits in Content-Length, a thousand multipart fields."""

import struct
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from inspection.models import Inspection
from tests.conftest import stored_files
from tests.factories import image_bytes, jpeg_bytes, make_line, make_station
from tests.strategies import BOUNDARY, multipart_part

URL = "/api/v1/inspections/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def key() -> str:
    _, station_key = make_station(make_line(code="hostile"))
    return station_key


def send(key: str, body: bytes, content_type: str, query: str = "?serial=H-1", **headers: str):
    return Client().generic(
        "POST", URL + query, body, content_type=content_type, headers={"Authorization": f"Bearer {key}", **headers}
    )


def refused(response, status: int, code: str, files_before: set) -> None:
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    assert Inspection.objects.count() == 0
    assert stored_files() == files_before


def tampered_bmp(offset: int, value: bytes) -> bytes:
    data = bytearray(image_bytes("BMP", size=(16, 8)))
    data[offset : offset + len(value)] = value
    return bytes(data)


def multipart(fields: dict[str, bytes], image: bytes, content_type: str = "image/bmp") -> bytes:
    parts = [multipart_part(name, value, filename=None, content_type=None) for name, value in fields.items()]
    parts.append(multipart_part("image", image, filename="a.bmp", content_type=content_type))
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.mark.parametrize(
    ("offset", "value"),
    [(30, struct.pack("<I", 99)), (28, struct.pack("<H", 7)), (14, struct.pack("<I", 77))],
    ids=["compression-99", "bit-depth-7", "header-size-77"],
)
def test_a_bmp_with_a_tampered_header_is_image_corrupt_raw_and_multipart(key, offset, value):
    before = stored_files()
    bmp = tampered_bmp(offset, value)
    refused(send(key, bmp, "image/bmp"), 400, "image_corrupt", before)
    refused(send(key, multipart({"serial": b"H-2"}, bmp), MULTIPART, query=""), 400, "image_corrupt", before)


@pytest.mark.parametrize("captured_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_times_at_the_ends_of_the_calendar_are_refused(key, captured_at):
    before = stored_files()
    raw = send(key, jpeg_bytes(), "image/jpeg", **{"Kensa-Captured-At": captured_at})
    refused(raw, 400, "captured_at_invalid", before)
    body = multipart({"serial": b"H-3", "captured_at": captured_at.encode()}, jpeg_bytes(), "image/jpeg")
    refused(send(key, body, MULTIPART, query=""), 400, "captured_at_invalid", before)


def test_captured_at_is_accepted_inside_its_window_and_refused_outside(key, settings):
    settings.KENSA_CAPTURED_AT_MAX_AGE_DAYS = 30
    settings.KENSA_CAPTURED_AT_MAX_AHEAD_HOURS = 2
    now = datetime.now(UTC)

    def post(moment: datetime):
        return send(key, jpeg_bytes(), "image/jpeg", **{"Kensa-Captured-At": moment.isoformat()})

    for late in (now - timedelta(days=31), now + timedelta(hours=3)):
        refused(post(late), 400, "captured_at_invalid", stored_files())
    inside = [now - timedelta(days=29), now + timedelta(hours=1)]
    answers = [post(moment) for moment in inside]
    assert [answer.status_code for answer in answers] == [202, 202]
    stored = [Inspection.objects.get(id=answer.json()["id"]).captured_at for answer in answers]
    assert stored == inside


def test_an_offset_postgresql_cannot_store_is_stored_in_utc(key):
    """-16:00 is valid ISO 8601 and Python, but past PostgreSQL's ±15:59."""
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    text = moment.astimezone(datetime.strptime("-1600", "%z").tzinfo).isoformat()
    answer = send(key, jpeg_bytes(), "image/jpeg", **{"Kensa-Captured-At": text})
    assert answer.status_code == 202, answer.content
    assert Inspection.objects.get(id=answer.json()["id"]).captured_at == moment


@pytest.mark.parametrize(
    ("query", "headers", "code"),
    [
        ("?serial=H-4&line=%00", {}, "line_invalid"),
        ("?serial=H-4", {"Kensa-Line": "hostile\x00"}, "line_invalid"),
        ("?serial=H-4&line=Hostile", {}, "line_invalid"),
        ("?serial=H%004", {}, "serial_invalid"),
        ("?serial=H-4", {"Idempotency-Key": "k\x00"}, "idempotency_key_invalid"),
    ],
)
def test_nul_and_malformed_names_are_refused_before_any_query(key, query, headers, code):
    refused(send(key, jpeg_bytes(), "image/jpeg", query=query, **headers), 400, code, stored_files())


# ("²" never reaches Django through a server: daphne and uvicorn parse the header as bytes,
# where int() reads only ASCII; django_prometheus's middleware would crash on it first.)
@pytest.mark.parametrize("length", ["\u0661\u0662", "+12", " 12", "1_2", "-1"])
def test_content_length_must_be_ascii_digits(key, length):
    response = send(key, jpeg_bytes(), "image/jpeg", **{"Content-Length": length})
    refused(response, 400, "invalid_content_length", stored_files())


def test_a_thousand_multipart_fields_is_its_own_refusal(key):
    fields = {f"f{n}": b"x" for n in range(1000)}
    response = send(key, multipart(fields, jpeg_bytes(), "image/jpeg"), MULTIPART, query="")
    refused(response, 413, "multipart_too_many_parts", stored_files())


def test_a_field_in_an_unknown_charset_is_refused_with_the_fields_code(key):
    body = (
        multipart_part("serial", b"H-5", filename=None, content_type="text/plain; charset=nonesuch")
        + multipart_part("image", jpeg_bytes(), filename="a.jpg", content_type="image/jpeg")
        + f"--{BOUNDARY}--\r\n".encode()
    )
    refused(send(key, body, MULTIPART, query=""), 400, "serial_invalid", stored_files())
