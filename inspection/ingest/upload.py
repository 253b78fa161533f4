"""Read an upload from a request, multipart or raw image body, with a stable code for each
mistake.

Multipart: the fields `image`, `serial` and optionally `captured_at`. Raw: the body is the
image, its Content-Type says which format (`image/jpeg`, `image/png`, `image/bmp`,
`image/tiff`), and `serial`, `captured_at` and `line` come as query parameters or as the
headers `Kensa-Serial`, `Kensa-Captured-At`, `Kensa-Line`.
"""

import tempfile
from typing import IO

import multipart
from django.http import HttpRequest

from inspection.errors import KensaError
from inspection.ingest.fields import (
    CONTENT_TYPE_FORMATS,
    parse_captured_at,
    parse_idempotency_key,
    parse_line_code,
    parse_serial,
)
from inspection.ingest.services import Upload
from inspection.parsing import ascii_int
from lines.models import Station

# Room for the multipart framing and the small fields around the image.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# A raw body is spooled to disk past this size, like Django spools multipart files.
RAW_SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
_CHUNK = 256 * 1024
# The form has three fields; a body with many parts is not from a station.
MULTIPART_MAX_PARTS = 16
# A text field (serial, captured_at) is read only up to this size: each is far shorter, and a
# longer one is refused with the field's code without being decoded.
MULTIPART_MAX_FIELD_BYTES = 1024
# The multipart library's limits that mean "too many parts", against every other limit.
_TOO_MANY_PARTS = "Maximum segment count exceeded"
_PART_TOO_BIG = {"Maximum segment size exceeded", "Segment Content-Length larger than maximum segment size"}


def check_content_length(request: HttpRequest, *, max_image_bytes: int) -> None:
    """Refuse an oversized body from its header, before reading (and spooling) any of it."""
    refusal = body_too_large(content_length(request), max_image_bytes=max_image_bytes)
    if refusal is not None:
        raise refusal


def body_too_large(length: int | None, *, max_image_bytes: int) -> KensaError | None:
    """The refusal of a body declared `length` bytes long, if no image upload can be that long
    (the view and the servers' header gates alike)."""
    if length is not None and length > max_image_bytes + MULTIPART_OVERHEAD_BYTES:
        return KensaError(
            "image_too_large", f"The request has {length} bytes; images may have at most {max_image_bytes}."
        )
    return None


def content_length(request: HttpRequest) -> int | None:
    """The declared body length, None when none was declared (a chunked body)."""
    raw = request.META.get("CONTENT_LENGTH")
    if not raw:
        return None
    length = ascii_int(raw)
    if length is None:
        raise KensaError("invalid_content_length", "Content-Length is not a number in ASCII digits.")
    return length


def upload_from_request(request: HttpRequest, station: Station, *, max_image_bytes: int) -> Upload:
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return _from_multipart(request, max_image_bytes)
    if content_type.startswith("image/"):
        return _from_raw_body(request, station, content_type, max_image_bytes)
    raise KensaError(
        "unsupported_media_type",
        "Send multipart/form-data with an 'image' field, or the image itself with an image/* Content-Type.",
    )


def _from_multipart(request: HttpRequest, max_image_bytes: int) -> Upload:
    parts = _multipart_parts(request, max_image_bytes)
    image = parts.get("image")
    if image is None or image.filename is None:
        raise KensaError("image_missing", "Send the image as the multipart field 'image'.")
    part_type = (image.content_type or "").split(";")[0].strip().lower()
    image.file.seek(0)
    return Upload(
        stream=image.file,
        size=image.size,
        serial=parse_serial(_field(parts, "serial", "serial_invalid")),
        captured_at=parse_captured_at(_field(parts, "captured_at", "captured_at_invalid")),
        idempotency_key=_idempotency_key(request),
        # A part sent as application/octet-stream claims nothing; one sent as image/x claims x.
        declared_format=_declared_format(part_type) if part_type.startswith("image/") else None,
    )


