import threading
import time

import pytest

from inspection.ingest.group_commit import GroupCommit


class Recorder:
    """A write_group that records its groups; the first group waits until released, so that
    the items submitted meanwhile gather into the next group."""

    def __init__(self, outcome=lambda item: None):
        self.groups: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.outcome = outcome

    def __call__(self, items: list[int]) -> list[BaseException | None]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        return [self.outcome(item) for item in items]


def test_items_submitted_while_a_group_commits_form_the_next_group():
    recorder = Recorder()
    writer = GroupCommit(recorder, max_size=4)
    first = writer.submit(0)
    assert recorder.first_started.wait(10)
    later = [writer.submit(n) for n in range(1, 7)]
    recorder.release.set()
    for future in [first, *later]:
        assert future.result(timeout=10) is None
    assert recorder.groups == [[0], [1, 2, 3, 4], [5, 6]]


def test_each_caller_gets_its_own_outcome():
    refused = ValueError("odd")
    recorder = Recorder(outcome=lambda item: refused if item % 2 else None)
    recorder.release.set()
    writer = GroupCommit(recorder, max_size=8)
    futures = {n: writer.submit(n) for n in range(4)}
    assert futures[0].result(timeout=10) is None and futures[2].result(timeout=10) is None
    for n in (1, 3):
        with pytest.raises(ValueError):
            futures[n].result(timeout=10)


def test_an_error_of_the_whole_write_reaches_every_caller_of_its_group_and_the_writer_goes_on():
    calls = []

    def write(items):
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return [None] * len(items)

    writer = GroupCommit(write, max_size=8)
    with pytest.raises(ConnectionError):
        writer.submit(1).result(timeout=10)
    assert writer.submit(2).result(timeout=10) is None


def test_a_wrong_number_of_outcomes_is_an_error_not_a_silent_success():
    writer: GroupCommit[int] = GroupCommit(lambda items: [], max_size=8)
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        writer.submit(1).result(timeout=10)


def test_idle_runs_on_the_writer_thread_after_a_quiet_spell():
    idle_threads = []
    writer: GroupCommit[int] = GroupCommit(
        lambda items: [None] * len(items),
        max_size=8,
        idle=lambda: idle_threads.append(threading.current_thread().name),
        idle_seconds=0.05,
        name="writer-under-test",
    )
    writer.submit(1).result(timeout=10)
    deadline = time.monotonic() + 5
    while not idle_threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert idle_threads[:1] == ["writer-under-test"]


def test_max_size_must_be_positive():
    with pytest.raises(ValueError):
        GroupCommit(lambda items: [], max_size=0)


def test_a_failing_idle_step_does_not_stop_the_writer():
    failures: list[int] = []

    def idle():
        if len(failures) < 3:
            failures.append(1)
            raise OSError("cannot close")

    writer: GroupCommit[int] = GroupCommit(lambda items: [None] * len(items), max_size=8, idle=idle, idle_seconds=0.01)
    writer.submit(1).result(timeout=10)
    time.sleep(0.1)  # several idle steps fail meanwhile
    assert len(failures) == 3
    assert writer.submit(2).result(timeout=10) is None
