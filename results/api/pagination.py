"""An opaque cursor over (finished_at, id): stable under inserts, so the MES never sees a
result twice or misses one by paging."""

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from inspection.errors import ApiError
from inspection.parsing import canonical_uuid

# encode_cursor writes about 90 characters; a longer cursor is none of its.
MAX_CURSOR_LENGTH = 256
_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]+")


def encode_cursor(finished_at: datetime, inspection_id: uuid.UUID) -> str:
    raw = json.dumps([finished_at.isoformat(), str(inspection_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_after(rows: list[Any], default: str | None) -> str | None:
    """The cursor just past the last of `rows`, or `default` when there are none."""
    last = rows[-1] if rows else None
    return encode_cursor(last.finished_at, last.id) if last is not None and last.finished_at else default


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    position = _position(cursor)
    if position is None:
        raise ApiError("cursor_invalid", "The cursor is not one this API gave out.")
    return position


def _position(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    """The (finished_at, id) that `cursor` encodes, read as strictly as encode_cursor writes
    it, or None: a client's cursor is input like any other (`["…", 5]` once crashed here)."""
    if len(cursor) > MAX_CURSOR_LENGTH or not _URLSAFE_BASE64.fullmatch(cursor):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # JSON and UTF-8 errors are ValueErrors
        return None
    if not isinstance(decoded, list) or len(decoded) != 2 or not isinstance(decoded[0], str):
        return None
    finished_at, inspection_id = _instant(decoded[0]), canonical_uuid(decoded[1])
    if finished_at is None or inspection_id is None:
        return None
    return finished_at, inspection_id


def _instant(text: str) -> datetime | None:
    """An aware time that exists in UTC (year 9999 at -14:00 does not)."""
    try:
        parsed = datetime.fromisoformat(text) if text.isascii() else None
        return parsed.astimezone(UTC) if parsed is not None and parsed.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None
