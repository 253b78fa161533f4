"""Hypothesis strategies for what a client can send: upload requests (multipart and raw, with
their headers and query parameters), captured_at texts, and the query parameters of lists.

The values mix the valid, the nearly valid and the hostile (NUL, other scripts' digits,
"²", times at the ends of the calendar, tampered image headers), so that one property,
"a 2xx, or a 4xx with a documented code and nothing stored", covers every parser at once.
"""

import base64
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from urllib.parse import quote

from hypothesis import strategies as st

from tests.factories import image_bytes, jpeg_bytes

BOUNDARY = "kensa-property-boundary"
LINE_CODE = "prop-line"
# Hostile fragments that generic text rarely produces on its own.
NASTY = ["", " ", "\x00", "²", "\u0661\u0662", "1_2", "-1", "+1", "\n", "\r\n", "é", "\ud7ff", "0" * 30, "9" * 25]


@cache
def _bmp(offset: int, value: bytes) -> bytes:
    data = bytearray(image_bytes("BMP", size=(16, 8)))
    data[offset : offset + len(value)] = value
    return bytes(data)


@cache
def whole_images() -> tuple[bytes, ...]:
    return (jpeg_bytes(size=(64, 48)), image_bytes("PNG"), image_bytes("TIFF", mode="L"), image_bytes("BMP"))


def content_type_of(image: bytes) -> str:
    """The Content-Type a well-behaved station sends with `image`."""
    signatures = {b"\xff\xd8": "image/jpeg", b"\x89P": "image/png", b"II": "image/tiff", b"MM": "image/tiff"}
    return signatures.get(image[:2], "image/bmp")


@cache
def damaged_images() -> tuple[bytes, ...]:
    """Damaged images and non-images (built once: they are the slow part)."""
    jpeg, png, *_ = whole_images()
    return (
        jpeg[: len(jpeg) // 2],
        png[:-20],
        jpeg + b"PK\x03\x04trailing",
        _bmp(30, struct.pack("<I", 99)),  # compression 99
        _bmp(28, struct.pack("<H", 7)),  # bit depth 7
        _bmp(14, struct.pack("<I", 77)),  # header size 77
        _bmp(14, struct.pack("<I", 0xFFFFFFFF)),  # header size past the file
        _bmp(18, struct.pack("<i", -(2**31))),  # height at its extreme
        b"",
        b"\x00" * 64,
        b"GIF89a" + b"\x00" * 20,
    )


def images() -> st.SearchStrategy[bytes]:
    """Whole images about half the time, so that examples get past the fields to the checks
    of the image itself and to acceptance."""
    return st.one_of(
        st.sampled_from(whole_images()), st.sampled_from(whole_images()), st.sampled_from(damaged_images()), st.binary()
    )


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=max_size))


def _offsets() -> st.SearchStrategy[timezone]:
    return st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def captured_at_texts() -> st.SearchStrategy[str]:
    """Times anywhere in the calendar with any offset, times near now, and mangled ones."""
    anywhen = st.builds(
        lambda moment, tz: moment.replace(tzinfo=tz).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        _offsets(),
    )
    extremes = st.sampled_from(
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z"]
    )
    return st.one_of(anywhen, near_now(timedelta(days=-400), timedelta(days=3)), extremes, texts())


def near_now(
    earliest: timedelta = timedelta(days=-300), latest: timedelta = timedelta(hours=12)
) -> st.SearchStrategy[str]:
    """Times from `earliest` to `latest` around now, with any offset (by default inside the
    default window of accepted times)."""
    return st.builds(
        lambda delta, tz: (datetime.now(UTC) + delta).astimezone(tz).isoformat(),
        st.timedeltas(min_value=earliest, max_value=latest),
        _offsets(),
    )


def serials() -> st.SearchStrategy[str]:
    return st.one_of(st.just("SN-1"), st.sampled_from(["SN-2", "x" * 128, "x" * 129]), texts(150))


@dataclass
class UploadRequest:
    """One POST /api/v1/inspections/ as a client could send it."""

    content_type: str
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def query_string(self) -> str:
        # quote() leaves nothing raw: NUL and every non-ASCII character travel percent-encoded.
        pairs = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in self.query.items())
        return f"?{pairs}" if pairs else ""


