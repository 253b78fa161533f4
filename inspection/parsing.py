"""Strict reading of the numbers, ids and names that clients send.

Python's own parsers are generous where a protocol is not: `str.isdigit()` is true for "²",
which `int()` then refuses; `int()` reads "١٢", " 12 " and "1_2"; `uuid.UUID` reads "{…}",
"urn:uuid:…" and non-ASCII digits. A client's number or id is read here by the protocol's rules
(ASCII digits, the canonical UUID form), so that anything else is refused with the caller's
stable code instead of surfacing as a 500 further on.

The helpers return None for what they cannot read: each caller chooses its own error code
(`limit_invalid`, `cursor_invalid`, a tus header's code).
"""

import re
import uuid

from lines.models import code_validator

_ASCII_DIGITS = re.compile(r"[0-9]+")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Any length, offset or count a client may send fits in 19 digits (under 2**63, what PostgreSQL's
# bigint holds); more is no number Kensa accepts, and int() on a huge string costs CPU.
MAX_DIGITS = 19


def ascii_int(text: str | None) -> int | None:
    """The non-negative integer that `text` spells in ASCII digits (leading zeros allowed),
    or None for anything else: signs, spaces, underscores, other scripts' digits, "²"."""
    if text is None or len(text) > MAX_DIGITS or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)


def canonical_uuid(text: object) -> uuid.UUID | None:
    """The UUID written as `str(uuid)` writes it (36 lower-case characters), or None."""
    if not isinstance(text, str) or not _CANONICAL_UUID.fullmatch(text):
        return None
    return uuid.UUID(text)


def is_clean_text(text: str) -> bool:
    """True if `text` holds no control characters. PostgreSQL refuses NUL in text columns and
    parameters (which would surface as 503 database_unavailable), and no serial, key or
    line code a station sends has a reason to hold a line break or an escape."""
    return text.isprintable()


LINE_CODE_RULE = "A line code has 1-48 lower-case letters, digits and hyphens."


def is_line_code(text: str) -> bool:
    """True if `text` could name a line. Anything else, a NUL included, names none and is
    refused before it reaches a query (PostgreSQL would refuse the NUL as a 503)."""
    # fullmatch: the validator's `$` would let one trailing newline through.
    return re.fullmatch(code_validator.regex, text) is not None
