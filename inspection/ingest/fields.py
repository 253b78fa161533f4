"""The rules for an upload's fields, shared by every way in (multipart, raw body, tus)."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inspection.errors import KensaError
from inspection.parsing import LINE_CODE_RULE, is_clean_text, is_line_code

MAX_SERIAL_LENGTH = 128
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Longer than any ISO 8601 time ("2026-11-22T08:00:00.123456+01:00" is 32 characters).
MAX_CAPTURED_AT_LENGTH = 64

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
        raise KensaError("serial_missing", "Send the part's serial number ('serial').")
    if len(serial) > MAX_SERIAL_LENGTH or not is_clean_text(serial):
        raise KensaError("serial_invalid", f"The serial must be printable and at most {MAX_SERIAL_LENGTH} characters.")
    return serial


def parse_captured_at(raw: object, *, now: datetime | None = None) -> datetime | None:
    """An ISO 8601 time with its UTC offset, within the window around `now` (by default the
    server's now) that settings allow, or None when none was sent."""
    text = str(raw or "").strip()
    if not text:
        return None
    parsed = _aware_datetime(text)
    if parsed is None:
        raise KensaError("captured_at_invalid", "captured_at must be an ISO 8601 time with a UTC offset.")
    now = now or timezone.now()
    earliest = now - timedelta(days=settings.KENSA_CAPTURED_AT_MAX_AGE_DAYS)
    latest = now + timedelta(hours=settings.KENSA_CAPTURED_AT_MAX_AHEAD_HOURS)
    # Aware datetimes compare by their UTC instants without building them, so year 9999 at
    # -14:00 (past datetime.max in UTC) compares, where converting it would overflow.
    if not earliest <= parsed <= latest:
        raise KensaError(
            "captured_at_invalid",
            f"captured_at must lie between {earliest.isoformat()} and {latest.isoformat()} (the server's clock).",
        )
    # In UTC: PostgreSQL refuses offsets past ±15:59 ("-16:00" is valid ISO 8601 and Python).
    return parsed.astimezone(UTC)


def _aware_datetime(text: str) -> datetime | None:
    # Django's parser takes any script's digits ("٢٠٢٠"): a station's time is ASCII.
    if len(text) > MAX_CAPTURED_AT_LENGTH or not text.isascii():
        return None
    try:
        parsed = parse_datetime(text)
    except (ValueError, OverflowError):
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def parse_idempotency_key(raw: object) -> str:
    key = str(raw or "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not is_clean_text(key):
        raise KensaError(
            "idempotency_key_invalid", f"Idempotency-Key must be printable, at most {MAX_IDEMPOTENCY_KEY_LENGTH} chars."
        )
    return key


def parse_line_code(raw: str) -> str:
    if not is_line_code(raw):
        raise KensaError("line_invalid", LINE_CODE_RULE)
    return raw
