"""A value made on first use in each process.

Clients, event loops and their threads must not cross a fork: a forked child (a gunicorn
worker, a Celery prefork child) would share its parent's sockets, and it does not inherit
the parent's threads at all. `PerProcess` makes the value again in any process that did not
make it itself.
"""

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._lock = threading.Lock()
        self._value: T | None = None
        self._pid = 0

    def get(self) -> T:
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value, self._pid = self._make(), os.getpid()
            return self._value
