"""The worker's path for one inspection, run in-process against PostgreSQL and storage."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone

from inspection.constants import ErrorCode, Status, Verdict
from inspection.inference import engine
from inspection.inference.worker import Outcome
from inspection.ingest.services import Upload, inspection_create
from inspection.models import Inspection
from tests.factories import jpeg_bytes, make_line, make_model, make_station, run_inspection

pytestmark = pytest.mark.django_db


def accept(line, data: bytes | None = None) -> Inspection:
    station, _ = make_station(line, code=f"cam-{uuid.uuid4().hex[:6]}")
    data = data if data is not None else jpeg_bytes()
    return inspection_create(station=station, upload=Upload(io.BytesIO(data), len(data), "SN-9", None)).inspection


def storage_fails_for(monkeypatch, inspection: Inspection) -> None:
    """Make the worker's storage read of this inspection's image fail, as a timed-out bucket
    does; other images read normally."""
    from inspection.inference import worker

    read_image = worker.read_image

    def storage_hiccup(key: str) -> bytes:
        if key == inspection.image_key:
            raise OSError("storage timed out")
        return read_image(key)

    monkeypatch.setattr(worker, "read_image", storage_hiccup)


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    engine._cache.clear()
    yield
    engine._cache.clear()


def test_good_part_passes_with_timings_and_model(django_capture_on_commit_callbacks):
    model = make_model(always="good")
    inspection = accept(make_line(model=model))
    with django_capture_on_commit_callbacks(execute=True):
        assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert (inspection.status, inspection.verdict, inspection.model) == (Status.DONE, Verdict.PASS, model)
    assert inspection.defects.count() == 0
    assert inspection.attempts == 1
    assert inspection.started_at and inspection.finished_at
    assert inspection.finished_at >= inspection.started_at
    assert set(inspection.timings) == {
        "queued_ms",
        "fetch_ms",
        "preprocess_ms",
        "batch_wait_ms",
        "batch_size",
        "model_ms",
        "postprocess_ms",
    }


def test_defect_fails_the_part_and_is_recorded():
    inspection = accept(make_line(model=make_model(always="scratch")))
    assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.FAIL
    [defect] = inspection.defects.all()
    assert defect.label == "scratch"
    assert defect.confidence > 0.99


def test_low_confidence_goes_to_review():
    model = make_model(always="good")
    model.thresholds = {"good": 0.9999}
    model.save()
    inspection = accept(make_line(model=model))
    run_inspection(inspection.id)
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.REVIEW


def test_redelivered_message_writes_no_second_result():
    inspection = accept(make_line(model=make_model(always="spot")))
    assert run_inspection(inspection.id) == Outcome.DONE
    assert run_inspection(inspection.id) == Outcome.SKIPPED
    inspection.refresh_from_db()
    assert inspection.attempts == 1
    assert inspection.defects.count() == 1


def test_a_running_inspection_is_not_claimed_twice_within_its_lease():
    inspection = accept(make_line())
    Inspection.objects.filter(id=inspection.id).update(status=Status.RUNNING, started_at=timezone.now(), attempts=1)
    assert run_inspection(inspection.id) == Outcome.SKIPPED
    assert Inspection.objects.get(id=inspection.id).status == Status.RUNNING


def test_a_dead_workers_inspection_is_claimed_again_after_its_lease(settings):
    inspection = accept(make_line())
    stale = timezone.now() - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS + 5)
    Inspection.objects.filter(id=inspection.id).update(status=Status.RUNNING, started_at=stale, attempts=1)
    assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert (inspection.status, inspection.attempts) == (Status.DONE, 2)


def test_past_its_deadline_the_inspection_expires_without_running():
    inspection = accept(make_line(deadline_seconds=30))
    assert inspection.deadline_at == inspection.received_at + timedelta(seconds=30)
    Inspection.objects.filter(id=inspection.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert run_inspection(inspection.id) == Outcome.EXPIRED
    inspection.refresh_from_db()
    assert (inspection.status, inspection.error_code, inspection.verdict) == (
        Status.EXPIRED,
        ErrorCode.DEADLINE_EXCEEDED,
        "",
    )
    assert inspection.attempts == 0


def test_undecodable_stored_image_fails_with_a_code():
    inspection = accept(make_line())
    default_storage.delete(inspection.image_key)
    default_storage.save(inspection.image_key, io.BytesIO(b"garbage, not the image"))
    assert run_inspection(inspection.id) == Outcome.FAILED
    inspection.refresh_from_db()
    assert (inspection.status, inspection.error_code) == (Status.FAILED, ErrorCode.IMAGE_DECODE_FAILED)


def test_image_missing_from_storage_fails_with_a_code():
    inspection = accept(make_line())
    default_storage.delete(inspection.image_key)
    assert run_inspection(inspection.id) == Outcome.FAILED
    inspection.refresh_from_db()
    assert inspection.error_code == ErrorCode.IMAGE_MISSING_IN_STORAGE


def test_model_artifact_that_no_longer_matches_its_checksum_fails_the_inspection():
    model = make_model(always="good")
    inspection = accept(make_line(model=model))
    model.sha256 = "0" * 64
    model.save()
    assert run_inspection(inspection.id) == Outcome.FAILED
    inspection.refresh_from_db()
    assert inspection.error_code == ErrorCode.MODEL_CHECKSUM_MISMATCH


def test_the_line_model_is_read_at_each_inspection():
    """A line's new model applies from the next inspection, without a worker restart."""
    line = make_line(model=make_model(always="good"))
    first = accept(line)
    run_inspection(first.id)
    line.inspection_model = make_model(always="scratch")
    line.save()
    second = accept(line)
    run_inspection(second.id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.verdict, second.verdict) == (Verdict.PASS, Verdict.FAIL)
    assert second.model == line.inspection_model


