"""Held-out scores of the demo models: per-class precision, recall and F1, and pixel IoU."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # test images that truly show the label
    iou: float | None = None  # segmentation only: intersection over union of its pixels


def class_scores(
    labels: Sequence[str], truths: Sequence[Collection[str]], predictions: Sequence[Collection[str]]
) -> list[ClassScore]:
    """Per label, over images: each image has a set of true and a set of predicted labels (one
    each for a classifier; those of the regions found, or "good" when none, for segmentation).
    A ratio with nothing to divide by is 0, as a label never predicted has earned no precision."""
    scores = []
    for label in labels:
        hits = sum(label in truth and label in predicted for truth, predicted in zip(truths, predictions, strict=True))
        predicted_count = sum(label in predicted for predicted in predictions)
        support = sum(label in truth for truth in truths)
        precision = hits / predicted_count if predicted_count else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScore(label, precision, recall, f1, support))
    return scores


def pixel_iou(labels: Sequence[str], truths: Sequence[np.ndarray], predictions: Sequence[np.ndarray]) -> list[float]:
    """Per label index, intersection over union of its pixels, summed over all images."""
    intersection = np.zeros(len(labels))
    union = np.zeros(len(labels))
    for truth, predicted in zip(truths, predictions, strict=True):
        for index in range(len(labels)):
            intersection[index] += np.count_nonzero((truth == index) & (predicted == index))
            union[index] += np.count_nonzero((truth == index) | (predicted == index))
    return [float(i / u) if u else 0.0 for i, u in zip(intersection, union, strict=True)]


def format_scores(scores: Sequence[ClassScore]) -> str:
    with_iou = any(score.iou is not None for score in scores)
    header = f"{'label':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>7}" + (
        "  pixel IoU" if with_iou else ""
    )
    rows = [header]
    for score in scores:
        row = f"{score.label:<10} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f} {score.support:>7}"
        if score.iou is not None:
            row += f"  {score.iou:>9.3f}"
        rows.append(row)
    return "\n".join(rows)
