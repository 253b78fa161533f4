"""Group commit: rows handed in together by many threads are inserted in one transaction;
a row that breaks a constraint fails alone."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from inspection import group_commit
from inspection.models import Inspection
from tests.factories import make_line, make_station

pytestmark = pytest.mark.django_db(transaction=True)  # the committer thread has its own connection


@pytest.fixture(autouse=True)
def _stop_committer():
    yield
    group_commit.shutdown()  # its thread's connection would keep the test database open


def row(station, **fields) -> Inspection:
    now = timezone.now()
    values = dict(
        id=uuid.uuid4(),
        line=station.line,
        station=station,
        serial="GC",
        image_key=f"k/{uuid.uuid4()}.jpg",
        image_sha256="0" * 64,
        image_bytes=1,
        image_format="JPEG",
        width=1,
        height=1,
        received_at=now,
        queued_at=now,
        deadline_at=now + timedelta(minutes=1),
    )
    values.update(fields)
    return Inspection(**values)


def insert_all(rows: list[Inspection]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * len(rows)
    start = threading.Barrier(len(rows))

    def insert(index: int) -> None:
        start.wait()
        try:
            group_commit.insert_row(rows[index])
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=insert, args=(i,)) for i in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_rows_from_many_threads_are_all_inserted():
    station, _ = make_station(make_line())
    rows = [row(station, serial=f"GC-{n}") for n in range(40)]
    assert insert_all(rows) == [None] * 40
    assert Inspection.objects.filter(station=station).count() == 40


def test_a_row_that_breaks_a_constraint_fails_alone():
    station, _ = make_station(make_line())
    existing = row(station, idempotency_key="taken")
    existing.save(force_insert=True)
    rows = [row(station, serial=f"GC-{n}") for n in range(10)]
    rows[4] = row(station, idempotency_key="taken")  # the unique (station, key) constraint
    outcomes = insert_all(rows)
    assert isinstance(outcomes[4], IntegrityError)
    assert [outcome for i, outcome in enumerate(outcomes) if i != 4] == [None] * 9
    assert Inspection.objects.filter(station=station).count() == 1 + 9
