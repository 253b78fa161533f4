"""An opaque cursor over (finished_at, id): stable under inserts, so the MES never sees a
result twice or misses one by paging."""

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from inspection.errors import ApiError


def encode_cursor(finished_at: datetime, inspection_id: uuid.UUID) -> str:
    raw = json.dumps([finished_at.isoformat(), str(inspection_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_after(rows: list[Any], default: str | None) -> str | None:
    """The cursor just past the last of `rows`, or `default` when there are none."""
    last = rows[-1] if rows else None
    return encode_cursor(last.finished_at, last.id) if last is not None and last.finished_at else default


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        finished_at, inspection_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(finished_at), uuid.UUID(inspection_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ApiError("cursor_invalid", "The cursor is not one this API gave out.") from None
