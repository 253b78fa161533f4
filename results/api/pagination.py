"""An opaque cursor over (finished_at, id): stable under inserts, so the MES never sees a
result twice or misses one by paging."""

import base64
import binascii
import json
import uuid
from datetime import datetime

from config.errors import ApiError


def encode_cursor(finished_at: datetime, inspection_id: uuid.UUID) -> str:
    raw = json.dumps([finished_at.isoformat(), str(inspection_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        finished_at, inspection_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(finished_at), uuid.UUID(inspection_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ApiError("cursor_invalid", "The cursor is not one this API gave out.") from None
