"""Gather work from many threads into batches: up to `max_size` items, or whatever arrived
within `max_wait` of the oldest one, then one call per group of items that share a key.

A worker runs one thread per task message in flight (Celery's threads pool); a message
carries one inspection, or a group of them that were accepted together (inspection/tasks.py).
Each thread claims its inspections, fetches and decodes the images, then hands the tensors to
the batcher and waits; meanwhile the batcher's own thread runs the forward pass of the
previous batch. So decoding the next batch overlaps the model, and every inspection keeps its
own claim and attempts (issue 5's guarantees do not change with batching).

Why not `celery-batches`: it runs a whole batch as one task in one pool slot, so the next
batch's fetch and decode cannot start until the forward pass ends, and one bad image's
retry or failure is the whole batch's. Here a group's member that fails transiently goes back
to the queue alone, and the batcher mixes the images of every message in hand.

Which pending images make the next batch, and in what order its groups run, is
scheduling.plan_batch's choice: most urgent first, sized so that a less urgent image does not
make a line with a latency target miss it, and an image past its deadline expired before it
costs a forward pass (docs/priority.md).

Pure Python, no torch or Django: the forward pass comes in as `run_group`.
"""

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from inspection.inference.scheduling import ForwardTimes, Urgency, plan_batch

RunGroup = Callable[[Hashable, list[Any]], list[Any]]


@dataclass(frozen=True)
class BatchResult:
    value: Any
    batch_size: int  # items in the same call of run_group, this one included
    waited_ms: float  # from submit until the batch started
    run_ms: float  # run_group's time for the whole group


class Expired(Exception):
    """The item's deadline passed, or would before a forward pass could end: it was not run."""


@dataclass
class _Pending:
    key: Hashable
    item: Any
    future: "Future[BatchResult]"
    submitted: float
    urgency: Urgency


class Batcher:
    def __init__(self, run_group: RunGroup, *, max_size: int, max_wait_seconds: float, name: str = "batcher"):
        if max_size < 1 or max_wait_seconds < 0:
            raise ValueError("max_size must be at least 1 and max_wait_seconds not negative")
        self.run_group = run_group
        self.max_size = max_size
        self.max_wait_seconds = max_wait_seconds
        self._pending: list[_Pending] = []
        self.times = ForwardTimes()  # each model's forward time by batch size, from its passes
        self._changed = threading.Condition()
        self._closed = False
        # Started on first use, never at import: a forking parent must not hold the thread.
        self._thread: threading.Thread | None = None
        self._name = name

    def submit(self, key: Hashable, item: Any, urgency: Urgency | None = None) -> "Future[BatchResult]":
        """Queue `item` for a batch of its `key`; the future gives run_group's answer for it,
        raises what run_group raised for its group, or Expired. Without an urgency the item
        ranks first, with no deadline or target."""
        future: Future[BatchResult] = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._pending.append(_Pending(key, item, future, time.monotonic(), urgency or Urgency(rank=0)))
            self._changed.notify()
        return future

    def close(self) -> None:
        """Run what is pending, then stop the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[_Pending] | None:
        """Block until a batch is due (enough items waiting, or the oldest has waited
        max_wait), then take the batch that plan_batch chooses; end the expired items."""
        while True:
            with self._changed:
                while not self._pending:
                    if self._closed:
                        return None
                    self._changed.wait()
                deadline = self._pending[0].submitted + self.max_wait_seconds
                while len(self._pending) < self.max_size and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                plan = plan_batch(
                    [(pending.key, pending.urgency) for pending in self._pending],
                    now=time.time(),
                    max_size=self.max_size,
                    times=self.times,
                )
                batch = [self._pending[i] for i in plan.batch]
                expired = [self._pending[i] for i in plan.expired]
                taken = set(plan.batch) | set(plan.expired)
                self._pending = [pending for i, pending in enumerate(self._pending) if i not in taken]
            for pending in expired:
                pending.future.set_exception(Expired())
            if batch:
                return batch

    def _run(self, batch: list[_Pending]) -> None:
        started = time.monotonic()
        groups: dict[Hashable, list[_Pending]] = {}
        for pending in batch:
            groups.setdefault(pending.key, []).append(pending)
        for key, members in groups.items():
            group_started = time.monotonic()
            try:
                values = self.run_group(key, [member.item for member in members])
                if len(values) != len(members):
                    raise RuntimeError(f"run_group gave {len(values)} answers for {len(members)} items")
            except BaseException as exc:  # the waiting threads decide what an error means
                for member in members:
                    member.future.set_exception(exc)
                continue
            run_seconds = time.monotonic() - group_started
            self.times.record(key, len(members), run_seconds)
            run_ms = round(run_seconds * 1000, 2)
            for member, value in zip(members, values, strict=True):
                waited_ms = round((started - member.submitted) * 1000, 2)
                member.future.set_result(BatchResult(value, len(members), waited_ms, run_ms))


class _Round:
    """One combined call: the items of the callers that joined it, then the answers."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.full = threading.Event()
        self.done = threading.Event()
        self.values: list[Any] = []
        self.error: BaseException | None = None


