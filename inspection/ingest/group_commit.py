"""Group commit: many callers' writes, one transaction per group, on one writer thread.

Callers hand their items to the writer and get a future each. The writer takes everything
that is waiting (up to `max_size`), writes it with one call of `write_group`, settles every
caller's future with its own outcome, and takes the next group. There is no timer: while one
group commits (PostgreSQL waits for its WAL flush), the next one gathers, so groups grow with
the load by themselves and a lone item never waits for company.

The group runs on the writer's own thread and database connection, outside any transaction
a caller holds: use it only for work that is committed on its own.
"""

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)

# write_group(items) -> one outcome per item: None when it was written, else the exception
# that item's caller gets. An exception raised by write_group itself reaches every caller of
# the group.
WriteGroup = Callable[[list[T]], list[BaseException | None]]


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write_group: WriteGroup[T],
        *,
        max_size: int,
        idle: Callable[[], None] = lambda: None,
        idle_seconds: float = 5.0,
        name: str = "group-commit",
    ):
        """`idle` runs on the writer thread after `idle_seconds` without work (Kensa closes
        the writer's database connection there, so an idle process holds none)."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.write_group = write_group
        self.max_size = max_size
        self._idle = idle
        self._idle_seconds = idle_seconds
        self._waiting: queue.SimpleQueue[tuple[T, Future[None]]] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        # Started on first use, never at import: a forking parent must not hold the thread.
        self._thread: threading.Thread | None = None
        self._name = name

    def submit(self, item: T) -> "Future[None]":
        """A future that is done once `item` is written, or raises why it was not."""
        future: Future[None] = Future()
        self._start()
        self._waiting.put((item, future))
        return future

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                first = self._waiting.get(timeout=self._idle_seconds)
            except queue.Empty:
                try:
                    self._idle()
                except Exception:  # the writer must outlive it: every caller waits on this thread
                    logger.exception("The group commit's idle step failed")
                continue
            group = [first]
            while len(group) < self.max_size:
                try:
                    group.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            self._write(group)

    def _write(self, group: list[tuple[T, "Future[None]"]]) -> None:
        try:
            outcomes: list[Any] = self.write_group([item for item, _ in group])
            if len(outcomes) != len(group):
                raise RuntimeError(f"write_group gave {len(outcomes)} outcomes for {len(group)} items")
        except BaseException as exc:  # each caller decides what the error means for its request
            outcomes = [exc] * len(group)
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
