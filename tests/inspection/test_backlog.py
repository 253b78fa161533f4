"""The per-process backlog answer (inspection/ingest/backlog.py): the exact check against real rows,
one check at a time however many uploads find the answer stale, a stale answer serving while
the door refreshes it in the background, and checks spaced by their cost."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import cast

import pytest

from inspection.ingest import backlog, door
from inspection.ingest.backlog import BacklogGauge, backlog_reaches_limit
from inspection.models import Inspection
from inspection.per_process import PerProcess
from lines.models import ProductionLine
from tests.factories import make_line, make_station, stored_inspection

LINE = cast(ProductionLine, SimpleNamespace(id=7, code="gauge-line"))


class SlowCheck:
    """A backlog check that answers `full` once released, counting how often it is asked."""

    def __init__(self, full: bool):
        self.full = full
        self.calls = 0
        self.asked = threading.Event()
        self.release = threading.Event()

    def __call__(self, line: ProductionLine) -> bool:
        self.calls += 1
        self.asked.set()
        assert self.release.wait(10)
        return self.full


@pytest.mark.django_db
def test_the_exact_check_counts_queued_and_running_rows_against_the_limit():
    line = make_line(queue_limit=3)
    station, _ = make_station(line)
    rows = [stored_inspection(station, f"S{n}", idempotency_key="", seed=n) for n in range(3)]
    Inspection.objects.bulk_create(rows[:2])
    assert not backlog_reaches_limit(line)
    Inspection.objects.bulk_create(rows[2:])
    assert backlog_reaches_limit(line)
    Inspection.objects.filter(id=rows[0].id).update(status="running")
    assert backlog_reaches_limit(line)  # running still waits for its result
    Inspection.objects.filter(id=rows[1].id).update(status="done")
    assert not backlog_reaches_limit(line)


def test_callers_before_the_first_answer_wait_for_one_check():
    check = SlowCheck(full=True)
    gauge = BacklogGauge(interval=60, max_share=1, check=check)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [pool.submit(gauge.full, LINE) for _ in range(8)]
        assert check.asked.wait(5)
        time.sleep(0.05)  # the other seven are waiting now
        assert not any(answer.done() for answer in answers)
        check.release.set()
        assert [answer.result(5) for answer in answers] == [True] * 8
    assert check.calls == 1


def test_a_stale_answer_serves_other_callers_while_one_refreshes_it():
    check = SlowCheck(full=False)
    check.release.set()
    gauge = BacklogGauge(interval=0, max_share=1, check=check)
    assert gauge.full(LINE) is False  # the first answer, stale at once (interval 0)

    check.full, check.release = True, threading.Event()
    check.asked.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        refreshing = pool.submit(gauge.full, LINE)
        assert check.asked.wait(5)
        # While that check runs, every other caller gets the last answer without asking.
        assert [gauge.full(LINE) for _ in range(50)] == [False] * 50
        check.release.set()
        assert refreshing.result(5) is True
    assert check.calls == 2
    assert gauge.last(LINE).full is True  # type: ignore[union-attr]


def test_a_failed_check_keeps_the_last_answer_and_the_next_caller_asks_again():
    answers: list[bool | Exception] = [True, RuntimeError("database gone"), False]

    def check(line: ProductionLine) -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    gauge = BacklogGauge(interval=0, max_share=1, check=check)
    assert gauge.full(LINE) is True
    with pytest.raises(RuntimeError):
        gauge.full(LINE)
    assert gauge.last(LINE).full is True  # type: ignore[union-attr]
    assert gauge.full(LINE) is False


def test_a_slow_check_spaces_the_next_one_by_its_share_of_the_time():
    def check(line: ProductionLine) -> bool:
        time.sleep(0.02)
        return False

    gauge = BacklogGauge(interval=0, max_share=0.01, check=check)  # 20 ms at 1 % -> 2 s apart
    gauge.full(LINE)
    due_in = gauge.last(LINE).due_at - time.monotonic()  # type: ignore[union-attr]
    assert 1.5 < due_in <= 2.5
    assert not gauge.last(LINE).stale()  # type: ignore[union-attr]


def test_the_door_answers_from_a_stale_answer_while_it_refreshes_in_the_background(monkeypatch):
    check = SlowCheck(full=False)
    check.release.set()
    gauge = BacklogGauge(interval=0, max_share=1, check=check)
    monkeypatch.setattr(backlog, "gauge", PerProcess(lambda: gauge))

    async def scenario() -> list[bool]:
        first = await door._backlog_full(LINE)  # no answer yet: this upload waits for the check
        check.full, check.release = True, threading.Event()
        # Stale now: these uploads get the last answer at once, and one refresh starts.
        served = [await door._backlog_full(LINE) for _ in range(20)]
        refresh = door._backlog_refreshes[LINE.id]
        gauge.interval = 60  # the refreshed answer stays fresh: no further refresh
        check.release.set()
        await refresh
        return [first, *served, await door._backlog_full(LINE)]

    answers = asyncio.run(scenario())
    assert answers == [False] * 21 + [True]
    assert check.calls == 2
    assert door._backlog_refreshes == {}
