"""Recording a round of results on PostgreSQL: the one-statement write records exactly what the
locked write (the demo's SQLite path) records, stores what was found, defects in the order the
API shows them, and a result round and a claim round over the same rows take turns."""

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from inspection.constants import Status, Verdict
from inspection.inference.verdicts import FoundDefect, Judgement
from inspection.lifecycle.claims import inspections_claim
from inspection.lifecycle.results import (
    Result,
    _finished,
    _recorded_in_one_statement,
    _recorded_under_lock,
    inspections_record_results,
)
from inspection.models import Defect, Inspection
from tests.factories import make_line, make_model, make_station
from tests.inspection.test_claims import accept
from tests.threads import closing_connections

SCRATCHES = [
    FoundDefect("spot", 0.55, [1, 2, 3, 4], 4),
    FoundDefect("scratch", 0.97, [10, 20, 110, 40], 2000),
    FoundDefect("crack", 0.8, None, None),
]


@pytest.mark.django_db
@pytest.mark.parametrize("record", [_recorded_in_one_statement, _recorded_under_lock], ids=["one-statement", "locked"])
def test_a_round_records_the_owned_results_and_only_theirs(record):
    assert connection.vendor == "postgresql"
    model = make_model(always="scratch")
    station, _ = make_station(make_line(model=model))
    owned, clean, stolen, finished, queued = (accept(station, f"SN-{n}") for n in range(5))
    claims = inspections_claim(inspection_ids=[owned.id, clean.id, stolen.id, finished.id])
    Inspection.objects.filter(id=stolen.id).update(attempts=F("attempts") + 1)  # claimed again elsewhere
    Inspection.objects.filter(id=finished.id).update(status=Status.DONE)  # recorded by another round
    finished_at = timezone.now()

    def result(inspection: Inspection, judgement: Judgement) -> Result:
        claim = claims[inspection.id]
        return Result(claim.inspection, claim.attempt, model, judgement, {"model_ms": 2.5, "batch_size": 32})

    failed = Judgement(Verdict.FAIL, SCRATCHES)
    results = [
        result(owned, failed),
        result(clean, Judgement(Verdict.PASS, [])),
        result(stolen, failed),
        result(finished, failed),
        Result(queued, 1, model, failed, {}),  # never claimed
    ]
    rows = {(r.inspection.id, r.attempt): _finished(r, finished_at) for r in results}

    recorded = record(rows)

    assert recorded == {(owned.id, 1), (clean.id, 1)}
    for inspection, verdict in ((owned, Verdict.FAIL), (clean, Verdict.PASS)):
        stored = Inspection.objects.get(id=inspection.id)
        assert (stored.status, stored.verdict, stored.model_id, stored.finished_at, stored.attempts) == (
            Status.DONE,
            verdict,
            model.id,
            finished_at,
            1,
        )
        assert stored.timings == {"model_ms": 2.5, "batch_size": 32}
    # Most confident first, in id order too, and boxes and areas as found (none for a class).
    stored_defects = list(Defect.objects.filter(inspection_id=owned.id).order_by("id"))
    assert [(d.label, d.confidence, d.box, d.area) for d in stored_defects] == [
        ("scratch", 0.97, [10, 20, 110, 40], 2000),
        ("crack", 0.8, None, None),
        ("spot", 0.55, [1, 2, 3, 4], 4),
    ]
    assert not Defect.objects.exclude(inspection_id=owned.id).exists()
    untouched = {row.id: (row.status, row.verdict) for row in Inspection.objects.filter(id__in=[stolen.id, queued.id])}
    assert untouched == {stolen.id: (Status.RUNNING, ""), queued.id: (Status.QUEUED, "")}
    assert Inspection.objects.get(id=finished.id).verdict == ""


