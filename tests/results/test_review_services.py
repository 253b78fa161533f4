"""QA review services: append-only records with their previous value, relabels only to the
model's labels, reasons for dispositions against the model, escapes; the model's output stays."""

import uuid
from datetime import timedelta

import pytest

from inspection.constants import Status, Verdict
from inspection.errors import KensaError
from inspection.models import Defect, Inspection
from results.review.constants import Decision, Disposition
from results.review.models import DefectReview, PartDisposition
from results.review.selectors import QUEUE_ORDERING, queue_next, review_queue
from results.review.services import (
    defect_review_record,
    defects_confirm_unreviewed,
    part_disposition_record,
    parts_pass,
)
from tests.results.review_data import finished, review_line

pytestmark = pytest.mark.django_db


def refused(code: str, call, **kwargs) -> None:
    kwargs.setdefault("by", "q")
    with pytest.raises(KensaError) as caught:
        call(**kwargs)
    assert caught.value.code == code


def test_a_new_decision_is_a_new_row_naming_the_one_it_replaces():
    _, station, _ = review_line("rv-a")
    inspection = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),))
    defect = inspection.defects.get()

    first = defect_review_record(defect=defect, decision=Decision.CONFIRMED, by="qa1")
    second = defect_review_record(defect=defect, decision=Decision.REJECTED, by="qa2", reason=" glare ")

    assert second.previous == first and first.previous is None
    assert (second.by, second.reason) == ("qa2", "glare")
    first.refresh_from_db()
    assert first.decision == Decision.CONFIRMED  # not overwritten
    assert DefectReview.objects.filter(defect=defect).count() == 2
    defect.refresh_from_db()
    assert (defect.label, defect.confidence) == ("scratch", 0.9)  # the model's output untouched


def test_relabel_only_to_another_of_the_model_versions_labels():
    _, station, _ = review_line("rv-b")
    defect = finished(station, Verdict.FAIL, defects=(("scratch", 0.9),)).defects.get()

    refused("review_label_invalid", defect_review_record, defect=defect, decision="relabelled", new_label="rust")
    refused("review_label_invalid", defect_review_record, defect=defect, decision="relabelled", new_label="")
    refused(
        "review_label_invalid", defect_review_record, defect=defect, decision="relabelled", new_label="scratch", by="q"
    )
    refused("review_label_invalid", defect_review_record, defect=defect, decision="confirmed", new_label="dent")
    refused("review_decision_invalid", defect_review_record, defect=defect, decision="maybe")
    assert not DefectReview.objects.exists()

    review = defect_review_record(defect=defect, decision=Decision.RELABELLED, new_label="dent", by="q")
    assert review.new_label == "dent"
    assert Defect.objects.get(id=defect.id).label == "scratch"


def test_failing_a_passed_part_needs_a_reason_and_is_an_escape():
    _, station, _ = review_line("rv-c")
    passed = finished(station, Verdict.PASS)

    refused("review_reason_required", part_disposition_record, inspection=passed, disposition="fail")
    refused("review_reason_required", part_disposition_record, inspection=passed, disposition="fail", reason=" ")
    refused("review_decision_invalid", part_disposition_record, inspection=passed, disposition="scrap")
    assert not PartDisposition.objects.exists()

    escape = part_disposition_record(inspection=passed, disposition=Disposition.FAIL, reason="crack at edge", by="q")
    assert escape.escape is True
    again = part_disposition_record(inspection=passed, disposition=Disposition.PASS, by="lead")
    assert again.previous == escape and again.escape is False
    assert Inspection.objects.get(id=passed.id).verdict == Verdict.PASS


def test_dispositions_that_agree_with_the_model_need_no_reason():
    _, station, _ = review_line("rv-d")
    failed = finished(station, Verdict.FAIL, defects=(("dent", 0.8),))
    asked = finished(station, Verdict.REVIEW, defects=(("dent", 0.5),))

    assert part_disposition_record(inspection=failed, disposition="fail", by="q").escape is False
    refused("review_reason_required", part_disposition_record, inspection=failed, disposition="pass")
    # A `review` verdict is the model asking: either answer is QA's to give.
    assert part_disposition_record(inspection=asked, disposition="pass", by="q").escape is False
    assert part_disposition_record(inspection=asked, disposition="fail", by="q").escape is False