def _multipart_parts(request: HttpRequest, max_image_bytes: int) -> dict[str, multipart.MultipartPart]:
    """The body's parts by name (the first of each name), read by the `multipart` library:
    Django's own parser cost a fifth of an upload's CPU, this one a fifth of that. Parts stay
    in memory up to RAW_SPOOL_MEMORY_BYTES, as raw bodies do, and go to a temporary file past it."""
    _, options = multipart.parse_options_header(request.META.get("CONTENT_TYPE", ""))
    if not options.get("boundary"):
        raise KensaError("multipart_invalid", "The multipart Content-Type names no boundary.")
    length = content_length(request)
    parser = multipart.MultipartParser(
        request,
        options["boundary"],
        content_length=-1 if length is None else length,
        spool_limit=RAW_SPOOL_MEMORY_BYTES,
        partsize_limit=max_image_bytes + 1,  # one byte over is enough to refuse it as too large
        part_limit=MULTIPART_MAX_PARTS,
        buffer_size=_CHUNK,  # a camera image in one or two reads, not in the default 64 KB ones
    )
    parts: dict[str, multipart.MultipartPart] = {}
    try:
        for part in parser:
            parts.setdefault(part.name, part)
    except multipart.ParserLimitReached as exc:
        raise _limit_reached(str(exc), max_image_bytes) from None
    except multipart.MultipartError as exc:
        raise KensaError("multipart_invalid", f"The multipart body cannot be read: {exc}.") from None
    return parts


def _limit_reached(reason: str, max_image_bytes: int) -> KensaError:
    """Which of the parser's limits the body reached, each with its own code."""
    if reason in _PART_TOO_BIG:
        return KensaError("image_too_large", f"A part of the request has more than {max_image_bytes} bytes.")
    if reason == _TOO_MANY_PARTS:
        return KensaError("multipart_too_many_parts", f"The body has more than {MULTIPART_MAX_PARTS} parts; send 3.")
    return KensaError("multipart_too_large", f"The multipart body exceeds a limit of this server: {reason}.")


def _field(parts: dict[str, multipart.MultipartPart], name: str, code: str) -> str | None:
    """A text field's value; one too long to be valid, or not text in its charset, is refused
    with the field's own code."""
    part = parts.get(name)
    if part is None:
        return None
    if part.size > MULTIPART_MAX_FIELD_BYTES:
        raise KensaError(code, f"The field {name!r} is longer than {MULTIPART_MAX_FIELD_BYTES} bytes.")
    try:
        return str(part.value)
    except (UnicodeDecodeError, LookupError):  # LookupError: a charset Python does not know
        raise KensaError(code, f"The field {name!r} is not text in its charset.") from None


def _from_raw_body(request: HttpRequest, station: Station, content_type: str, max_image_bytes: int) -> Upload:
    declared = _declared_format(content_type)
    line = _metadata(request, "line", "HTTP_KENSA_LINE")
    if line:
        parse_line_code(line)
    if line and line != station.line.code:
        raise KensaError("line_mismatch", f"This station belongs to line {station.line.code}, not {line}.")
    serial = parse_serial(_metadata(request, "serial", "HTTP_KENSA_SERIAL"))
    captured_at = parse_captured_at(_metadata(request, "captured_at", "HTTP_KENSA_CAPTURED_AT"))
    stream, size = _spool(request, max_image_bytes)
    return Upload(
        stream=stream,
        size=size,
        serial=serial,
        captured_at=captured_at,
        idempotency_key=_idempotency_key(request),
        declared_format=declared,
    )


def _spool(request: HttpRequest, max_image_bytes: int) -> tuple[IO[bytes], int]:
    """Read the body in chunks (never `request.body`, which holds it all in memory), stopping
    as soon as it is over the limit."""
    spooled = tempfile.SpooledTemporaryFile(max_size=RAW_SPOOL_MEMORY_BYTES)  # noqa: SIM115 (returned open)
    size = 0
    while chunk := request.read(_CHUNK):
        size += len(chunk)
        if size > max_image_bytes:
            spooled.close()
            raise KensaError("image_too_large", f"The image has more than {max_image_bytes} bytes.")
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, size


def _declared_format(content_type: str) -> str:
    image_format = CONTENT_TYPE_FORMATS.get(content_type)
    if image_format is None:
        raise KensaError("image_format_unsupported", f"{content_type} is not accepted; send JPEG, PNG, BMP or TIFF.")
    return image_format


def _metadata(request: HttpRequest, name: str, header: str) -> str | None:
    value = request.GET.get(name)
    return value if value is not None else request.META.get(header)


def _idempotency_key(request: HttpRequest) -> str:
    return parse_idempotency_key(request.META.get("HTTP_IDEMPOTENCY_KEY"))
