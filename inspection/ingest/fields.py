"""The rules for an upload's fields, shared by every way in (multipart, raw body, tus)."""

from datetime import datetime

from django.utils.dateparse import parse_datetime

from inspection.errors import ApiError

MAX_SERIAL_LENGTH = 128
MAX_IDEMPOTENCY_KEY_LENGTH = 255

CONTENT_TYPE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/bmp": "BMP",
    "image/x-ms-bmp": "BMP",
    "image/tiff": "TIFF",
}


def parse_serial(raw: object) -> str:
    serial = str(raw or "").strip()
    if not serial:
        raise ApiError("serial_missing", "Send the part's serial number ('serial').")
    if len(serial) > MAX_SERIAL_LENGTH or not serial.isprintable():
        raise ApiError("serial_invalid", f"The serial must be printable and at most {MAX_SERIAL_LENGTH} characters.")
    return serial


def parse_captured_at(raw: object) -> datetime | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError("captured_at_invalid", "captured_at must be an ISO 8601 time with a UTC offset.")
    return parsed


def parse_idempotency_key(raw: object) -> str:
    key = str(raw or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            "idempotency_key_invalid", f"Idempotency-Key must be printable, at most {MAX_IDEMPOTENCY_KEY_LENGTH} chars."
        )
    return key
