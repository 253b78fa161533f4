"""Promoting a model version while a real worker is busy: the new version serves from the
next batch on, and no inspection fails or goes missing during the swap."""

import io
import time

import pytest

from inspection.constants import Status, Verdict
from inspection.inference.registry import model_promote
from inspection.ingest.services import Upload, inspection_create
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_model, make_station

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

UPLOADS = 160


def test_a_promotion_under_load_loses_and_fails_nothing(celery_worker_process):
    old = make_model(always="good")
    line = make_line(code="swap-line", model=old)
    new = make_model(always="scratch")
    new.line = line
    new.save()
    station, _ = make_station(line)
    image = jpeg_bytes(size=(640, 512))

    def wait_for_drain(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while Inspection.objects.filter(line=line, status__in=[Status.QUEUED, Status.RUNNING]).exists():
            assert time.monotonic() < deadline, "the worker did not drain the line"
            time.sleep(0.2)

    # The first upload, served alone: the worker has imported torch and loaded the old version.
    warm_up = Upload(io.BytesIO(image), len(image), "SWAP-WARM-UP", None)
    accepted = [inspection_create(station=station, upload=warm_up).inspection.id]
    wait_for_drain(90)

    promoted_after = None
    for n in range(UPLOADS):
        if n == UPLOADS // 2:
            model_promote(model=new, by="test")
            promoted_after = len(accepted)
        upload = Upload(io.BytesIO(image), len(image), f"SWAP-{n}", None)
        accepted.append(inspection_create(station=station, upload=upload).inspection.id)
        time.sleep(0.01)  # a line's steady stream, not one burst

    wait_for_drain(180)

    rows = {row.id: row for row in Inspection.objects.filter(line=line)}
    assert set(rows) == set(accepted)
    assert {row.status for row in rows.values()} == {Status.DONE}
    assert all(row.attempts == 1 for row in rows.values())
    # Each verdict comes from the version recorded on it, and both versions served.
    by_model = {old.id: Verdict.PASS, new.id: Verdict.FAIL}
    assert all(row.verdict == by_model.get(row.model_id or 0) for row in rows.values())
    served = {row.model_id for row in rows.values()}
    assert served == {old.id, new.id}
    # Nothing accepted after the promotion was judged by the retired version.
    assert all(rows[inspection_id].model_id == new.id for inspection_id in accepted[promoted_after:])
    # The worker batched: some forward passes took more than one inspection.
    assert max(row.timings["batch_size"] for row in rows.values()) > 1
