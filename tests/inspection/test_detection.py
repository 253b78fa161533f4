"""Detection models: boxes with labels and scores become defects in the original image's
pixels; the registry checks detectors like any other model."""

import io

import numpy as np
import pytest
import torch
import torchvision
from django.core.management import call_command

from inspection.constants import TaskType, Verdict
from inspection.errors import KensaError
from inspection.inference import engine
from inspection.inference.registry import check_artifact, inspection_model_register, model_promote
from inspection.inference.verdicts import Detections, judge_detection
from inspection.inference.worker import Outcome
from inspection.models import InspectionModel
from tests.factories import make_line, run_inspection
from tests.inspection.test_worker import accept

LABELS = ["background", "scratch", "spot"]


class FixedBoxes(torch.nn.Module):
    """Ignores the pixels; finds a scratch at (8, 4)-(24, 12) with 0.9 and a spot at
    (40, 40)-(48, 44) with 0.3, in the 64 x 64 input."""

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        found: list[dict[str, torch.Tensor]] = []
        for _ in images:
            found.append(
                {
                    "boxes": torch.tensor([[8.0, 4.0, 24.0, 12.0], [40.0, 40.0, 48.0, 44.0]]),
                    "labels": torch.tensor([1, 2]),
                    "scores": torch.tensor([0.9, 0.3]),
                }
            )
        return found


def scripted_detector() -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(FixedBoxes()), buffer)
    return buffer.getvalue()


def register_detector(tmp_path, line_code: str) -> None:
    artifact = tmp_path / "detector.pt"
    artifact.write_bytes(scripted_detector())
    call_command(
        "register_model",
        str(artifact),
        "--format=torchscript",
        "--task=detection",
        "--name=boxes",
        "--model-version=1",
        "--labels=" + ",".join(LABELS),
        "--good=background",
        "--input-size=64",
        f"--line={line_code}",
        "--promote",
        stdout=io.StringIO(),
    )


@pytest.mark.django_db
def test_a_detection_model_finds_boxes_in_image_pixels_above_their_thresholds(tmp_path):
    engine._cache.clear()
    line = make_line(code="det-line")
    register_detector(tmp_path, "det-line")
    inspection = accept(line)  # 320 x 256: 5 x 4 original pixels per model pixel
    assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.FAIL
    # The spot's 0.3 is under the default threshold of 0.5: only the scratch is a defect.
    [defect] = inspection.defects.all()
    assert (defect.label, defect.confidence) == ("scratch", 0.9)
    assert defect.box == [40, 16, 120, 48]
    assert defect.area == 80 * 32


def _detections(*rows: tuple[int, float]) -> Detections:
    return Detections(
        boxes=np.array([[0, 0, 10, 10]] * len(rows), dtype=np.float32).reshape(-1, 4),
        labels=np.array([label for label, _ in rows]),
        scores=np.array([score for _, score in rows], dtype=np.float32),
    )


def test_per_label_thresholds_and_good_labels_decide_the_verdict():
    spec = InspectionModel(labels=LABELS, good_labels=["background"], thresholds={"spot": 0.2}, default_threshold=0.5)
    assert judge_detection(spec, _detections(), (100, 100), 10).verdict == Verdict.PASS
    assert judge_detection(spec, _detections((0, 0.99)), (100, 100), 10).verdict == Verdict.PASS
    assert judge_detection(spec, _detections((1, 0.4)), (100, 100), 10).verdict == Verdict.PASS
    judged = judge_detection(spec, _detections((1, 0.4), (2, 0.25)), (100, 100), 10)
    assert judged.verdict == Verdict.FAIL
    assert [(d.label, d.box, d.area) for d in judged.defects] == [("spot", [0, 0, 100, 100], 10_000)]


def _state_dict(num_classes: int) -> bytes:
    torch.manual_seed(0)
    model = torchvision.models.get_model(
        "fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, weights_backbone=None, num_classes=num_classes
    )
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def test_the_registry_accepts_a_torchvision_detector_and_refuses_a_label_mismatch():
    detector = dict(architecture="fasterrcnn_mobilenet_v3_large_320_fpn", input_size=128, task=TaskType.DETECTION)
    check_artifact(artifact=_state_dict(len(LABELS)), labels=LABELS, **detector)
    with pytest.raises(KensaError) as refused:
        check_artifact(artifact=_state_dict(5), labels=LABELS, **detector)
    assert refused.value.code == "model_label_mismatch"


@pytest.mark.django_db
def test_a_torchvision_detector_runs_end_to_end_in_a_worker(tmp_path):
    """Random weights find random boxes or none: what matters is that the state dict builds,
    runs and gives a verdict with boxes inside the image."""
    engine._cache.clear()
    line = make_line(code="frcnn-line")
    spec = inspection_model_register(
        name="frcnn",
        version="1",
        architecture="fasterrcnn_mobilenet_v3_large_320_fpn",
        artifact=_state_dict(len(LABELS)),
        labels=LABELS,
        good_labels=["background"],
        input_size=128,
        mean=[0.0] * 3,
        std=[1.0] * 3,
        default_threshold=0.0,
        task=TaskType.DETECTION,
        line=line,
        checker=check_artifact,
    )
    model_promote(model=spec, by="test")
    inspection = accept(line)
    assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert inspection.verdict in (Verdict.PASS, Verdict.FAIL)
    for defect in inspection.defects.all():
        assert defect.box is not None
        x0, y0, x1, y1 = defect.box
        assert 0 <= x0 <= x1 <= inspection.width and 0 <= y0 <= y1 <= inspection.height
