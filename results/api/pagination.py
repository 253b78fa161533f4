"""An opaque cursor over (feed_position, id), the order of the MES feed (inspection/feed.py):
a poller never sees a result twice or misses one by paging."""

import base64
import binascii
import json
import re
import uuid
from typing import Any

from inspection.errors import ApiError
from inspection.parsing import canonical_uuid

# encode_cursor writes about 70 characters; a longer cursor is none of its.
MAX_CURSOR_LENGTH = 256
_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]+")
_POSITIONS = range(-(2**63), 2**63)  # a PostgreSQL bigint


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
    position = _position(cursor)
    if position is None:
        raise ApiError("cursor_invalid", "The cursor is not one this API gave out.")
    return position


def _position(cursor: str) -> tuple[int, uuid.UUID] | None:
    """The (feed_position, id) that `cursor` encodes, read as strictly as encode_cursor writes
    it, or None: a client's cursor is input like any other (`["…", 5]` once crashed here)."""
    if len(cursor) > MAX_CURSOR_LENGTH or not _URLSAFE_BASE64.fullmatch(cursor):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):  # JSON and UTF-8 errors are ValueErrors
        return None
    if not isinstance(decoded, list) or len(decoded) != 2:
        return None
    position, inspection_id = decoded[0], canonical_uuid(decoded[1])
    if type(position) is not int or position not in _POSITIONS or inspection_id is None:
        return None
    return position, inspection_id