def test_an_error_after_the_claim_releases_it_and_a_poison_image_fails_after_its_attempts(monkeypatch, settings):
    """Fault injection: the model crashes on this image every time."""
    inspection = accept(make_line())
    limit = inspection.attempt_limit
    assert limit == settings.KENSA_MAX_ATTEMPTS

    def crash(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(engine, "infer", crash)
    for attempt in range(1, limit + 1):
        with pytest.raises(RuntimeError):
            run_inspection(inspection.id)
        inspection.refresh_from_db()
        # Released at once (no lease to wait out), with the attempt counted.
        assert (inspection.status, inspection.attempts) == (Status.QUEUED, attempt)
    assert run_inspection(inspection.id) == Outcome.FAILED
    inspection.refresh_from_db()
    assert (inspection.status, inspection.error_code) == (Status.FAILED, ErrorCode.TOO_MANY_ATTEMPTS)
    assert inspection.defects.count() == 0


def test_a_worker_that_lost_its_claim_writes_nothing(settings):
    """A worker stalls past its lease, another claims and finishes; the first one's result
    is discarded, not added."""
    from inspection.inference.verdicts import Judgement
    from inspection.lifecycle.claims import inspections_claim
    from inspection.lifecycle.results import Result, inspections_record_results

    model = make_model(always="spot")
    inspection = accept(make_line(model=model))
    first = inspections_claim(inspection_ids=[inspection.id])[inspection.id].attempt
    assert first == 1
    stale = timezone.now() - timedelta(seconds=settings.KENSA_CLAIM_LEASE_SECONDS + 1)
    Inspection.objects.filter(id=inspection.id).update(started_at=stale)
    assert run_inspection(inspection.id) == Outcome.DONE
    late = inspections_record_results([Result(inspection, first, model, Judgement(Verdict.PASS, []), {})])
    assert late == [False]
    inspection.refresh_from_db()
    assert (inspection.verdict, inspection.attempts, inspection.defects.count()) == (Verdict.FAIL, 2, 1)


def test_a_round_of_claims_takes_what_is_claimable_once(settings):
    from inspection.inference.worker import _claim_round
    from inspection.lifecycle.claims import inspections_claim

    line = make_line(model=make_model(always="good"))
    fresh, done, late, spent = (accept(line) for _ in range(4))
    Inspection.objects.filter(id=done.id).update(status=Status.DONE)
    Inspection.objects.filter(id=late.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    Inspection.objects.filter(id=spent.id).update(attempts=F("attempt_limit"))

    claims = inspections_claim(inspection_ids=[fresh.id, done.id, late.id, spent.id, uuid.uuid4()])
    assert set(claims) == {fresh.id}
    assert claims[fresh.id].attempt == 1 and claims[fresh.id].inspection.line.inspection_model is not None
    fresh.refresh_from_db()
    assert (fresh.status, fresh.attempts) == (Status.RUNNING, 1)

    twice = accept(line)  # a message delivered twice, both copies in one round
    first, second = _claim_round([twice.id, twice.id])
    assert first is not None and first.attempt == 1 and second is None


def test_a_round_of_results_writes_each_owned_inspection_once(django_capture_on_commit_callbacks):
    from inspection.inference.verdicts import FoundDefect, Judgement
    from inspection.lifecycle.claims import inspections_claim
    from inspection.lifecycle.results import Result, inspections_record_results

    model = make_model(always="spot")
    line = make_line(model=model)
    owned, stolen = accept(line), accept(line)
    claims = inspections_claim(inspection_ids=[owned.id, stolen.id])
    Inspection.objects.filter(id=stolen.id).update(attempts=F("attempts") + 1)  # claimed again elsewhere
    spot = Judgement(Verdict.FAIL, [FoundDefect("spot", 0.9, [1, 2, 3, 4], 4)])

    def result(inspection, judgement=spot):
        claim = claims[inspection.id]
        return Result(claim.inspection, claim.attempt, model, judgement, {"model_ms": 1.0})

    with django_capture_on_commit_callbacks(execute=True):
        written = inspections_record_results(
            [result(owned), result(stolen), result(owned, Judgement(Verdict.PASS, []))]
        )
    assert written == [True, False, False]
    owned.refresh_from_db()
    stolen.refresh_from_db()
    assert (owned.status, owned.verdict, owned.defects.count(), owned.timings) == (
        Status.DONE,
        Verdict.FAIL,
        1,
        {"model_ms": 1.0},
    )
    assert (stolen.status, stolen.verdict, stolen.defects.count()) == (Status.RUNNING, "", 0)


def test_a_group_is_claimed_in_one_round_and_a_member_that_fails_transiently_is_given_back_alone(
    monkeypatch, django_capture_on_commit_callbacks
):
    from inspection.inference import worker
    from inspection.inference.worker import run_inspections

    line = make_line(model=make_model(always="spot"))
    good, undecodable, flaky, also_good = (accept(line) for _ in range(4))
    finished = accept(line)
    Inspection.objects.filter(id=finished.id).update(status=Status.DONE)
    default_storage.delete(undecodable.image_key)
    default_storage.save(undecodable.image_key, io.BytesIO(b"garbage, not the image"))
    claim_rounds: list[list[uuid.UUID]] = []
    claim = worker.inspections_claim

    def counted_claim(*, inspection_ids):
        claim_rounds.append(list(inspection_ids))
        return claim(inspection_ids=inspection_ids)

    monkeypatch.setattr(worker, "inspections_claim", counted_claim)
    storage_fails_for(monkeypatch, flaky)
    group = [good.id, undecodable.id, flaky.id, finished.id, also_good.id, good.id]

    with django_capture_on_commit_callbacks(execute=True):
        report = run_inspections(group)

    assert claim_rounds == [[good.id, undecodable.id, flaky.id, finished.id, also_good.id]]  # once each, one round
    assert report.outcomes == {
        good.id: Outcome.DONE,
        undecodable.id: Outcome.FAILED,
        finished.id: Outcome.SKIPPED,
        also_good.id: Outcome.DONE,
    }
    assert list(report.errors) == [flaky.id] and isinstance(report.errors[flaky.id], OSError)
    rows = {row.id: row for row in Inspection.objects.filter(line=line)}
    assert (rows[good.id].verdict, rows[also_good.id].verdict) == (Verdict.FAIL, Verdict.FAIL)
    assert rows[good.id].defects.count() == rows[also_good.id].defects.count() == 1
    assert rows[good.id].timings["batch_size"] == 2  # the group's two decoded images in one forward pass
    assert rows[undecodable.id].error_code == ErrorCode.IMAGE_DECODE_FAILED
    # Given back at once, its attempt counted, for the task to send again alone.
    assert (rows[flaky.id].status, rows[flaky.id].attempts) == (Status.QUEUED, 1)
