"""Threads a test starts itself: Django does not close their database connections."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def closing_connections(call: Callable[P, R]) -> Callable[P, R]:
    """`call`, closing the connections it opened in its thread once it returns or raises.

    A connection left open in a test's own thread keeps the test database in use, and the
    session can then not drop it at the end."""

    @functools.wraps(call)
    def closing(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        finally:
            connections.close_all()

    return closing
