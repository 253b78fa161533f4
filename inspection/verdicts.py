"""Turn a model's output into a verdict and defects, following the model's thresholds."""

from dataclasses import dataclass

from inspection.constants import Verdict
from inspection.models import InspectionModel


@dataclass(frozen=True)
class FoundDefect:
    label: str
    confidence: float
    box: list[int] | None = None
    area: int | None = None


@dataclass(frozen=True)
class Judgement:
    verdict: str
    defects: list[FoundDefect]


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
