"""The door's group commit write (services.inspections_record_group): rows of a group commit
together and their tasks go out together, in one message; a clashing row refuses itself alone."""

import io
import json

import pytest
import redis
from django.conf import settings
from django.db import IntegrityError, connection

from config.queues import inspection_queue
from inspection.models import Inspection
from inspection.services import Upload, inspection_create, inspections_record_group
from tests.factories import jpeg_bytes, make_line, make_station, stored_inspection

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_group_commits_its_rows_and_queues_their_tasks_and_a_clash_refuses_only_itself():
    line = make_line(code="group-write")
    station, _ = make_station(line)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = inspection_queue(line.priority)
    image = jpeg_bytes()
    original = inspection_create(
        station=station, upload=Upload(io.BytesIO(image), len(image), "FIRST", None, idempotency_key="shot-1")
    ).inspection
    broker.delete(queue)
    group = [
        stored_inspection(station, "A"),
        stored_inspection(station, "RETRY", idempotency_key="shot-1"),
        stored_inspection(station, "B", seed=2),
    ]

    outcomes = inspections_record_group(group)

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    serials = set(Inspection.objects.filter(line=line).values_list("serial", flat=True))
    assert serials == {"FIRST", "A", "B"}
    assert Inspection.objects.get(station=station, idempotency_key="shot-1").id == original.id
    # The rows that were kept go out together, in one message, in the order they came.
    queued = [json.loads(message)["headers"]["argsrepr"] for message in broker.lrange(queue, 0, -1)]
    assert queued == [repr(([str(group[0].id), str(group[2].id)],))]
    broker.delete(queue)


def test_a_group_without_clashes_is_one_transaction():
    line = make_line(code="group-tx")
    station, _ = make_station(line)
    group = [stored_inspection(station, f"S-{n}", seed=n) for n in range(5)]
    assert inspections_record_group(group) == [None] * 5
    rows = Inspection.objects.filter(line=line)
    assert rows.count() == 5
    # One transaction: every row of the group carries the same transaction id (xmin).
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT xmin::text FROM inspection_inspection WHERE line_id = %s", [line.id])
        assert len(cursor.fetchall()) == 1
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(inspection_queue(line.priority))
