"""Segmentation models: defects are the connected regions of each defect label, with boxes and
areas in the original image's pixels."""

import io

import numpy as np
import pytest
import torch
import torchvision
from django.core.management import call_command

from inspection.constants import Verdict
from inspection.inference import engine
from inspection.inference.verdicts import judge_segmentation
from inspection.inference.worker import Outcome
from inspection.models import InspectionModel
from tests.factories import make_line, run_inspection
from tests.inspection.test_worker import accept

LABELS = ["background", "scratch", "spot"]


class PaintedRegions(torch.nn.Module):
    """Ignores the image; says `scratch` in rows 10-19, columns 30-49, `spot` in a 4x4 square."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(images.shape[0], 3, images.shape[2], images.shape[3])
        logits[:, 0] = 4.0
        logits[:, 1, 10:20, 30:50] = 9.0
        logits[:, 2, 40:44, 8:12] = 9.0
        return logits


def scripted(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_segmentation_model_finds_regions_with_boxes_in_image_pixels(tmp_path):
    engine._cache.clear()
    line = make_line(code="seg-line")
    artifact = tmp_path / "seg.pt"
    artifact.write_bytes(scripted(PaintedRegions()))
    call_command(
        "register_model",
        str(artifact),
        "--format=torchscript",
        "--task=segmentation",
        "--name=seg",
        "--model-version=1",
        "--labels=" + ",".join(LABELS),
        "--good=background",
        "--input-size=64",
        "--line=seg-line",
        "--promote",
        stdout=io.StringIO(),
    )
    inspection = accept(line)  # a 320 x 256 image: 5 x 4 original pixels per model pixel
    assert run_inspection(inspection.id) == Outcome.DONE
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.FAIL
    defects = {d.label: d for d in inspection.defects.all()}
    assert defects["scratch"].box == [150, 40, 250, 80]
    assert defects["scratch"].area == 20 * 10 * 5 * 4
    assert defects["spot"].box == [40, 160, 60, 176]
    assert defects["spot"].area == 4 * 4 * 5 * 4
    assert all(d.confidence > 0.99 for d in defects.values())


def _spec(**thresholds: float) -> InspectionModel:
    return InspectionModel(labels=LABELS, good_labels=["background"], thresholds=thresholds, default_threshold=0.5)


def _scores(*regions: tuple[int, slice, slice, float]) -> np.ndarray:
    scores = np.zeros((3, 100, 100), dtype=np.float32)
    scores[0] = 1.0
    for label, rows, cols, value in regions:
        scores[:, rows, cols] = (1.0 - value) / 2
        scores[label, rows, cols] = value
    return scores


def test_clean_part_passes():
    judgement = judge_segmentation(_spec(), _scores(), (1000, 1000))
    assert (judgement.verdict, judgement.defects) == (Verdict.PASS, [])


def test_regions_below_their_threshold_or_too_small_are_not_defects():
    scores = _scores((1, slice(0, 20), slice(0, 20), 0.7), (2, slice(50, 51), slice(50, 53), 0.95))
    judgement = judge_segmentation(_spec(scratch=0.8), scores, (100, 100))
    assert judgement.verdict == Verdict.PASS  # the scratch is unsure, the 3-pixel spot is noise
    judgement = judge_segmentation(_spec(scratch=0.6), scores, (100, 100))
    assert [(d.label, d.box, d.area) for d in judgement.defects] == [("scratch", [0, 0, 20, 20], 400)]


def test_two_separate_regions_of_one_label_are_two_defects():
    scores = _scores((2, slice(0, 10), slice(0, 10), 0.9), (2, slice(50, 60), slice(50, 60), 0.9))
    assert len(judge_segmentation(_spec(), scores, (100, 100)).defects) == 2


def test_a_torchvision_segmentation_state_dict_is_checked_without_any_download():
    """torchvision builds segmentation models with an ImageNet backbone by default; Kensa
    builds them with none (this machine, like a plant network, cannot download one)."""
    from inspection.errors import KensaError
    from inspection.inference.registry import check_artifact

    model = torchvision.models.get_model(
        "lraspp_mobilenet_v3_large", weights=None, weights_backbone=None, num_classes=len(LABELS)
    )
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    segmenter = dict(architecture="lraspp_mobilenet_v3_large", input_size=64, task="segmentation")
    check_artifact(artifact=buffer.getvalue(), labels=LABELS, **segmenter)
    with pytest.raises(KensaError) as refused:
        check_artifact(artifact=buffer.getvalue(), labels=LABELS[:2], **segmenter)
    assert refused.value.code == "model_label_mismatch"
