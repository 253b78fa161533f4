"""The demo models are trained here, on the CPU: the training code makes artifacts that the
registry accepts and workers serve, reproducibly, and the full classifier tells defects apart."""

import functools
import hashlib
import io
import random

import pytest
from django.core.management import call_command

from inspection.constants import ModelFormat, ModelStage, TaskType, Verdict
from inspection.demo import classifier, segmentation
from inspection.demo.synthetic import DEMO_LABELS, make_part
from inspection.inference import engine
from inspection.inference.registry import check_artifact
from inspection.inference.verdicts import judge_classification, judge_segmentation
from inspection.models import InspectionModel
from lines.models import ProductionLine

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_briefly_trained_classifier_is_a_valid_artifact_and_the_same_for_the_same_seed():
    first = classifier.train_demo_classifier(seed=3, count=30, epochs=1)
    again = classifier.train_demo_classifier(seed=3, count=30, epochs=1)
    assert first.artifact == again.artifact
    assert [score.label for score in first.scores] == DEMO_LABELS
    assert sum(score.support for score in first.scores) == 6  # the held-out fifth
    check_artifact(
        architecture=classifier.ARCHITECTURE,
        artifact=first.artifact,
        labels=DEMO_LABELS,
        input_size=classifier.INPUT_SIZE,
        format=ModelFormat.STATE_DICT,
        task=TaskType.CLASSIFICATION,
    )


def test_a_briefly_trained_segmentation_model_is_a_valid_artifact_and_the_same_for_the_same_seed():
    first = segmentation.train_demo_segmenter(seed=3, count=20, epochs=1)
    again = segmentation.train_demo_segmenter(seed=3, count=20, epochs=1)
    assert first.artifact == again.artifact
    assert [score.label for score in first.scores] == DEMO_LABELS
    assert all(score.iou is not None and 0 <= score.iou <= 1 for score in first.scores)
    check_artifact(
        architecture=segmentation.ARCHITECTURE,
        artifact=first.artifact,
        labels=DEMO_LABELS,
        input_size=segmentation.INPUT_SIZE,
        format=ModelFormat.STATE_DICT,
        task=TaskType.SEGMENTATION,
    )


def test_build_demo_model_registers_the_segmentation_model_and_a_worker_serves_it(monkeypatch):
    # A brief training run: this checks registration, promotion and serving, not accuracy.
    brief = functools.partial(segmentation.train_demo_segmenter, count=20, epochs=1)
    monkeypatch.setattr(segmentation, "train_demo_segmenter", brief)
    line = ProductionLine.objects.create(code="demo-seg", name="Demo segmentation")
    out = io.StringIO()
    call_command("build_demo_model", task="segmentation", segmentation_line="demo-seg", stdout=out)
    assert "pixel IoU" in out.getvalue()

    line.refresh_from_db()
    spec = line.inspection_model
    assert spec is not None
    assert (spec.task, spec.format, spec.stage) == (
        TaskType.SEGMENTATION,
        ModelFormat.STATE_DICT,
        ModelStage.PRODUCTION,
    )
    assert spec.version == segmentation.model_version(7)
    loaded = engine.load_model(spec)
    part = make_part(random.Random(1), label="spot", size=(640, 512))
    [scores] = engine.infer(loaded, [engine.preprocess(part.jpeg(), loaded)])
    assert scores.shape == (len(DEMO_LABELS), spec.input_size, spec.input_size)
    judge_segmentation(spec, scores, (640, 512))  # whatever it finds, it can judge

    call_command("build_demo_model", task="segmentation", segmentation_line="demo-seg", stdout=out)
    assert out.getvalue().count("Training") == 1  # the version exists: nothing is trained twice


@pytest.mark.timeout(900)  # about a minute and a half of training, much more on a busy CPU
def test_build_demo_model_trains_a_classifier_that_tells_every_defect_apart():
    line = ProductionLine.objects.create(code="demo", name="Demo")
    out = io.StringIO()
    call_command("build_demo_model", task="classification", line="demo", stdout=out)
    table = out.getvalue().split("held-out split:")[1].splitlines()[2:7]
    f1 = {row.split()[0]: float(row.split()[3]) for row in table}
    assert set(f1) == set(DEMO_LABELS), out.getvalue()
    assert min(f1.values()) >= 0.9, out.getvalue()

    line.refresh_from_db()
    spec = line.inspection_model
    assert spec is not None and spec.labels == DEMO_LABELS
    loaded = engine.load_model(spec)
    rng = random.Random(2026)  # parts neither the training nor the held-out split saw, at a camera's size
    parts = [make_part(rng, size=(640, 512)) for _ in range(60)]
    right = 0
    for part in parts:
        [probabilities] = engine.infer(loaded, [engine.preprocess(part.jpeg(), loaded)])
        verdict = judge_classification(spec, probabilities).verdict
        expected = Verdict.PASS if part.label == "good" else Verdict.FAIL
        right += verdict == expected
    assert right / len(parts) >= 0.9, f"{right} of {len(parts)} verdicts right"


def test_build_demo_model_keeps_trained_weights_and_a_fresh_database_reuses_them(monkeypatch, tmp_path):
    brief = functools.partial(classifier.train_demo_classifier, count=30, epochs=1)
    monkeypatch.setattr(classifier, "train_demo_classifier", brief)
    out = io.StringIO()
    call_command("build_demo_model", task="classification", artifacts=tmp_path, stdout=out)
    [kept] = tmp_path.iterdir()
    assert kept.name == f"demo-surface-{classifier.model_version(7)}.pt"
    first = InspectionModel.objects.get(name="demo-surface")

    InspectionModel.objects.all().delete()  # as a fresh database: the version must be registered anew

    def not_again(**_: object) -> None:
        raise AssertionError("trained again although its weights were kept")

    monkeypatch.setattr(classifier, "train_demo_classifier", not_again)
    call_command("build_demo_model", task="classification", artifacts=tmp_path, stdout=out)
    again = InspectionModel.objects.get(name="demo-surface")
    assert again.sha256 == first.sha256 == hashlib.sha256(kept.read_bytes()).hexdigest()
    assert "Reusing demo-surface@" in out.getvalue()
    assert list(tmp_path.iterdir()) == [kept]  # no partial file left beside it