class Combiner:
    """Let concurrent callers share one call of `run_all(items) -> answers`.

    One round runs at a time. A caller that finds no round forming starts one; it runs it once
    the round before it has ended and, if the round is not full, after lingering up to
    `linger_seconds` for more. The callers that arrive meanwhile join it, up to `max_size`. So
    a quiet worker waits for nothing but the linger, and a busy one makes rounds as large as
    its backlog: the Python work of a round (Django's ORM, the live push's serializer) is
    mostly per round, and the GIL it holds is what every other thread of the worker waits for.
    Rounds running side by side stayed small, and the worker did about half the images/s of
    one round at a time (docs/performance.md#inference).

    A round runs in its first caller's thread, not a thread of its own: a database write runs
    on that caller's connection, inside whatever transaction it has open (tests hold one per
    test), and a round of writes costs one round trip per statement instead of one per caller.
    """

    def __init__(self, run_all: Callable[[list[Any]], list[Any]], *, max_size: int, linger_seconds: float = 0.0):
        if max_size < 1 or linger_seconds < 0:
            raise ValueError("max_size must be at least 1 and linger_seconds not negative")
        self.run_all = run_all
        self.max_size = max_size
        self.linger_seconds = linger_seconds
        self._lock = threading.Lock()  # guards _forming
        self._turn = threading.Lock()  # held by the round that runs
        self._forming: _Round | None = None

    def call(self, item: Any) -> Any:
        """run_all's answer for `item`, or what run_all raised for its round."""
        [value] = self.call_many([item])
        return value

    def call_many(self, items: list[Any]) -> list[Any]:
        """run_all's answers for `items`, which go into one round together (a task message
        that carries a group of inspections claims them in one round). A group that would
        overfill the round forming closes it and starts the next, so a round holds at most
        max_size items, or one group larger than that."""
        if not items:
            return []
        if self.max_size == 1:
            return self._checked(self.run_all(list(items)), len(items))
        with self._lock:
            round_ = self._forming
            if round_ is not None and len(round_.items) + len(items) > self.max_size:
                self._forming = None  # it runs as soon as its turn comes, without lingering
                round_.full.set()
                round_ = None
            leader = round_ is None
            if round_ is None:
                round_ = _Round()
                self._forming = round_
            start = len(round_.items)
            round_.items.extend(items)
            if len(round_.items) >= self.max_size:
                self._forming = None  # full: later callers start the next round
                round_.full.set()
        if leader:
            self._lead(round_)
        else:
            round_.done.wait()
        if round_.error is not None:
            raise round_.error
        return round_.values[start : start + len(items)]

    def _lead(self, round_: _Round) -> None:
        with self._turn:
            if self.linger_seconds:
                round_.full.wait(self.linger_seconds)
            with self._lock:
                if self._forming is round_:
                    self._forming = None  # it runs now: later callers start the next round
            try:
                round_.values = self._checked(self.run_all(round_.items), len(round_.items))
            except BaseException as exc:  # every caller of the round decides what it means
                round_.error = exc
            finally:
                round_.done.set()

    @staticmethod
    def _checked(values: list[Any], count: int) -> list[Any]:
        if len(values) != count:
            raise RuntimeError(f"run_all gave {len(values)} answers for {count} items")
        return values
