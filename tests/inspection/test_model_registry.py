"""Model versions: checked in a separate process, drafted, promoted and rolled back per line."""

import io

import pytest
import torch
import torchvision
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from inspection.constants import ModelAction, ModelStage, Verdict
from inspection.demo.synthetic import DEMO_LABELS
from inspection.errors import KensaError
from inspection.inference.registry import check_artifact_isolated, model_promote, model_rollback
from inspection.models import InspectionModel, ModelEvent
from tests.factories import _artifact_always, make_line, make_model, run_inspection
from tests.inspection.test_worker import accept

pytestmark = pytest.mark.django_db


def isolated_code(artifact: bytes, **overrides) -> str:
    fields = {"architecture": "mobilenet_v3_small", "artifact": artifact, "labels": DEMO_LABELS}
    with pytest.raises(KensaError) as refused:
        check_artifact_isolated(**{"input_size": 64, **fields, **overrides})
    return refused.value.code


def test_the_isolated_check_accepts_a_good_artifact_and_names_what_is_wrong_with_a_bad_one():
    check_artifact_isolated(
        architecture="mobilenet_v3_small",
        artifact=_artifact_always("good"),
        labels=DEMO_LABELS,
        input_size=64,
    )
    assert isolated_code(b"GIF89a not a model") == "model_file_invalid"
    assert isolated_code(_artifact_always("good"), labels=["good", "bad"]) == "model_label_mismatch"


def test_the_isolated_check_has_a_time_limit(settings):
    settings.KENSA_MODEL_CHECK_SECONDS = 0.05  # the child cannot even import torch in that time
    assert isolated_code(_artifact_always("good")) == "model_check_timeout"


def test_promote_and_roll_back_through_the_admin_with_who_and_when():
    line = make_line(code="press-9", model=None)
    line.inspection_model = None
    line.save()
    first, second = make_model(always="good"), make_model(always="scratch")
    InspectionModel.objects.filter(id__in=[first.id, second.id]).update(line=line)
    qa = Client()
    qa.force_login(get_user_model().objects.create_superuser("qa-lead", password="x"))

    def promote(model):
        return qa.post(
            "/admin/inspection/inspectionmodel/", {"action": "promote", "_selected_action": [model.id]}, follow=True
        )

    assert "now serves line press-9" in promote(first).content.decode()
    assert "now serves line press-9" in promote(second).content.decode()
    line.refresh_from_db()
    assert line.inspection_model == second
    assert InspectionModel.objects.get(id=first.id).stage == ModelStage.RETIRED

    inspection = accept(line)
    run_inspection(inspection.id)
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.FAIL  # the scratch model served

    back = qa.post(
        "/admin/lines/productionline/", {"action": "roll_back_model", "_selected_action": [line.id]}, follow=True
    )
    assert "is back on" in back.content.decode()
    line.refresh_from_db()
    assert line.inspection_model == first
    assert InspectionModel.objects.get(id=first.id).stage == ModelStage.PRODUCTION
    assert InspectionModel.objects.get(id=second.id).stage == ModelStage.RETIRED
    events = list(
        ModelEvent.objects.filter(line=line).order_by("at", "id").values_list("action", "model", "previous", "by")
    )
    assert events == [
        (ModelAction.PROMOTE, first.id, None, "qa-lead"),
        (ModelAction.PROMOTE, second.id, first.id, "qa-lead"),
        (ModelAction.ROLLBACK, first.id, second.id, "qa-lead"),
    ]

    following = accept(line)
    run_inspection(following.id)
    following.refresh_from_db()
    assert following.verdict == Verdict.PASS  # the next inspection after the roll-back


def test_nothing_to_roll_back_to():
    line = make_line(code="press-10")
    with pytest.raises(KensaError) as refused:
        model_rollback(line=line, by="test")
    assert refused.value.code == "model_no_previous_version"


def test_promoting_a_model_without_a_line_is_refused():
    with pytest.raises(KensaError) as refused:
        model_promote(model=make_model(), by="test")
    assert refused.value.code == "model_has_no_line"


def test_register_model_command_checks_in_a_child_and_promotes(tmp_path):
    line = make_line(code="press-11")
    module = torchvision.models.get_model("resnet18", weights=None, num_classes=2)
    artifact = tmp_path / "resnet18.pt"
    torch.save(module.state_dict(), artifact)
    out = io.StringIO()
    call_command(
        "register_model",
        str(artifact),
        "--name=press-11-surface",
        "--model-version=2.0",
        "--architecture=resnet18",
        "--labels=ok,dent",
        "--good=ok",
        "--input-size=64",
        "--line=press-11",
        "--promote",
        stdout=out,
    )
    assert "stage production" in out.getvalue()
    line.refresh_from_db()
    assert str(line.inspection_model) == "press-11-surface@2.0"

    with pytest.raises(CommandError, match="model_architecture_mismatch"):
        call_command(
            "register_model",
            str(artifact),
            "--name=x",
            "--model-version=1",
            "--architecture=mobilenet_v3_small",
            "--labels=ok,dent",
            "--good=ok",
            "--input-size=64",
        )


def _torchscript_always(label_index: int, outputs: int = 3) -> bytes:
    """A scripted model that ignores its input and names one label (known verdicts)."""

    class Always(torch.nn.Module):
        def __init__(self, label_index: int, outputs: int):
            super().__init__()
            self.label_index = label_index
            self.outputs = outputs

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(images.shape[0], self.outputs)
            logits[:, self.label_index] = 8.0
            return logits

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(Always(label_index, outputs)), buffer)
    return buffer.getvalue()


def test_a_torchscript_model_is_checked_apart_registered_and_serves(tmp_path):
    line = make_line(code="press-12")
    artifact = tmp_path / "scripted.pt"
    artifact.write_bytes(_torchscript_always(label_index=2))
    call_command(
        "register_model",
        str(artifact),
        "--format=torchscript",
        "--name=scripted",
        "--model-version=1",
        "--labels=good,scratch,spot",
        "--good=good",
        "--input-size=32",
        "--line=press-12",
        "--promote",
        stdout=io.StringIO(),
    )
    line.refresh_from_db()
    assert line.inspection_model is not None and line.inspection_model.format == "torchscript"
    inspection = accept(line)
    run_inspection(inspection.id)
    inspection.refresh_from_db()
    assert inspection.verdict == Verdict.FAIL
    assert [d.label for d in inspection.defects.all()] == ["spot"]


def test_torchscript_with_the_wrong_number_of_outputs_is_refused():
    code = isolated_code(_torchscript_always(0, outputs=len(DEMO_LABELS) + 1), format="torchscript", architecture="")
    assert code == "model_label_mismatch"
    assert isolated_code(b"PK\x03\x04 not an archive", format="torchscript", architecture="") == "model_file_invalid"
