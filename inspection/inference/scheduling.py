"""Which of the images waiting in a worker's batcher go into the next forward pass.

Most urgent first: by the line's priority, then earliest deadline first within a priority
(EDF), then in the order they came. An image whose deadline falls before even a batch of one
could finish is expired instead, so that it costs no forward pass (the worker marks it
`expired`, deadline_exceeded, as the sweeper would have).

The batch's size respects latency: a line may state a latency target (ProductionLine.
latency_target_ms). While an image of such a line waits, a less urgent image joins the batch
only if the batch's predicted forward time still lets that image finish by its target. On a
GPU a larger batch costs little more than a small one and nearly everything still joins; on a
CPU the time grows with every image, and a critical image would otherwise ride in a full batch
of a flood's images (1.5 s against 45 ms alone, issue #26). Images of the same priority always
share a batch, up to the batcher's maximum: among equals, a full batch serves them best.

The forward time comes from the worker's own passes, per model (ForwardTimes): no figure to
configure, and it follows the model and the hardware it runs on.

Pure Python: no Django, no torch. Times are seconds since the epoch (time.time()), as the
deadlines in the database are.
"""

import math
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Urgency:
    """Where an image stands in the batcher: `rank` 0 (critical) to 3 (low); `deadline` when
    it expires; `due` when its line wants it finished (None: no target)."""

    rank: int
    deadline: float = math.inf
    due: float | None = None


class ForwardTimes:
    """Predicts a forward pass's seconds from a batch's size, per model: a straight line
    (fixed cost + cost per image) fitted to the recent passes, older ones counting less.

    A fit by hand, not a library's: a few sums per model, updated under the batcher's thread
    and read by the same thread. With passes of one size only (a busy worker makes full
    batches) the slope cannot be told from the fixed cost, and the time is taken as
    proportional to the size, which overestimates a small batch on a GPU (there the fixed
    cost dominates): that only makes the batcher more careful."""

    def __init__(self, *, decay: float = 0.9):
        if not 0 < decay < 1:
            raise ValueError("decay must be between 0 and 1")
        self.decay = decay
        self._sums: dict[Hashable, list[float]] = {}  # weight, Σn, Σn², Σt, Σnt
        self._lock = threading.Lock()

    def record(self, key: Hashable, size: int, seconds: float) -> None:
        with self._lock:
            sums = self._sums.setdefault(key, [0.0] * 5)
            for i, value in enumerate((1.0, size, size * size, seconds, size * seconds)):
                sums[i] = sums[i] * self.decay + value

    def predict(self, key: Hashable, size: int) -> float | None:
        """Seconds for a pass of `size` images of `key`'s model; None before its first pass."""
        with self._lock:
            sums = self._sums.get(key)
            if sums is None:
                return None
            weight, n, n2, t, nt = sums
        mean_n, mean_t = n / weight, t / weight
        spread = n2 / weight - mean_n * mean_n
        if spread > 0.25:  # sizes varied enough to tell the fixed cost from the cost per image
            slope = max(0.0, (nt / weight - mean_n * mean_t) / spread)
            fixed = max(0.0, mean_t - slope * mean_n)
            return fixed + slope * size
        return mean_t * size / max(mean_n, 1.0)


@dataclass
class Plan:
    """The next batch (indices into the pending list, most urgent first) and the images that
    can no longer meet their deadline (indices), to be expired without a forward pass."""

    batch: list[int]
    expired: list[int]


def plan_batch(
    pending: Sequence[tuple[Hashable, Urgency]],
    *,
    now: float,
    max_size: int,
    times: ForwardTimes,
) -> Plan:
    """Choose the next batch among `pending` (model key, urgency) as of `now`.

    The batch's images run in groups, one per model, in the order of their most urgent image;
    an image finishes when its group does. A less urgent image joins only if every image of a
    higher priority with a target would still finish by it, or was already going to miss it
    without the newcomer (then it must not be made later still)."""
    # Priority, then deadline, then arrival (the pending list's own order).
    order = sorted(range(len(pending)), key=lambda i: (pending[i][1].rank, pending[i][1].deadline, i))
    expired: list[int] = []
    batch: list[int] = []
    groups: dict[Hashable, list[int]] = {}  # model key -> indices, in the order the groups run
    for index in order:
        if len(batch) >= max_size:
            break
        key, urgency = pending[index]
        alone = times.predict(key, 1)
        if urgency.deadline < now + (alone or 0.0):
            expired.append(index)
            continue
        trial = {group: list(members) for group, members in groups.items()}
        trial.setdefault(key, []).append(index)
        if batch and not _keeps_targets(pending, groups, trial, now=now, newcomer=urgency, times=times):
            continue  # a smaller image of another model may still fit after the groups that have targets
        groups = trial
        batch.append(index)
    # An image past its deadline anywhere in the list is dropped now, not when its turn comes.
    chosen = set(batch) | set(expired)
    expired += [i for i in order if i not in chosen and pending[i][1].deadline < now]
    return Plan([i for members in groups.values() for i in members], expired)


def _keeps_targets(
    pending: Sequence[tuple[Hashable, Urgency]],
    before: dict[Hashable, list[int]],
    after: dict[Hashable, list[int]],
    *,
    now: float,
    newcomer: Urgency,
    times: ForwardTimes,
) -> bool:
    finish_before, finish_after = _finishes(before, now, times), _finishes(after, now, times)
    for index, finish in finish_after.items():
        urgency = pending[index][1]
        if urgency.due is None or urgency.rank >= newcomer.rank or index not in finish_before:
            continue
        if finish > finish_before[index] and finish > urgency.due:
            return False
    return True


def _finishes(groups: dict[Hashable, list[int]], now: float, times: ForwardTimes) -> dict[int, float]:
    """When each image of `groups` would finish, its group running after those before it."""
    finishes: dict[int, float] = {}
    clock = now
    for key, members in groups.items():
        clock += times.predict(key, len(members)) or 0.0
        for index in members:
            finishes[index] = clock
    return finishes
