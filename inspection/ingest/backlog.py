"""Whether a line's backlog is over its queue limit, answered per process without waiting.

The exact answer asks the database whether a `queue_limit`-th waiting row exists, so it reads
up to that many index entries: its cost grows with the backlog, and a line with a large limit
and a deep queue takes tens of milliseconds a check. Backpressure needs no exact count at
every upload, so each process keeps the last answer per line. It serves while it is fresh,
and also while one thread refreshes it: uploads never run a check each. The ingest door
refreshes in the background, so no upload waits for a check but the first of a line in a
process; a blocking caller that finds the answer stale asks itself. Checks are spaced so
that they take at most `max_share` of the time, however deep the backlog.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from inspection.constants import Status
from inspection.models import Inspection
from inspection.per_process import PerProcess
from lines.models import ProductionLine


def backlog_reaches_limit(line: ProductionLine) -> bool:
    """The exact answer: are `queue_limit` or more of the line's images waiting?"""
    waiting = Inspection.objects.filter(line=line, status__in=[Status.QUEUED, Status.RUNNING]).order_by()
    return waiting[line.queue_limit - 1 : line.queue_limit].exists()


@dataclass(frozen=True)
class Answer:
    full: bool
    due_at: float  # time.monotonic() from which the answer is stale

    def stale(self) -> bool:
        return time.monotonic() >= self.due_at


class BacklogGauge:
    def __init__(
        self,
        *,
        interval: float,
        max_share: float,
        check: Callable[[ProductionLine], bool] = backlog_reaches_limit,
    ):
        self.interval = interval
        self.max_share = max_share
        self._check = check
        self._answers: dict[int, Answer] = {}
        self._asking: dict[int, threading.Lock] = {}  # per line: held while its check runs
        self._asking_lock = threading.Lock()

    def last(self, line: ProductionLine) -> Answer | None:
        """The line's last answer, fresh or stale; None before the first. Asks nothing."""
        return self._answers.get(line.id)

    def full(self, line: ProductionLine) -> bool:
        """The answer, asking the database only when the last one is stale and no other
        thread is asking. Before the first answer, callers wait for one check."""
        answer = self._answers.get(line.id)
        if answer is not None and not answer.stale():
            return answer.full  # the common case: no lock taken
        asking = self._lock_for(line.id)
        if answer is None:
            with asking:
                answer = self._answers.get(line.id)  # asked by another caller meanwhile?
                return answer.full if answer is not None else self._ask(line)
        if not asking.acquire(blocking=False):
            return answer.full
        try:
            return self._ask(line)
        finally:
            asking.release()

    def _ask(self, line: ProductionLine) -> bool:
        started = time.monotonic()
        full = self._check(line)
        finished = time.monotonic()
        # A check that took d seconds waits d / max_share before the next one: a deep
        # backlog's checks take at most that share of the time.
        spacing = max(self.interval, (finished - started) / self.max_share)
        self._answers[line.id] = Answer(full, due_at=finished + spacing)
        return full

    def _lock_for(self, line_id: int) -> threading.Lock:
        with self._asking_lock:
            return self._asking.setdefault(line_id, threading.Lock())


# Checks at least a second apart, and at most a twentieth of the time: a check that takes
# 100 ms (a deep backlog on a line with a large limit) runs every 2 s.
CHECK_INTERVAL_SECONDS = 1.0
CHECK_MAX_SHARE = 0.05

gauge = PerProcess(lambda: BacklogGauge(interval=CHECK_INTERVAL_SECONDS, max_share=CHECK_MAX_SHARE))
