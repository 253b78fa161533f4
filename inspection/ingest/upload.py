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
from rest_framework import status

from inspection.errors import ApiError
from inspection.ingest.fields import CONTENT_TYPE_FORMATS, parse_captured_at, parse_idempotency_key, parse_serial
from inspection.ingest.services import Upload
from lines.models import Station

# Room for the multipart framing and the small fields around the image.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# A raw body is spooled to disk past this size, like Django spools multipart files.
RAW_SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
_CHUNK = 256 * 1024
# The form has three fields; a body with many parts is not from a station.
MULTIPART_MAX_PARTS = 16


def check_content_length(request: HttpRequest, *, max_image_bytes: int) -> None:
    """Refuse an oversized body from its header, before reading (and spooling) any of it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError("invalid_content_length", "Content-Length is not a number.") from None
    if length > max_image_bytes + MULTIPART_OVERHEAD_BYTES:
        raise ApiError(
            "image_too_large",
            f"The request has {length} bytes; images may have at most {max_image_bytes}.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


def upload_from_request(request: HttpRequest, station: Station, *, max_image_bytes: int) -> Upload:
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return _from_multipart(request, max_image_bytes)
    if content_type.startswith("image/"):
        return _from_raw_body(request, station, content_type, max_image_bytes)
    raise ApiError(
        "unsupported_media_type",
        "Send multipart/form-data with an 'image' field, or the image itself with an image/* Content-Type.",
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    )


def _from_multipart(request: HttpRequest, max_image_bytes: int) -> Upload:
    parts = _multipart_parts(request, max_image_bytes)
    image = parts.get("image")
    if image is None or image.filename is None:
        raise ApiError("image_missing", "Send the image as the multipart field 'image'.")
    part_type = (image.content_type or "").split(";")[0].strip().lower()
    image.file.seek(0)
    return Upload(
        stream=image.file,
        size=image.size,
        serial=parse_serial(_field(parts, "serial")),
        captured_at=parse_captured_at(_field(parts, "captured_at")),
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
        raise ApiError("multipart_invalid", "The multipart Content-Type names no boundary.")
    length = int(request.META.get("CONTENT_LENGTH") or -1)
    parser = multipart.MultipartParser(
        request,
        options["boundary"],
        content_length=length,
        spool_limit=RAW_SPOOL_MEMORY_BYTES,
        partsize_limit=max_image_bytes + 1,  # one byte over is enough to refuse it as too large
        part_limit=MULTIPART_MAX_PARTS,
        buffer_size=_CHUNK,  # a camera image in one or two reads, not in the default 64 KB ones
    )
    parts: dict[str, multipart.MultipartPart] = {}
    try:
        for part in parser:
            parts.setdefault(part.name, part)
    except multipart.ParserLimitReached:
        raise ApiError(
            "image_too_large",
            f"A part of the request has more than {max_image_bytes} bytes.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        ) from None
    except multipart.MultipartError as exc:
        raise ApiError("multipart_invalid", f"The multipart body cannot be read: {exc}.") from None
    return parts


def _field(parts: dict[str, multipart.MultipartPart], name: str) -> str | None:
    part = parts.get(name)
    return None if part is None else part.value


def _from_raw_body(request: HttpRequest, station: Station, content_type: str, max_image_bytes: int) -> Upload:
    declared = _declared_format(content_type)
    line = _metadata(request, "line", "HTTP_KENSA_LINE")
    if line and line != station.line.code:
        raise ApiError(
            "line_mismatch", f"This station belongs to line {station.line.code}, not {line}.", status.HTTP_403_FORBIDDEN
        )
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
            raise ApiError(
                "image_too_large",
                f"The image has more than {max_image_bytes} bytes.",
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, size


def _declared_format(content_type: str) -> str:
    image_format = CONTENT_TYPE_FORMATS.get(content_type)
    if image_format is None:
        raise ApiError(
            "image_format_unsupported",
            f"{content_type} is not accepted; send JPEG, PNG, BMP or TIFF.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    return image_format


def _metadata(request: HttpRequest, name: str, header: str) -> str | None:
    value = request.GET.get(name)
    return value if value is not None else request.META.get(header)


def _idempotency_key(request: HttpRequest) -> str:
    return parse_idempotency_key(request.META.get("HTTP_IDEMPOTENCY_KEY"))