def test_an_unfinished_inspection_has_nothing_to_review():
    _, station, _ = review_line("rv-e")
    queued = finished(station, "", status=Status.QUEUED)
    Defect.objects.create(inspection=queued, label="dent", confidence=0.9)

    refused("review_not_finished", part_disposition_record, inspection=queued, disposition="pass")
    refused("review_not_finished", defect_review_record, defect=queued.defects.get(), decision="confirmed")


def test_bulk_confirm_keeps_decisions_already_made_and_bulk_pass_skips_the_models_fails():
    _, station, _ = review_line("rv-f")
    one = finished(station, Verdict.FAIL, defects=(("dent", 0.9), ("scratch", 0.8)))
    passed = finished(station, Verdict.PASS)
    rejected = one.defects.get(label="scratch")
    defect_review_record(defect=rejected, decision=Decision.REJECTED, by="qa1")

    assert defects_confirm_unreviewed(inspection_ids=[one.id, passed.id], by="bulk") == 1
    assert DefectReview.objects.filter(defect=rejected).count() == 1
    assert one.defects.get(label="dent").reviews.get().decision == Decision.CONFIRMED

    assert parts_pass(inspection_ids=[one.id, passed.id], by="bulk") == (1, 1)
    assert list(PartDisposition.objects.values_list("inspection_id", "disposition")) == [(passed.id, "pass")]


def test_the_queue_puts_review_verdicts_first_then_unsure_fails_then_sampled_passes():
    line, station, _ = review_line("rv-g", rate=0.5)
    sampled = finished(station, Verdict.PASS, id=uuid.UUID("00" + "1" * 30))  # bucket 0 < 128
    finished(station, Verdict.PASS, id=uuid.UUID("ff" + "1" * 30))  # bucket 255: outside the sample
    unsure = finished(station, Verdict.FAIL, defects=(("dent", 0.55), ("scratch", 0.65)))
    finished(station, Verdict.FAIL, defects=(("dent", 0.55), ("scratch", 0.95)))  # sure: not queued
    asked = finished(station, Verdict.REVIEW, defects=(("dent", 0.4),))
    done = finished(station, Verdict.REVIEW)
    part_disposition_record(inspection=done, disposition="pass", by="q")  # reviewed: left the queue

    queue = review_queue(Inspection.objects.filter(line=line)).order_by(*QUEUE_ORDERING)
    ranks = [(row.id, row.queue_rank) for row in queue]  # type: ignore[attr-defined]
    assert ranks == [(asked.id, 0), (unsure.id, 1), (sampled.id, 2)]


def test_next_follows_the_queue_order_from_where_qa_is_and_wraps_around():
    line, station, _ = review_line("rv-next", rate=0.0)
    _, other_station, _ = review_line("rv-next-b", rate=0.0)
    asked = finished(station, Verdict.REVIEW, defects=(("dent", 0.4),))
    unsure = finished(station, Verdict.FAIL, defects=(("dent", 0.55),))
    older = finished(station, Verdict.REVIEW, defects=(("dent", 0.3),))
    Inspection.objects.filter(id=older.id).update(received_at=asked.received_at - timedelta(minutes=1))
    finished(other_station, Verdict.REVIEW)  # another line's: never next for this queue
    outside = finished(station, Verdict.PASS)  # not in the queue (no sample)
    mine = Inspection.objects.filter(line=line)

    # The queue: asked (newest review verdict), older, unsure.
    assert queue_next(mine, after=asked) == older
    assert queue_next(mine, after=older) == unsure
    assert queue_next(mine, after=unsure) == asked  # after the last, the head again
    assert queue_next(mine, after=outside) == asked  # from outside the queue: its head
    part_disposition_record(inspection=asked, disposition="pass", by="q")
    assert queue_next(mine, after=asked) == older  # reviewed, it left: the head is next
    part_disposition_record(inspection=older, disposition="pass", by="q")
    assert queue_next(mine, after=unsure) is None  # nothing else to review
