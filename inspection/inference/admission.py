"""Admission by priority inside a worker: which work may take a share of what the worker holds.

A worker holds two things that less urgent work could fill to the brim and so hold back a
critical image that arrives after it: the messages it has reserved from Redis (one thread
each, up to its prefetch window) and the images it has claimed and not yet recorded
(KENSA_IMAGES_IN_FLIGHT). Redis's queue order only decides which message comes next once a
place is free; with every place taken by a flood of low-line work, the next free place came
when a whole batch finished, and the critical image then queued behind that flood inside the
worker (issue #26, docs/priority.md).

So each priority below the most urgent leaves `reserve` places free for every level above
it: `low` (rank 3) may take places only while 3 x reserve stay free for `normal`, `high` and
`critical`; `critical` (rank 0) may take them all. A critical image that reaches the worker
finds a thread and an allowance at once, whatever the flood. The same rule serves the broker
channel (inspection/broker.py, which stops taking messages from a queue whose level is full)
and the image allowance below.

Pure Python: no Django, no Celery.
"""

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from inspection.queues import INSPECTION_QUEUES

# Ranks follow the queues' order: 0 for `critical` … 3 for `low`.
LOWEST_RANK = len(INSPECTION_QUEUES) - 1
DEFAULT_RANK = INSPECTION_QUEUES.index("inspect.normal")


def queue_rank(queue: str | None) -> int:
    """A queue's rank, 0 the most urgent. A queue that is not an inspection queue (`default`,
    whose jobs are short and few) ranks with `critical`: it must never wait behind a flood."""
    if queue in INSPECTION_QUEUES:
        return INSPECTION_QUEUES.index(queue)
    return 0


def priority_rank(priority: str) -> int:
    """A line priority's rank: its queue's (inspection.queues); an unknown one ranks as `normal`."""
    queue = f"inspect.{priority}"
    return INSPECTION_QUEUES.index(queue) if queue in INSPECTION_QUEUES else DEFAULT_RANK


def level_limit(rank: int, *, total: int, reserve: int) -> int:
    """The most places that work of `rank` may hold, counting every rank's work: what stays
    free is left to the ranks above. At least one, so that no rank is shut out for good."""
    return max(1, total - rank * reserve)


def may_take(rank: int, units: int, *, in_use: int, total: int, reserve: int) -> bool:
    """Whether work of `rank` may take `units` more places while `in_use` are taken."""
    return in_use + units <= level_limit(rank, total=total, reserve=reserve)


class PriorityAllowance:
    """At most `total` units in use at once; a waiting request is served most urgent first
    (lowest rank), then in the order asked, and a rank takes units only within its level's
    limit (see `level_limit`).

    A request larger than its level's limit is cut to it (a message carrying a large group
    runs alone rather than never). The head of the line is served before anyone behind it, so
    a large request is not overtaken for ever by small ones; each waiter sleeps on an event of
    its own, set when its turn comes, so that a release does not wake every waiting thread.
    """

    def __init__(self, total: int, *, reserve: int = 0):
        if total < 1 or reserve < 0:
            raise ValueError("total must be at least 1 and reserve not negative")
        self.total = total
        self.reserve = reserve
        self._in_use = 0
        self._order = itertools.count()
        self._waiting: list[tuple[int, int, int, threading.Event]] = []  # heap: rank, order, units, turn
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    @contextmanager
    def taken(self, units: int, *, rank: int = 0) -> Iterator[None]:
        """Hold `units` for the block, waiting until the request's turn comes."""
        units = min(units, level_limit(rank, total=self.total, reserve=self.reserve))
        with self._lock:
            turn = None
            if not self._waiting and self._fits(rank, units):
                self._in_use += units
            else:
                turn = threading.Event()
                heapq.heappush(self._waiting, (rank, next(self._order), units, turn))
                self._hand_out()  # a more urgent request may fit where the head of the line did not
        if turn is not None:
            turn.wait()  # the units are ours once it is set (see _hand_out)
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= units
                self._hand_out()

    def _fits(self, rank: int, units: int) -> bool:
        return may_take(rank, units, in_use=self._in_use, total=self.total, reserve=self.reserve)

    def _hand_out(self) -> None:
        """Give free units to the most urgent waiters, while the head of the line fits."""
        while self._waiting:
            rank, _, units, turn = self._waiting[0]
            if not self._fits(rank, units):
                return
            heapq.heappop(self._waiting)
            self._in_use += units
            turn.set()
