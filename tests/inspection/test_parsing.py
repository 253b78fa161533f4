"""inspection.parsing reads numbers, ids and line codes by their protocol's rules, not Python's."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inspection.parsing import ascii_int, canonical_uuid, is_line_code


@pytest.mark.parametrize("text", ["", "²", "\u0661\u0662", " 1", "1 ", "+1", "-1", "1_0", "0x1", "1.0", "9" * 20, None])
def test_ascii_int_refuses_what_int_would_read_or_crash_on(text):
    assert ascii_int(text) is None


@given(st.integers(min_value=0, max_value=10**19 - 1))
def test_ascii_int_reads_every_number_it_writes(number):
    assert ascii_int(str(number)) == number
    assert ascii_int(f"00{number}"[-19:]) == int(f"00{number}"[-19:])


def test_canonical_uuid_reads_only_what_str_writes():
    value = uuid.uuid4()
    assert canonical_uuid(str(value)) == value
    for text in (5, None, str(value).upper(), value.hex, f"{{{value}}}", f"urn:uuid:{value}", "\u0660" * 32):
        assert canonical_uuid(text) is None


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("press-1", True),
        ("a", True),
        ("x" * 48, True),
        ("x" * 49, False),
        ("Press-1", False),
        ("-a", False),
        ("press-1\n", False),
        ("\x00", False),
        ("", False),
        ("p\u0661", False),
    ],
)
def test_is_line_code_matches_the_lines_validator_and_nothing_else(text, valid):
    assert is_line_code(text) is valid
