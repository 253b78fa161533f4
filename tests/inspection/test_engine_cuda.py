"""On a GPU the engine serves classifiers and segmentation models in half precision and
channels-last, as traced graphs, with the answers the CPU gives in float32 (within half
precision's rounding); detectors stay in float32. Skipped where no CUDA device is present
(CI); run on a GPU host, where `auto` picks CUDA."""

import io
import random
from collections import OrderedDict

import pytest
import torch

from inspection.demo.synthetic import DEMO_GOOD_LABELS, DEMO_LABELS
from inspection.inference import engine
from inspection.inference.model_check import build_architecture
from inspection.inference.registry import check_artifact, inspection_model_register
from inspection.models import InspectionModel
from tests.factories import jpeg_bytes

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.django_db,
]

# Probabilities from half-precision activations against float32 ones: half precision keeps
# about three decimal digits, and a network compounds its rounding layer by layer.
HALF_ANSWER_TOLERANCE = 2e-2


def _register(architecture: str, task: str, input_size: int) -> InspectionModel:
    torch.manual_seed(random.randrange(10**9))
    module = build_architecture(architecture, len(DEMO_LABELS), task)
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return inspection_model_register(
        name=f"cuda-{architecture}",
        version=f"1-{random.randrange(10**9)}",
        architecture=architecture,
        artifact=buffer.getvalue(),
        labels=DEMO_LABELS,
        good_labels=DEMO_GOOD_LABELS,
        input_size=input_size,
        task=task,
        mean=[0.5, 0.4, 0.3],
        std=[0.2, 0.25, 0.3],
        checker=check_artifact,
    )


def _answers_on(device: str, spec: InspectionModel, settings, monkeypatch) -> tuple[engine.LoadedModel, torch.Tensor]:
    settings.KENSA_INFERENCE_DEVICE = device
    monkeypatch.setattr(engine, "_cache", OrderedDict())  # the cache is keyed by checksum alone
    loaded = engine.load_model(spec)
    images = [jpeg_bytes(label=label, seed=n) for n, label in enumerate(["good", "scratch", "spot", "crack", "dent"])]
    answers = engine.infer(loaded, [engine.preprocess(image, loaded) for image in images])
    # Classification answers lists of probabilities, segmentation arrays of them per pixel.
    return loaded, torch.stack([torch.as_tensor(answer) for answer in answers])


@pytest.mark.parametrize(
    ("architecture", "task", "input_size"),
    [("mobilenet_v3_small", "classification", 128), ("lraspp_mobilenet_v3_large", "segmentation", 128)],
)
def test_on_cuda_a_model_is_a_half_precision_graph_with_the_cpus_answers(
    architecture, task, input_size, settings, monkeypatch
):
    spec = _register(architecture, task, input_size)
    on_cpu, expected = _answers_on("cpu", spec, settings, monkeypatch)
    on_gpu, answers = _answers_on("cuda", spec, settings, monkeypatch)

    assert on_gpu.device.type == "cuda"
    assert isinstance(on_gpu.module, torch.jit.ScriptModule), "the half-precision trace was refused"
    assert answers.shape == expected.shape
    difference = float((answers - expected).abs().max())
    assert difference < HALF_ANSWER_TOLERANCE, f"GPU answers differ from the CPU's by {difference:.3g}"
    assert on_cpu.device.type == "cpu"
    assert on_cpu.module is not on_gpu.module


def test_on_cuda_a_detector_stays_in_float32(settings, monkeypatch):
    """Box decoding and non-maximum suppression lose boxes in half precision."""
    spec = _register("fasterrcnn_mobilenet_v3_large_320_fpn", "detection", 320)
    settings.KENSA_INFERENCE_DEVICE = "cuda"
    monkeypatch.setattr(engine, "_cache", OrderedDict())
    loaded = engine.load_model(spec)
    assert loaded.device.type == "cuda"
    assert isinstance(loaded.module, engine.Served)  # eager: detections vary in size per image
    assert loaded.module.half_precision is False
    assert {parameter.dtype for parameter in loaded.module.parameters()} == {torch.float32}
    # It runs on the GPU as served, a batch of one camera-like image.
    [found] = engine.infer(loaded, [engine.preprocess(jpeg_bytes(label="scratch"), loaded)])
    assert len(found.boxes) == len(found.labels) == len(found.scores)
