"""Admission by priority: each level leaves a reserve to those above it, and the most urgent
waiter is served first (inspection/inference/admission.py)."""

import threading
import time

from inspection.inference.admission import PriorityAllowance, level_limit, may_take, priority_rank, queue_rank
from lines.constants import Priority


def test_ranks_follow_the_queue_order_and_the_default_queue_ranks_with_critical():
    assert [queue_rank(q) for q in ("inspect.critical", "inspect.high", "inspect.normal", "inspect.low")] == [
        0,
        1,
        2,
        3,
    ]
    assert queue_rank("default") == 0
    assert queue_rank(None) == 0


def test_a_line_prioritys_rank_is_its_queues():
    assert [priority_rank(p) for p in Priority.values] == [0, 1, 2, 3]
    assert [priority_rank(p) for p in Priority.values] == [queue_rank(f"inspect.{p}") for p in Priority.values]
    assert priority_rank("unheard-of") == priority_rank(Priority.NORMAL)


def test_each_level_leaves_its_reserve_to_every_level_above_it():
    assert [level_limit(rank, total=64, reserve=4) for rank in range(4)] == [64, 60, 56, 52]
    assert may_take(3, 1, in_use=51, total=64, reserve=4)
    assert not may_take(3, 1, in_use=52, total=64, reserve=4)  # low stops at 52 of 64
    assert may_take(0, 1, in_use=63, total=64, reserve=4)  # critical may take the last place
    assert not may_take(0, 1, in_use=64, total=64, reserve=4)
    # However small the total, a level keeps one place: no priority is shut out for good.
    assert level_limit(3, total=4, reserve=4) == 1


def _hold(allowance: PriorityAllowance, units: int, rank: int, order: list[str], name: str, release: threading.Event):
    with allowance.taken(units, rank=rank):
        order.append(name)
        release.wait(10)


def test_a_flood_of_low_requests_cannot_take_the_places_kept_for_a_critical_one():
    allowance = PriorityAllowance(8, reserve=2)  # low (rank 3) may hold 2 of 8
    release = threading.Event()
    order: list[str] = []
    lows = [
        threading.Thread(target=_hold, args=(allowance, 1, 3, order, f"low-{n}", release), daemon=True)
        for n in range(5)
    ]
    for thread in lows:
        thread.start()
    time.sleep(0.2)
    assert sorted(order) == ["low-0", "low-1"] and allowance.in_use == 2  # three low ones wait
    critical = threading.Thread(target=_hold, args=(allowance, 4, 0, order, "critical", release), daemon=True)
    critical.start()
    time.sleep(0.2)
    assert order[-1] == "critical" and allowance.in_use == 6  # in at once, past the waiting low ones
    release.set()
    for thread in [*lows, critical]:
        thread.join(5)
    assert len(order) == 6 and allowance.in_use == 0


def test_waiters_are_served_most_urgent_first_then_in_the_order_they_asked():
    allowance = PriorityAllowance(1)
    order: list[str] = []
    holder_in, release_holder = threading.Event(), threading.Event()

    def holder() -> None:
        with allowance.taken(1, rank=0):
            holder_in.set()
            release_holder.wait(10)

    def take(name: str, rank: int) -> None:
        with allowance.taken(1, rank=rank):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert holder_in.wait(5)
    waiters = []
    for name, rank in [("low-1", 3), ("normal", 2), ("low-2", 3), ("critical", 0)]:
        waiters.append(threading.Thread(target=take, args=(name, rank)))
        waiters[-1].start()
        time.sleep(0.05)
    release_holder.set()
    for thread in [first, *waiters]:
        thread.join(5)
    assert order == ["critical", "normal", "low-1", "low-2"]


def test_a_request_larger_than_its_level_runs_alone_at_the_level_limit():
    allowance = PriorityAllowance(8, reserve=2)
    done = threading.Event()

    def big_low() -> None:
        with allowance.taken(100, rank=3):  # cut to low's limit: 8 - 3 x 2 = 2
            assert allowance.in_use == 2
            done.set()

    thread = threading.Thread(target=big_low)
    thread.start()
    thread.join(5)
    assert done.is_set() and allowance.in_use == 0
