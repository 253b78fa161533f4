"""The visible horizon read inside a transaction that already has an id (a row lock, a write):
its own id, or a concurrent one, may be at or above the snapshot's xmax."""

import pytest
from django.db import transaction

from inspection import feed
from inspection.constants import ErrorCode, Status
from inspection.lifecycle.finish import inspections_finish
from inspection.models import Inspection
from lines.models import ProductionLine
from tests.factories import make_line
from tests.inspection.test_worker import accept
from tests.postgres import transaction_in_another_database


@pytest.mark.parametrize(
    ("short_id", "next_id", "full"),
    [
        (100, 2**32 + 200, 2**32 + 100),  # below, same epoch
        (300, 2**32 + 200, 2**32 + 300),  # running, at or above the snapshot's xmax
        (2**32 - 5, 2**32 + 10, 2**32 - 5),  # below, across the wrap
        (3, 2**32 - 2, 2**32 + 3),  # above, across the wrap
    ],
)
def test_a_short_id_widens_to_the_closest_full_id(short_id, next_id, full):
    assert feed._widened(short_id, next_id) == full


@pytest.mark.django_db(transaction=True)
def test_a_transaction_holding_a_row_lock_still_sees_what_committed_before_it():
    line = make_line()
    row = accept(line)
    inspections_finish(
        Inspection.objects.filter(id=row.id), status=Status.FAILED, error_code=ErrorCode.IMAGE_DECODE_FAILED
    )
    position = Inspection.objects.get(id=row.id).feed_position
    # A transaction of another database on the server takes an id and stays open: the latest
    # completed id stays below it, and so does every snapshot's xmax.
    with transaction_in_another_database(), transaction.atomic():
        ProductionLine.objects.select_for_update().get(id=line.id)  # an id above the other's
        assert position is not None and feed.visible_horizon() > position
