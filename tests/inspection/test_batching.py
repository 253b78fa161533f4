"""The batcher: flushes when full and when its oldest item has waited long enough, groups by
key, and hands each waiting thread its own answer or its group's error."""

import threading
import time

import pytest

from inspection.inference.admission import PriorityAllowance
from inspection.inference.batching import Batcher, Combiner


class Recorder:
    """A run_group that remembers each call and answers item * 10."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[tuple[object, list[int]]] = []
        self.delay = delay

    def __call__(self, key, items):
        self.calls.append((key, list(items)))
        time.sleep(self.delay)
        return [item * 10 for item in items]


def test_a_full_batch_runs_at_once_without_waiting_out_the_time_limit():
    run = Recorder()
    batcher = Batcher(run, max_size=4, max_wait_seconds=30)
    started = time.monotonic()
    futures = [batcher.submit("model-a", n) for n in range(4)]
    answers = [future.result(timeout=5) for future in futures]
    assert time.monotonic() - started < 5  # far below the 30 s wait
    assert [answer.value for answer in answers] == [0, 10, 20, 30]
    assert run.calls == [("model-a", [0, 1, 2, 3])]
    assert {answer.batch_size for answer in answers} == {4}
    batcher.close()


def test_a_partial_batch_runs_when_its_oldest_item_has_waited_the_limit():
    run = Recorder()
    batcher = Batcher(run, max_size=64, max_wait_seconds=0.2)
    started = time.monotonic()
    futures = [batcher.submit("model-a", n) for n in range(3)]
    answers = [future.result(timeout=5) for future in futures]
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2
    assert run.calls == [("model-a", [0, 1, 2])]
    assert answers[0].waited_ms >= 200


def test_more_than_a_batch_is_split_into_batches_of_the_maximum_size():
    run = Recorder(delay=0.05)
    batcher = Batcher(run, max_size=3, max_wait_seconds=0.05)
    futures = [batcher.submit("m", n) for n in range(7)]
    assert [future.result(timeout=5).value for future in futures] == [n * 10 for n in range(7)]
    sizes = [len(items) for _, items in run.calls]
    assert sum(sizes) == 7 and max(sizes) == 3


def test_items_of_different_models_go_to_separate_calls_in_one_batch():
    run = Recorder()
    batcher = Batcher(run, max_size=4, max_wait_seconds=5)
    futures = [batcher.submit(key, n) for n, key in enumerate(["old", "new", "old", "new"])]
    assert [future.result(timeout=5).value for future in futures] == [0, 10, 20, 30]
    assert sorted(run.calls) == [("new", [1, 3]), ("old", [0, 2])]
    assert all(future.result().batch_size == 2 for future in futures)


def test_an_error_reaches_the_threads_of_its_group_only():
    def run(key, items):
        if key == "broken":
            raise RuntimeError("forward pass failed")
        return items

    batcher = Batcher(run, max_size=2, max_wait_seconds=5)
    good, bad = batcher.submit("fine", 1), batcher.submit("broken", 2)
    assert good.result(timeout=5).value == 1
    with pytest.raises(RuntimeError, match="forward pass failed"):
        bad.result(timeout=5)
    # The batcher's thread survives a failed group.
    assert batcher.submit("fine", 3).result(timeout=30).value == 3  # a lone item waits out the 5 s


def test_threads_submitting_together_share_forward_passes():
    run = Recorder(delay=0.02)
    batcher = Batcher(run, max_size=8, max_wait_seconds=0.05)
    answers: list[int] = []
    lock = threading.Lock()

    def worker(n):
        value = batcher.submit("m", n).result(timeout=10).value
        with lock:
            answers.append(value)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [n * 10 for n in range(32)]
    assert len(run.calls) < 32 / 2  # most calls took several items


def test_close_runs_what_is_pending_and_refuses_more():
    run = Recorder()
    batcher = Batcher(run, max_size=100, max_wait_seconds=60)
    future = batcher.submit("m", 5)
    batcher.close()
    assert future.result(timeout=1).value == 50
    with pytest.raises(RuntimeError):
        batcher.submit("m", 6)


# The combiner: concurrent callers share one call, run in the thread of the first of them.


def combine_in_threads(combiner, items):
    answers: dict[int, object] = {}

    def call(item):
        try:
            answers[item] = combiner.call(item)
        except Exception as exc:
            answers[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return answers


def test_concurrent_callers_share_one_call_in_the_first_callers_thread():
    calls: list[tuple[list[int], str]] = []

    def run_all(items):
        calls.append((sorted(items), threading.current_thread().name))
        return [item * 10 for item in items]

    combiner = Combiner(run_all, max_size=4, linger_seconds=30)
    started = time.monotonic()
    answers = combine_in_threads(combiner, range(4))
    assert answers == {0: 0, 1: 10, 2: 20, 3: 30}
    assert time.monotonic() - started < 5  # full: it did not wait out the 30 s
    [(items, thread_name)] = calls
    assert items == [0, 1, 2, 3]
    assert thread_name != threading.current_thread().name and thread_name.startswith("Thread-")


def test_a_lone_caller_runs_after_the_linger_and_the_next_round_starts_afresh():
    calls: list[list[int]] = []

    def run_all(items):
        calls.append(list(items))
        return items

    combiner = Combiner(run_all, max_size=8, linger_seconds=0.05)
    started = time.monotonic()
    assert combiner.call(7) == 7
    assert 0.04 <= time.monotonic() - started < 2
    assert combiner.call(8) == 8
    assert calls == [[7], [8]]


def test_rounds_run_one_at_a_time_and_callers_meanwhile_make_the_next_round():
    calls: list[list[int]] = []
    running, overlapped = [0], []
    first_round_started, release_first_round = threading.Event(), threading.Event()

    def run_all(items):
        running[0] += 1
        overlapped.append(running[0] > 1)
        calls.append(sorted(items))
        if items == [0]:
            first_round_started.set()
            release_first_round.wait(10)
        running[0] -= 1
        return items

    combiner = Combiner(run_all, max_size=3, linger_seconds=0)
    started = time.monotonic()
    first = threading.Thread(target=combiner.call, args=(0,))
    first.start()
    assert first_round_started.wait(5)
    assert time.monotonic() - started < 2  # alone on an idle combiner: no wait
    answers: dict[int, int] = {}
    callers = [threading.Thread(target=lambda n=n: answers.update({n: combiner.call(n)})) for n in range(1, 6)]
    for caller in callers:
        caller.start()
    time.sleep(0.3)  # the five join while the first round is held
    release_first_round.set()
    for thread in [first, *callers]:
        thread.join(10)
    assert answers == {n: n for n in range(1, 6)}
    assert calls[0] == [0] and sorted(n for call in calls[1:] for n in call) == [1, 2, 3, 4, 5]
    assert all(len(call) <= 3 for call in calls) and len(calls) == 3  # 5 callers, rounds of at most 3
    assert not any(overlapped)


def test_an_error_reaches_every_caller_of_its_round_and_only_them():
    def run_all(items):
        if 13 in items:
            raise ValueError("bad round")
        return items

    combiner = Combiner(run_all, max_size=2, linger_seconds=5)
    answers = combine_in_threads(combiner, [13, 14])
    assert all(isinstance(answer, ValueError) for answer in answers.values())
    assert combine_in_threads(combiner, [1, 2]) == {1: 1, 2: 2}


def test_size_one_runs_inline_and_a_wrong_number_of_answers_is_an_error():
    assert Combiner(lambda items: [item + 1 for item in items], max_size=1).call(1) == 2
    with pytest.raises(RuntimeError):
        Combiner(lambda items: [], max_size=1).call(1)


def test_a_group_goes_into_one_round_and_one_that_would_overfill_a_round_starts_the_next():
    calls: list[list[object]] = []
    first_round_started, release_first_round = threading.Event(), threading.Event()

    def run_all(items):
        calls.append(list(items))
        if items == ["hold"]:
            first_round_started.set()
            release_first_round.wait(10)
        return [f"{item}!" for item in items]

    combiner = Combiner(run_all, max_size=4, linger_seconds=0)
    assert combiner.call_many([]) == [] and calls == []
    holder = threading.Thread(target=combiner.call, args=("hold",))
    holder.start()
    assert first_round_started.wait(5)
    answers: dict[str, list[str]] = {}
    callers = []
    # While the first round runs, groups arrive one after another and form the next rounds.
    for name, group in [("a", [1, 2, 3]), ("b", [4, 5]), ("c", [6, 7])]:
        caller = threading.Thread(
            target=lambda name=name, group=group: answers.update({name: combiner.call_many(group)})
        )
        caller.start()
        callers.append(caller)
        time.sleep(0.2)
    release_first_round.set()
    for thread in [holder, *callers]:
        thread.join(10)
    # b would have overfilled a's round (3 + 2 > 4): it closed it and started the next, which c filled.
    assert calls == [["hold"], [1, 2, 3], [4, 5, 6, 7]]
    assert answers == {"a": ["1!", "2!", "3!"], "b": ["4!", "5!"], "c": ["6!", "7!"]}


def test_an_allowance_bounds_the_units_in_use_and_serves_requests_in_order():
    allowance = PriorityAllowance(4)
    in_use, peak, order = [0], [0], []
    lock = threading.Lock()
    first_holds, release_first = threading.Event(), threading.Event()

    def take(name: str, units: int, hold: threading.Event | None = None) -> None:
        with allowance.taken(units):
            with lock:
                in_use[0] += min(units, 4)
                peak[0] = max(peak[0], in_use[0])
                order.append(name)
            if hold is not None:
                first_holds.set()
                hold.wait(10)
            time.sleep(0.01)
            with lock:
                in_use[0] -= min(units, 4)

    first = threading.Thread(target=take, args=("first", 3, release_first))
    first.start()
    assert first_holds.wait(5)
    # While 3 of 4 are held: a request for all 4 asks first, then one for 1 that would fit now.
    later = []
    for name, units in [("all", 4), ("one", 1), ("huge", 10)]:
        thread = threading.Thread(target=take, args=(name, units))
        thread.start()
        later.append(thread)
        time.sleep(0.1)
    assert order == ["first"]  # "one" fits beside "first" but waits its turn behind "all"
    release_first.set()
    for thread in [first, *later]:
        thread.join(10)
    # Each of these needs what the one before holds, so the order they ran in is the order
    # they were served in; a request past the total takes all of it.
    assert order == ["first", "all", "one", "huge"]
    assert peak[0] <= 4