def multipart_part(name: str, value: bytes, *, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    return f"--{BOUNDARY}\r\n{head}\r\n".encode("utf-8", "surrogatepass") + value + b"\r\n"


# Which part of a request is hostile: one at a time (so that it meets every other check with
# the rest valid), none (so that uploads are accepted), or all of them at once.
FAULTS = [None, None, "serial", "captured_at", "line", "content_type", "image", "idempotency_key", "body", "all"]


def _pick(draw: st.DrawFn, fault: str | None, name: str, valid: st.SearchStrategy, hostile: st.SearchStrategy):
    return draw(hostile if fault in (name, "all") else valid)


def _maybe_absent(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(values, st.none())


@st.composite
def _image_part(draw: st.DrawFn, fault: str | None = "image") -> bytes:
    image = _pick(draw, fault, "image", st.sampled_from(whole_images()), images())
    filename = draw(st.sampled_from(["a.jpg", "../../x.png", ""]))
    declared = _pick(
        draw,
        fault,
        "content_type",
        st.sampled_from([None, "application/octet-stream", content_type_of(image)]),
        st.sampled_from(["image/jpeg", "image/png", "image/gif", "text/plain", "image/"]),
    )
    return multipart_part("image", image, filename=filename, content_type=declared)


@st.composite
def _text_part(draw: st.DrawFn, name: str, value: str, fault: str | None = "all") -> bytes:
    charset = _pick(
        draw,
        fault,
        "body",
        st.sampled_from([None, "text/plain; charset=utf-8"]),
        st.sampled_from([None, "text/plain; charset=latin-1", "text/plain; charset=nonesuch"]),
    )
    return multipart_part(name, value.encode("utf-8", "surrogatepass"), filename=None, content_type=charset)


@st.composite
def multipart_requests(draw: st.DrawFn, *, door: bool = False) -> UploadRequest:
    fault = draw(st.sampled_from(FAULTS))
    parts = [draw(_image_part(fault))]
    serial = _pick(draw, fault, "serial", st.just("SN-1"), _maybe_absent(serials()))
    captured_at = _pick(draw, fault, "captured_at", _maybe_absent(near_now()), captured_at_texts())
    for name, value in (("serial", serial), ("captured_at", captured_at)):
        if value is not None:
            parts.append(draw(_text_part(name, value, fault)))
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    if fault in ("body", "all"):
        extras = st.one_of(
            _image_part(),
            st.builds(lambda v: multipart_part("other", v, filename=None, content_type=None), st.binary(max_size=32)),
        )
        parts = draw(st.permutations(parts + draw(st.lists(extras, max_size=3))))
        if draw(st.booleans()):
            parts = parts[1:]  # the first part left out: sometimes the image
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    if fault in ("body", "all"):
        damage = draw(st.sampled_from(["none", "cut", "junk", "no-boundary", "many-parts"]))
        if damage == "cut":
            body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
        elif damage == "junk":
            at = draw(st.integers(min_value=0, max_value=len(body)))
            body = body[:at] + draw(st.binary(min_size=1, max_size=16)) + body[at:]
        elif damage == "no-boundary":
            content_type = "multipart/form-data"
        elif damage == "many-parts":
            many = (multipart_part(f"f{n}", b"x", filename=None, content_type=None) for n in range(1000))
            body = b"".join(many) + body
    return UploadRequest(content_type, body, headers=draw(_common_headers(door, fault)))


RAW_CONTENT_TYPES = ["image/jpeg", "image/png", "image/bmp", "image/tiff", "image/gif", "text/plain", "image/jpeg;", ""]


@st.composite
def raw_requests(draw: st.DrawFn, *, door: bool = False) -> UploadRequest:
    fault = draw(st.sampled_from(FAULTS))
    image = _pick(draw, fault, "image", st.sampled_from(whole_images()), images())
    content_type = _pick(
        draw, fault, "content_type", st.just(content_type_of(image)), st.sampled_from(RAW_CONTENT_TYPES)
    )
    metadata = {
        "serial": _pick(draw, fault, "serial", st.just("SN-1"), _maybe_absent(serials())),
        "captured_at": _pick(draw, fault, "captured_at", _maybe_absent(near_now()), captured_at_texts()),
        "line": _pick(draw, fault, "line", _maybe_absent(st.just(LINE_CODE)), _line_codes()),
    }
    query: dict[str, str] = {}
    headers = draw(_common_headers(door, fault))
    for name, value in metadata.items():
        if value is None:
            continue
        if draw(st.booleans()):
            query[name] = value
        elif not door or _fits_a_header(value):
            headers[f"Kensa-{name.replace('_', '-').title()}"] = value
    return UploadRequest(content_type, image, query=query, headers=headers)


def upload_requests(*, door: bool = False) -> st.SearchStrategy[UploadRequest]:
    return st.one_of(multipart_requests(door=door), raw_requests(door=door))


@st.composite
def _common_headers(draw: st.DrawFn, door: bool, fault: str | None) -> dict[str, str]:
    key = _pick(
        draw,
        fault,
        "idempotency_key",
        st.one_of(st.none(), st.uuids().map(str)),
        st.one_of(st.sampled_from(["shot-1", "shot-2", "k" * 256]), texts(300)),
    )
    return {"Idempotency-Key": key} if key is not None and (not door or _fits_a_header(key)) else {}


def _fits_a_header(value: str) -> bool:
    """What an HTTP client can put in a header at all (the door is reached over real HTTP)."""
    return value == value.strip() and all(" " <= char <= "~" or "\xa0" <= char <= "\xff" for char in value)


def _line_codes() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([LINE_CODE, "other-line", "PROP-LINE", "prop-line\n"]), texts())


def cursors() -> st.SearchStrategy[str]:
    """Cursors as the API writes them, with any JSON inside, and arbitrary text."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts(),
        lambda children: st.lists(children, max_size=3),
        max_leaves=6,
    )
    inside = st.one_of(
        st.tuples(
            st.one_of(st.integers(min_value=-(2**64), max_value=2**64), captured_at_texts(), json_values),
            st.one_of(st.uuids().map(str), json_values),
        ).map(list),
        json_values,
    )
    encoded = inside.map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("="))
    return st.one_of(encoded, texts(), st.sampled_from([base64.urlsafe_b64encode(b"\xff\xfe").decode()]))


def result_queries() -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "line": _line_codes(),
            "limit": st.one_of(st.integers(min_value=-5, max_value=2000).map(str), texts()),
            "cursor": cursors(),
        },
    )
