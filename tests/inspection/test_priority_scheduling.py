"""Which pending images make the next batch: priority, then earliest deadline; batches sized so
that a line's latency target holds; images that cannot meet their deadline expired before the
forward pass (inspection/inference/scheduling.py), and the batcher that applies it."""

import math
import threading
import time

import pytest

from inspection.inference.batching import Batcher, Expired
from inspection.inference.scheduling import ForwardTimes, Urgency, plan_batch

NOW = 1_000_000.0


def linear_times(key: str = "m", fixed: float = 0.01, per_image: float = 0.04) -> ForwardTimes:
    """Forward times learnt from passes of several sizes: fixed + per_image x size."""
    times = ForwardTimes()
    for size in (1, 8, 16, 32, 4, 24):
        times.record(key, size, fixed + per_image * size)
    return times


def test_forward_times_fit_the_fixed_cost_and_the_cost_per_image():
    times = linear_times(fixed=0.01, per_image=0.04)
    assert times.predict("m", 10) == pytest.approx(0.41, rel=0.01)
    assert times.predict("unknown", 10) is None
    # Passes of one size only: proportional to the size.
    one_size = ForwardTimes()
    for _ in range(3):
        one_size.record("m", 32, 1.28)
    assert one_size.predict("m", 8) == pytest.approx(0.32)


def test_the_batch_takes_priority_first_then_the_earliest_deadline_then_arrival():
    pending = [
        ("m", Urgency(rank=3, deadline=NOW + 100)),  # 0 low
        ("m", Urgency(rank=0, deadline=NOW + 300)),  # 1 critical, later deadline
        ("m", Urgency(rank=3, deadline=NOW + 50)),  # 2 low, earliest low deadline
        ("m", Urgency(rank=0, deadline=NOW + 200)),  # 3 critical, earlier deadline
        ("m", Urgency(rank=3, deadline=NOW + 100)),  # 4 low, same deadline as 0, came later
    ]
    plan = plan_batch(pending, now=NOW, max_size=4, times=ForwardTimes())
    assert plan.batch == [3, 1, 2, 0] and plan.expired == []


def test_lower_priority_images_join_only_while_the_critical_target_holds():
    times = linear_times(fixed=0.01, per_image=0.04)
    critical = ("m", Urgency(rank=0, deadline=NOW + 60, due=NOW + 0.5))  # 0.5 s left
    lows = [("m", Urgency(rank=3, deadline=NOW + 60)) for _ in range(40)]
    plan = plan_batch([*lows, critical], now=NOW, max_size=32, times=times)
    # 0.01 + 0.04 x n <= 0.5: 12 images, the critical one first.
    assert plan.batch[0] == 40 and len(plan.batch) == 12
    # No target: a full batch.
    untargeted = ("m", Urgency(rank=0, deadline=NOW + 60))
    assert len(plan_batch([*lows, untargeted], now=NOW, max_size=32, times=times).batch) == 32


def test_a_critical_image_already_late_runs_without_lower_priority_company():
    times = linear_times()
    late = ("m", Urgency(rank=0, deadline=NOW + 60, due=NOW - 0.2))
    peer = ("m", Urgency(rank=0, deadline=NOW + 61, due=NOW - 0.1))
    lows = [("m", Urgency(rank=3, deadline=NOW + 60)) for _ in range(10)]
    plan = plan_batch([*lows, late, peer], now=NOW, max_size=32, times=times)
    assert plan.batch == [10, 11]  # its own priority rides with it; the low line waits


def test_images_of_another_model_run_after_the_critical_group_and_do_not_delay_it():
    times = linear_times("a")
    for size in (1, 8, 16, 32, 4, 24):
        times.record("b", size, 0.01 + 0.04 * size)
    critical = ("a", Urgency(rank=0, deadline=NOW + 60, due=NOW + 0.2))
    lows = [("b", Urgency(rank=3, deadline=NOW + 60)) for _ in range(20)]
    plan = plan_batch([*lows, critical], now=NOW, max_size=32, times=times)
    assert plan.batch == [20, *range(20)]  # the critical group first, then a full group of the other model


def test_images_that_cannot_meet_their_deadline_are_expired_before_a_forward_pass():
    times = linear_times(fixed=0.01, per_image=0.04)
    pending = [
        ("m", Urgency(rank=3, deadline=NOW - 1)),  # already past
        ("m", Urgency(rank=3, deadline=NOW + 0.02)),  # a batch of one takes 0.05 s
        ("m", Urgency(rank=3, deadline=NOW + 60)),
    ]
    for _ in range(40):
        pending.append(("m", Urgency(rank=3, deadline=NOW - 5)))
    plan = plan_batch(pending, now=NOW, max_size=32, times=times)
    assert plan.batch == [2]
    assert sorted(plan.expired) == [0, 1, *range(3, 43)]  # past ones anywhere in the list go too


def test_the_batcher_runs_a_critical_item_before_the_low_ones_waiting_and_expires_the_late():
    calls: list[list[str]] = []
    gate = threading.Event()

    def run(key, items):
        calls.append(list(items))
        if items == ["first"]:
            gate.wait(5)  # the batch in the model while the others arrive
        time.sleep(0.01)
        return [f"{item}!" for item in items]

    batcher = Batcher(run, max_size=4, max_wait_seconds=0.0)
    first = batcher.submit("m", "first", Urgency(rank=3, deadline=math.inf))
    time.sleep(0.2)
    lows = [batcher.submit("m", f"low-{n}", Urgency(rank=3, deadline=math.inf)) for n in range(6)]
    late = batcher.submit("m", "late", Urgency(rank=3, deadline=time.time() - 1))
    critical = batcher.submit("m", "critical", Urgency(rank=0, deadline=time.time() + 60))
    gate.set()
    assert critical.result(5).value == "critical!"
    with pytest.raises(Expired):
        late.result(5)
    assert [future.result(5).value for future in lows] == [f"low-{n}!" for n in range(6)]
    assert first.result(5).value == "first!"
    assert calls[0] == ["first"]
    assert calls[1] == ["critical", "low-0", "low-1", "low-2"]  # the critical one leads the next batch
    assert calls[2] == ["low-3", "low-4", "low-5"]
    batcher.close()
