"""The sweeper beside a worker's claim round under a long flood: the rows it checks are locked
in id order and a row being claimed is skipped, so the two never deadlock and the sweep never
waits on a claim."""

import threading

import pytest
from django.db import transaction

from inspection.lifecycle.sweeper import inspections_requeue_stale
from inspection.models import Inspection
from tests.factories import make_line
from tests.inspection.test_sweeper import _stale
from tests.inspection.test_worker import accept
from tests.threads import closing_connections

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_row_locked_by_a_claim_is_skipped_and_the_sweep_does_not_wait(redis_client):
    line = make_line(priority="low", deadline_seconds=600)
    rows = [accept(line) for _ in range(3)]
    redis_client.delete("inspect.low")  # their messages lost: each is stale and sent again
    _stale(*rows)
    before = dict(Inspection.objects.filter(id__in=[row.id for row in rows]).values_list("id", "queued_at"))
    locked, release = threading.Event(), threading.Event()

    @closing_connections
    def claim_round_holding(row_id) -> None:
        with transaction.atomic():
            list(Inspection.objects.select_for_update().filter(id=row_id))
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=claim_round_holding, args=(rows[1].id,))
    holder.start()
    try:
        assert locked.wait(10)
        swept = threading.Thread(target=closing_connections(inspections_requeue_stale))
        swept.start()
        swept.join(10)
        assert not swept.is_alive(), "the sweep waited on the claim's lock"
    finally:
        release.set()
        holder.join(10)
    after = dict(Inspection.objects.filter(id__in=[row.id for row in rows]).values_list("id", "queued_at"))
    assert after[rows[1].id] == before[rows[1].id]  # being claimed: left alone
    assert after[rows[0].id] > before[rows[0].id] and after[rows[2].id] > before[rows[2].id]
    redis_client.delete("inspect.low")  # no messages of rows gone with the test for later workers
