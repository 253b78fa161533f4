"""Registering a model refuses files that cannot serve, each with its own code."""

import io

import pytest
import torch
import torchvision

from inspection.demo.synthetic import DEMO_LABELS
from inspection.errors import KensaError
from inspection.inference.registry import inspection_model_register
from inspection.models import InspectionModel
from tests.factories import _artifact_always, make_model

pytestmark = pytest.mark.django_db


def register(artifact: bytes, **overrides):
    fields = dict(
        name="m",
        version="1",
        architecture="mobilenet_v3_small",
        artifact=artifact,
        labels=DEMO_LABELS,
        good_labels=["good"],
        input_size=64,
        mean=[0.5] * 3,
        std=[0.25] * 3,
    )
    return inspection_model_register(**{**fields, **overrides})


def code_of(call) -> str:
    with pytest.raises(KensaError) as caught:
        call()
    assert InspectionModel.objects.count() == 0
    return caught.value.code


def test_a_good_artifact_is_recorded_with_its_checksum():
    import hashlib

    model = make_model(always="good")
    assert model.sha256 == hashlib.sha256(_artifact_always("good")).hexdigest()
    assert model.artifact.read() == _artifact_always("good")


def test_not_a_model_file():
    assert code_of(lambda: register(b"this is a text file")) == "model_file_invalid"


def test_wrong_architecture():
    buffer = io.BytesIO()
    torch.save(torchvision.models.get_model("resnet18", weights=None, num_classes=3).state_dict(), buffer)
    assert code_of(lambda: register(buffer.getvalue())) == "model_architecture_mismatch"


def test_unknown_architecture():
    assert (
        code_of(lambda: register(_artifact_always("good"), architecture="no_such_net")) == "model_architecture_unknown"
    )


def test_labels_that_do_not_match_the_outputs():
    assert code_of(lambda: register(_artifact_always("good"), labels=["good", "bad"])) == "model_label_mismatch"


def test_good_label_not_among_labels():
    assert code_of(lambda: register(_artifact_always("good"), good_labels=["ok"])) == "model_label_mismatch"
