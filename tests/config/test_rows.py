"""config.rows.insert and insert_many write the same rows as Model.objects.create."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from config import rows
from inspection.models import Inspection
from tests.factories import make_line, make_station

pytestmark = pytest.mark.django_db


def new_inspection(station, **fields) -> Inspection:
    now = timezone.now()
    values = dict(
        id=uuid.uuid4(),
        line=station.line,
        station=station,
        serial="SN-1",
        image_key="images/x.jpg",
        image_sha256="a" * 64,
        image_bytes=10,
        image_format="JPEG",
        width=4,
        height=3,
        captured_at=None,
        received_at=now,
        queued_at=now,
        deadline_at=now + timedelta(seconds=30),
        idempotency_key="",
    )
    return Inspection(**{**values, **fields})


def stored(inspection_id) -> dict:
    row = dict(Inspection.objects.filter(id=inspection_id).values().get())
    assert row.pop("id") == inspection_id
    return row


def test_insert_stores_what_create_stores():
    station, _ = make_station(make_line(code="rows"))
    by_orm = new_inspection(station, serial="SN-A", timings={"queued_ms": 1.5}, idempotency_key="k-1")
    ours = new_inspection(station, serial="SN-A", timings={"queued_ms": 1.5}, idempotency_key="k-2")
    for field in ("received_at", "queued_at", "deadline_at"):
        setattr(ours, field, getattr(by_orm, field))
    Inspection.objects.create(**{f.attname: getattr(by_orm, f.attname) for f in Inspection._meta.concrete_fields})
    rows.insert(ours)

    expected, got = stored(by_orm.id), stored(ours.id)
    assert expected.pop("idempotency_key") == "k-1" and got.pop("idempotency_key") == "k-2"
    assert got == expected
    assert got["status"] == "queued" and got["attempts"] == 0 and got["timings"] == {"queued_ms": 1.5}
    assert not ours._state.adding


def test_insert_raises_on_a_clash_and_writes_nothing():
    station, _ = make_station(make_line(code="rows-clash"))
    first = new_inspection(station, idempotency_key="same")
    rows.insert(first)
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(new_inspection(station, idempotency_key="same"))
    assert Inspection.objects.filter(station=station).count() == 1


def test_insert_needs_a_primary_key():
    station, _ = make_station(make_line(code="rows-pk"))
    with pytest.raises(ValueError):
        rows.insert(new_inspection(station, id=None))


def test_insert_many_stores_each_row_as_insert_does():
    station, _ = make_station(make_line(code="rows-many"))
    singles = [new_inspection(station, serial=f"ONE-{n}", image_bytes=n) for n in range(3)]
    group = [new_inspection(station, serial=f"ONE-{n}", image_bytes=n) for n in range(3)]
    for single, member in zip(singles, group, strict=True):
        for field in ("received_at", "queued_at", "deadline_at"):
            setattr(member, field, getattr(single, field))
        rows.insert(single)
    rows.insert_many(group)
    assert [stored(member.id) for member in group] == [stored(single.id) for single in singles]
    assert not any(member._state.adding for member in group)


def test_insert_many_is_all_or_nothing():
    station, _ = make_station(make_line(code="rows-many-clash"))
    rows.insert(new_inspection(station, idempotency_key="taken"))
    group = [new_inspection(station), new_inspection(station, idempotency_key="taken"), new_inspection(station)]
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert_many(group)
    assert Inspection.objects.filter(station=station).count() == 1