@pytest.mark.django_db
def test_a_round_answers_for_each_result_and_writes_a_repeated_one_once(django_capture_on_commit_callbacks):
    model = make_model(always="scratch")
    station, _ = make_station(make_line(model=model))
    first, second = accept(station, "SN-1"), accept(station, "SN-2")
    claims = inspections_claim(inspection_ids=[first.id, second.id])

    def result(inspection: Inspection, judgement: Judgement) -> Result:
        claim = claims[inspection.id]
        return Result(claim.inspection, claim.attempt, model, judgement, {})

    failed, passed = Judgement(Verdict.FAIL, SCRATCHES[:1]), Judgement(Verdict.PASS, [])
    with django_capture_on_commit_callbacks(execute=True):
        answers = inspections_record_results([result(first, failed), result(second, passed), result(first, passed)])
    assert answers == [True, True, False]
    assert Inspection.objects.get(id=first.id).verdict == Verdict.FAIL
    assert Defect.objects.filter(inspection_id=first.id).count() == 1
    assert inspections_record_results([]) == []


def sessions_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class InThread(threading.Thread):
    """A call in its own thread, on its own database connection; its answer or its error."""

    def __init__(self, call):
        super().__init__(daemon=True)
        self.call = call
        self.answer: Any = None
        self.error: BaseException | None = None

    @closing_connections
    def run(self) -> None:
        try:
            self.answer = self.call()
        except BaseException as exc:  # reported to the test
            self.error = exc


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["record", "claim"])
def test_a_result_round_and_a_claim_round_over_the_same_rows_take_turns(first, settings):
    """A worker records results for inspections whose lease ran out while another worker
    claims them again. A third session holds the middle row, so the first round locks the
    rows before it and waits; the second round then waits for the first. Once the middle row
    is free, the first round takes every row and the second none: no deadlock, no error, and
    never a result recorded for a row claimed again, nor a claim of a recorded row."""
    model = make_model(always="scratch")
    station, _ = make_station(make_line(model=model))
    ids = sorted(accept(station, f"SN-{n}").id for n in range(40))
    claims = inspections_claim(inspection_ids=ids)
    lapsed = timezone.now() - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS + 1)
    Inspection.objects.filter(id__in=ids).update(started_at=lapsed)
    failed = Judgement(Verdict.FAIL, SCRATCHES)
    results = [Result(claims[i].inspection, claims[i].attempt, model, failed, {}) for i in ids]
    rounds = {
        "record": InThread(lambda: inspections_record_results(results[::-1])),
        "claim": InThread(lambda: inspections_claim(inspection_ids=ids[::-1])),
    }
    held, release = threading.Event(), threading.Event()

    def hold_the_middle_row() -> None:
        with transaction.atomic():
            list(Inspection.objects.select_for_update().filter(id=ids[len(ids) // 2]))
            held.set()
            release.wait(10)

    holder = InThread(hold_the_middle_row)
    holder.start()
    held.wait(10)
    second = "claim" if first == "record" else "record"
    rounds[first].start()
    wait_until(lambda: sessions_waiting_for_a_lock() == 1)
    rounds[second].start()
    wait_until(lambda: sessions_waiting_for_a_lock() == 2)
    release.set()
    for thread in (holder, *rounds.values()):
        thread.join(30)

    assert [thread.error for thread in (holder, *rounds.values())] == [None, None, None]
    stored = set(Inspection.objects.filter(id__in=ids).values_list("status", "attempts"))
    defects = Defect.objects.filter(inspection_id__in=ids).count()
    if first == "record":
        assert rounds["record"].answer == [True] * len(ids) and rounds["claim"].answer == {}
        assert (stored, defects) == ({(Status.DONE, 1)}, 3 * len(ids))
    else:
        assert rounds["record"].answer == [False] * len(ids) and set(rounds["claim"].answer) == set(ids)
        assert (stored, defects) == ({(Status.RUNNING, 2)}, 0)


def test_an_unknown_inspection_is_not_recorded(db):
    model = make_model(always="scratch")
    row = Inspection(id=uuid.uuid4(), attempts=1)
    result = Result(row, 1, model, Judgement(Verdict.PASS, []), {})
    assert _recorded_in_one_statement({(row.id, 1): _finished(result, timezone.now())}) == set()
