"""Claims on PostgreSQL: the one-statement claim takes exactly what the two-statement claim (the
demo's SQLite path) takes, returns each row as stored, and racing rounds take each row once."""

import io
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from inspection.constants import Status
from inspection.ingest.services import Upload, inspection_create
from inspection.lifecycle.claims import _claimed_in_one_statement, _claimed_under_lock, inspections_claim
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_model, make_station
from tests.threads import closing_connections

IMAGE = jpeg_bytes()


def accept(station, serial: str = "SN-1") -> Inspection:
    upload = Upload(io.BytesIO(IMAGE), len(IMAGE), serial, None)
    return inspection_create(station=station, upload=upload).inspection


def one_of_each(station) -> tuple[list[Inspection], set[uuid.UUID]]:
    """Inspections in every state a claim meets, and the ids a claim must take."""
    now = timezone.now()
    fresh, done, late, spent, owned, abandoned = (accept(station) for _ in range(6))
    Inspection.objects.filter(id=fresh.id).update(timings={"queued_ms": 1.5})
    Inspection.objects.filter(id=done.id).update(status=Status.DONE)
    Inspection.objects.filter(id=late.id).update(deadline_at=now - timedelta(seconds=1))
    Inspection.objects.filter(id=spent.id).update(attempts=F("attempt_limit"))
    Inspection.objects.filter(id=owned.id).update(status=Status.RUNNING, started_at=now, attempts=1)
    Inspection.objects.filter(id=abandoned.id).update(
        status=Status.RUNNING, started_at=now - timedelta(hours=1), attempts=1
    )
    return [fresh, done, late, spent, owned, abandoned], {fresh.id, abandoned.id}


@pytest.mark.django_db
@pytest.mark.parametrize("claim", [_claimed_in_one_statement, _claimed_under_lock], ids=["one-statement", "locked"])
def test_a_claim_takes_the_claimable_rows_and_returns_them_as_stored(claim, settings):
    assert connection.vendor == "postgresql"
    station, _ = make_station(make_line(model=make_model(always="good")))
    inspections, claimable = one_of_each(station)
    now = timezone.now()

    rows = claim([inspection.id for inspection in inspections] + [uuid.uuid4()], now)

    assert {row.id for row in rows} == claimable
    for row in rows:
        stored = Inspection.objects.get(id=row.id)
        assert (stored.status, stored.started_at) == (Status.RUNNING, now)
        for field in Inspection._meta.concrete_fields:
            assert getattr(row, field.attname) == getattr(stored, field.attname), field.name
        assert not row._state.adding  # a saved row, as a query returns it
    fresh = next(row for row in rows if row.attempts == 1 and row.timings)
    assert fresh.timings == {"queued_ms": 1.5}
    assert {row.attempts for row in rows} == {1, 2}  # the abandoned one's second claim


def claim_at_once(orders: list[list[uuid.UUID]]) -> tuple[list[set[uuid.UUID]], list[BaseException]]:
    """One claim round per order, each in its own thread (its own connection), started together."""
    claimed: list[set[uuid.UUID]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(orders))

    @closing_connections
    def worker(order: list[uuid.UUID]) -> None:
        try:
            start.wait()
            claimed.append(set(inspections_claim(inspection_ids=order)))
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return claimed, errors


@pytest.mark.django_db(transaction=True)
def test_racing_claim_rounds_take_each_inspection_once():
    """Two workers' rounds claim the same inspections at once, in opposite orders: each
    inspection is claimed by exactly one of them, and neither deadlocks nor fails."""
    station, _ = make_station(make_line(model=make_model(always="good")))
    for attempt in range(5):
        ids = [accept(station, f"SN-{attempt}-{n}").id for n in range(40)]
        claimed, errors = claim_at_once([ids, ids[::-1]])
        assert errors == []
        first, second = claimed
        assert first.isdisjoint(second) and first | second == set(ids)
        assert set(Inspection.objects.filter(id__in=ids).values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_the_one_statement_claim_follows_the_claim_lease_of_the_moment(settings):
    """The statement is compiled once from Inspection.objects.claimable(); the lease's cut-off
    is filled in per round, so a changed KENSA_CLAIM_LEASE_SECONDS is obeyed."""
    station, _ = make_station(make_line(model=make_model(always="good")))
    held = accept(station)
    Inspection.objects.filter(id=held.id).update(
        status=Status.RUNNING, started_at=timezone.now() - timedelta(seconds=30), attempts=1
    )
    settings.KENSA_CLAIM_LEASE_SECONDS = 60
    assert _claimed_in_one_statement([held.id], timezone.now()) == []
    settings.KENSA_CLAIM_LEASE_SECONDS = 10
    assert [row.id for row in _claimed_in_one_statement([held.id], timezone.now())] == [held.id]
