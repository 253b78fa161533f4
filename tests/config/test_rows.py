"""inspection.rows: insert and insert_many write the same rows as Model.objects.create; update_many
writes each row's own values, on PostgreSQL and on the demo's SQLite."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from inspection import rows
from inspection.models import Inspection
from lines.models import ProductionLine, Station
from tests.factories import make_line, make_model, make_station

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


@pytest.fixture
def sqlite_alias(tmp_path, django_db_blocker):
    """A migrated SQLite database beside the test database: the demo's engine."""
    alias = "rows-sqlite"
    # A connection alias added at run time; settings.DATABASES holds PostgreSQL only.
    connections.settings[alias] = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "rows.sqlite3"),
        **{key: "" for key in ("HOST", "PORT", "USER", "PASSWORD")},
        "OPTIONS": {},
    }
    with django_db_blocker.unblock():
        call_command("migrate", database=alias, verbosity=0)
        try:
            yield alias
        finally:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


def _rows_to_update(using: str) -> list[Inspection]:
    line = ProductionLine.objects.using(using).create(code=f"rows-up-{using}", name="Rows")
    station = Station.objects.using(using).create(line=line, code="cam", key_prefix="p", key_hash=using)
    model = make_model() if using == "default" else None
    inspections = [new_inspection(station) for _ in range(3)]
    rows.insert_many(inspections, using)
    finished = timezone.now()
    # Each row its own values, NULLs included, of every kind the worker writes.
    inspections[0].status, inspections[0].verdict, inspections[0].timings = "done", "fail", {"model_ms": 2.5}
    inspections[0].model, inspections[0].finished_at = model, finished
    inspections[1].status, inspections[1].verdict, inspections[1].timings = "done", "pass", {"batch_size": 16}
    inspections[1].model, inspections[1].finished_at = None, finished - timedelta(seconds=1)
    inspections[2].status = "failed"
    return inspections


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_update_many_writes_each_rows_own_values(engine, request):
    using = "default" if engine == "postgresql" else request.getfixturevalue("sqlite_alias")
    inspections = _rows_to_update(using)
    untouched = Inspection.objects.using(using).filter(id=inspections[2].id).values("serial", "received_at").get()
    fields = ["status", "verdict", "model", "timings", "finished_at"]

    rows.update_many(inspections, fields, using)

    for inspection in inspections:
        row = Inspection.objects.using(using).get(id=inspection.id)
        assert [getattr(row, field) for field in fields] == [getattr(inspection, field) for field in fields]
    assert Inspection.objects.using(using).filter(id=inspections[2].id).values("serial", "received_at").get() == (
        untouched
    )


def test_update_many_skips_rows_that_do_not_exist():
    station, _ = make_station(make_line(code="rows-up-missing"))
    present, absent = new_inspection(station), new_inspection(station)
    rows.insert(present)
    present.status, absent.status = "done", "done"
    rows.update_many([present, absent], ["status"])
    assert Inspection.objects.get(id=present.id).status == "done"
    assert not Inspection.objects.filter(id=absent.id).exists()


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_update_many_writes_a_column_that_is_null_in_every_row(engine, request):
    using = "default" if engine == "postgresql" else request.getfixturevalue("sqlite_alias")
    inspections = _rows_to_update(using)[1:]  # neither has a model
    rows.update_many(inspections, ["model", "finished_at", "status"], using)
    stored_rows = Inspection.objects.using(using).filter(id__in=[i.id for i in inspections])
    assert sorted(stored_rows.values_list("status", flat=True)) == ["done", "failed"]
    assert not stored_rows.filter(model__isnull=False).exists()
