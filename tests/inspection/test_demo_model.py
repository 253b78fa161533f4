"""The demo model is trained here, on the CPU, and must tell defects from good parts."""

import io
import random

import pytest
from django.core.management import call_command

from inspection import engine
from inspection.constants import Verdict
from inspection.synthetic import make_part
from inspection.verdicts import judge_classification
from lines.models import ProductionLine

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_build_demo_model_trains_registers_and_judges_unseen_parts():
    line = ProductionLine.objects.create(code="demo", name="Demo")
    out = io.StringIO()
    call_command("build_demo_model", line="demo", stdout=out)
    accuracy = float(out.getvalue().split("Held-out accuracy:")[1].split()[0])
    assert accuracy >= 0.85, out.getvalue()

    line.refresh_from_db()
    spec = line.inspection_model
    assert spec is not None and spec.labels == ["good", "scratch", "spot"]
    loaded = engine.load_model(spec)
    rng = random.Random(2026)  # parts neither the training nor the held-out split saw
    parts = [make_part(rng, size=(640, 512)) for _ in range(60)]
    right = 0
    for part in parts:
        [probabilities] = engine.classify(loaded, engine.preprocess(part.jpeg(), loaded).unsqueeze(0))
        verdict = judge_classification(spec, probabilities).verdict
        expected = Verdict.PASS if part.label == "good" else Verdict.FAIL
        right += verdict == expected
    assert right / len(parts) >= 0.75, f"{right} of {len(parts)} verdicts right"
