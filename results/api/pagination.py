"""An opaque cursor over (feed_position, id), the order of the MES feed (inspection/feed.py):
a poller never sees a result twice or misses one by paging."""

import base64
import binascii
import json
import uuid
from typing import Any

from inspection.errors import ApiError


def encode_cursor(position: int, inspection_id: uuid.UUID) -> str:
    raw = json.dumps([position, str(inspection_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_after(rows: list[Any], default: str | None) -> str | None:
    """The cursor just past the last of `rows`, or `default` when there are none."""
    last = rows[-1] if rows else None
    if last is None or last.feed_position is None:
        return default
    return encode_cursor(last.feed_position, last.id)


def decode_cursor(cursor: str) -> tuple[int, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position, inspection_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if type(position) is not int or not -(2**63) <= position < 2**63 or not isinstance(inspection_id, str):
            raise ValueError("not a cursor")
        return position, uuid.UUID(inspection_id)
    except (ValueError, TypeError, AttributeError, UnicodeError, binascii.Error):
        raise ApiError("cursor_invalid", "The cursor is not one this API gave out.") from None
