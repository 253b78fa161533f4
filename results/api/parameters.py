"""Query parameters parsed strictly: an unknown or repeated parameter, a time without its UTC
offset or a boolean other than `true`/`false` is refused with a code, never ignored."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from inspection.errors import ApiError

# The feed began long after this and ends long before that; bounds keep a typo (year 20240)
# and an offset that overflows a datetime from reaching the database.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parameters_check(query: QueryDict, allowed: Iterable[str]) -> None:
    """Refuse parameters outside `allowed`, and any given more than once."""
    known = set(allowed)
    unknown = sorted(name for name in query if name not in known)
    if unknown:
        raise ApiError(
            "parameter_unknown",
            f"Unknown query parameters: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.",
            parameters=unknown,
        )
    repeated = sorted(name for name, values in query.lists() if len(values) > 1)
    if repeated:
        raise ApiError("parameter_invalid", f"Give each parameter once: {', '.join(repeated)}.", parameters=repeated)


def parameters_invalid(errors: dict[str, Any]) -> ApiError:
    fields = {name: [str(message) for message in messages] for name, messages in errors.items()}
    return ApiError("parameter_invalid", "Some query parameters are not valid.", fields=fields)


class StrictDateTimeField(forms.Field):
    """ISO 8601 with a UTC offset (`Z` or `+01:00`), within EARLIEST..LATEST."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or "T" not in str(value).upper():
            raise ValidationError(
                "Give an ISO 8601 date and time with a UTC offset, e.g. 2025-01-31T06:00:00Z "
                "(in a URL, write + as %2B)."
            )
        try:
            within = EARLIEST <= parsed <= LATEST
        except OverflowError:
            within = False
        if not within:
            raise ValidationError("The time is outside the years 2000 to 9000.")
        return parsed


class StrictBooleanField(forms.Field):
    """`true` or `false`, nothing else (a typo is an error, not false)."""

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        if value not in ("true", "false"):
            raise ValidationError("Use true or false.")
        return value == "true"
