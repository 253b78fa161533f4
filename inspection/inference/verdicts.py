"""Turn a model's output into a verdict and defects, following the model's thresholds."""

from dataclasses import dataclass

import numpy as np

from inspection.constants import Verdict
from inspection.lifecycle.results import FoundDefect, Judgement
from inspection.models import InspectionModel

__all__ = ["Detections", "FoundDefect", "Judgement", "judge_classification", "judge_detection", "judge_segmentation"]


@dataclass(frozen=True)
class Detections:
    """A detection model's answer for one image, in the model's input pixels (S x S)."""

    boxes: np.ndarray  # k x 4: x0, y0, x1, y1
    labels: np.ndarray  # k label indices; 0 is the background class (torchvision's convention)
    scores: np.ndarray  # k


def judge_classification(spec: InspectionModel, probabilities: list[float]) -> Judgement:
    """Fail when a defect label reaches its threshold; pass when the most likely label is a
    good one and reaches its threshold; anything in between goes to human review."""
    defects = [
        FoundDefect(label=label, confidence=round(p, 4))
        for label, p in zip(spec.labels, probabilities, strict=True)
        if label not in spec.good_labels and p >= spec.threshold_for(label)
    ]
    if defects:
        defects.sort(key=lambda defect: defect.confidence, reverse=True)
        return Judgement(Verdict.FAIL, defects)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    best_label = spec.labels[best]
    if best_label in spec.good_labels and probabilities[best] >= spec.threshold_for(best_label):
        return Judgement(Verdict.PASS, [])
    return Judgement(Verdict.REVIEW, [])


# Regions smaller than this share of the model's input are noise, not defects.
MIN_REGION_SHARE = 0.0005


def judge_segmentation(spec: InspectionModel, probabilities: np.ndarray, image_size: tuple[int, int]) -> Judgement:
    """Each connected region where a defect label wins and reaches its threshold is a defect,
    with its box and area in pixels of the original image. Any defect fails the part."""
    from scipy import ndimage

    winners = probabilities.argmax(axis=0)
    height, width = winners.shape
    scale_x, scale_y = image_size[0] / width, image_size[1] / height
    min_pixels = max(1, round(MIN_REGION_SHARE * width * height))
    defects = []
    for index, label in enumerate(spec.labels):
        if label in spec.good_labels:
            continue
        mask = (winners == index) & (probabilities[index] >= spec.threshold_for(label))
        regions, _ = ndimage.label(mask)
        for region, box in enumerate(ndimage.find_objects(regions), start=1):
            pixels = regions[box] == region
            area = int(pixels.sum())
            if area < min_pixels:
                continue
            rows, cols = box
            defects.append(
                FoundDefect(
                    label=label,
                    confidence=round(float(probabilities[index][box][pixels].mean()), 4),
                    box=[
                        round(cols.start * scale_x),
                        round(rows.start * scale_y),
                        round(cols.stop * scale_x),
                        round(rows.stop * scale_y),
                    ],
                    area=round(area * scale_x * scale_y),
                )
            )
    defects.sort(key=lambda defect: defect.confidence, reverse=True)
    return Judgement(Verdict.FAIL if defects else Verdict.PASS, defects)


def judge_detection(
    spec: InspectionModel, found: Detections, image_size: tuple[int, int], input_size: int
) -> Judgement:
    """Each box of a defect label that reaches its threshold is a defect, with its box and
    area in pixels of the original image (the model saw the image resized to S x S). Any
    defect fails the part."""
    scale_x, scale_y = image_size[0] / input_size, image_size[1] / input_size
    defects = []
    for box, index, score in zip(found.boxes, found.labels, found.scores, strict=True):
        label = spec.labels[int(index)] if 0 <= int(index) < len(spec.labels) else None
        if label is None or label in spec.good_labels or float(score) < spec.threshold_for(label):
            continue
        x0, y0, x1, y1 = (
            round(float(box[0]) * scale_x),
            round(float(box[1]) * scale_y),
            round(float(box[2]) * scale_x),
            round(float(box[3]) * scale_y),
        )
        defects.append(
            FoundDefect(
                label=label,
                confidence=round(float(score), 4),
                box=[x0, y0, x1, y1],
                area=max(0, x1 - x0) * max(0, y1 - y0),
            )
        )
    defects.sort(key=lambda defect: defect.confidence, reverse=True)
    return Judgement(Verdict.FAIL if defects else Verdict.PASS, defects)
