"""Read an upload's fields from a multipart request, with a stable code for each mistake."""

from datetime import datetime

from django.core.files.uploadedfile import UploadedFile
from django.utils.dateparse import parse_datetime
from rest_framework import status
from rest_framework.request import Request

from config.errors import ApiError
from inspection.services import Upload

MAX_SERIAL_LENGTH = 128
# Room for the multipart framing and the small fields around the image.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def check_content_length(request: Request, *, max_image_bytes: int) -> None:
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


def upload_from_request(request: Request) -> Upload:
    image = request.FILES.get("image")
    if not isinstance(image, UploadedFile):
        raise ApiError("image_missing", "Send the image as the multipart field 'image'.")
    serial = str(request.POST.get("serial", "")).strip()
    if not serial:
        raise ApiError("serial_missing", "Send the part's serial number as the field 'serial'.")
    if len(serial) > MAX_SERIAL_LENGTH or not serial.isprintable():
        raise ApiError("serial_invalid", f"The serial must be printable and at most {MAX_SERIAL_LENGTH} characters.")
    return Upload(stream=image, size=image.size or 0, serial=serial, captured_at=_captured_at(request))


def _captured_at(request: Request) -> datetime | None:
    raw = str(request.POST.get("captured_at", "")).strip()
    if not raw:
        return None
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError("captured_at_invalid", "captured_at must be an ISO 8601 time with a UTC offset.")
    return parsed
