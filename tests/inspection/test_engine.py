"""The engine serves torchvision models as traced graphs (no GIL between layers), with the
answers of the eager model, and keeps a model eager when its trace would answer differently."""

import io
import logging
import os
import random
import warnings

import pytest
import torch
import torchvision

from inspection.demo.synthetic import DEMO_GOOD_LABELS, DEMO_LABELS
from inspection.inference import engine
from inspection.inference.model_check import build_architecture
from inspection.inference.registry import check_artifact, inspection_model_register
from tests.factories import jpeg_bytes


def _random_weights(seed: int = 3) -> bytes:
    torch.manual_seed(seed)
    module = torchvision.models.get_model("mobilenet_v3_small", weights=None, num_classes=len(DEMO_LABELS))
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_torchvision_model_is_served_as_a_graph_with_the_eager_models_answers(settings):
    # On the CPU, in float32, as the eager model below; test_engine_cuda covers a GPU's half precision.
    settings.KENSA_INFERENCE_DEVICE = "cpu"
    artifact = _random_weights()
    spec = inspection_model_register(
        name="random",
        version=f"1-{random.randrange(10**9)}",
        architecture="mobilenet_v3_small",
        artifact=artifact,
        labels=DEMO_LABELS,
        good_labels=DEMO_GOOD_LABELS,
        input_size=64,
        mean=[0.5, 0.4, 0.3],
        std=[0.2, 0.25, 0.3],
        checker=check_artifact,
    )
    loaded = engine.load_model(spec)
    assert isinstance(loaded.module, torch.jit.ScriptModule)

    images = [jpeg_bytes(label=label, seed=n) for n, label in enumerate(["good", "scratch", "spot"])]
    pixels = [engine.preprocess(image, loaded) for image in images]
    assert all(p.dtype == torch.uint8 and p.shape == (3, 64, 64) for p in pixels)
    served = torch.tensor(engine.infer(loaded, pixels))

    eager = build_architecture("mobilenet_v3_small", len(DEMO_LABELS), "classification").eval()
    eager.load_state_dict(torch.load(io.BytesIO(artifact), weights_only=True))
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1)
    with torch.no_grad():
        expected = torch.softmax(eager(torch.stack([engine.normalise(p, mean, std) for p in pixels])), dim=1)
    assert (served - expected).abs().max() < engine.TRACE_TOLERANCE


def test_torch_threads_default_to_half_the_cpus_the_worker_may_use(settings):
    settings.KENSA_TORCH_THREADS = 0
    assert engine.torch_threads() == max(1, len(os.sched_getaffinity(0)) // 2)
    settings.KENSA_TORCH_THREADS = 3
    assert engine.torch_threads() == 3


@pytest.mark.django_db
def test_loading_a_model_gives_the_forward_pass_its_threads(settings):
    settings.KENSA_TORCH_THREADS = 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        spec = inspection_model_register(
            name="threads",
            version=f"1-{random.randrange(10**9)}",
            architecture="mobilenet_v3_small",
            artifact=_random_weights(seed=random.randrange(10**9)),  # not in the cache yet
            labels=DEMO_LABELS,
            good_labels=DEMO_GOOD_LABELS,
            input_size=32,
            mean=[0.5] * 3,
            std=[0.25] * 3,
            checker=check_artifact,
        )
        engine.load_model(spec)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _served(module: torch.nn.Module) -> engine.Served:
    """As the engine serves a classifier: uint8 pixels in, probabilities out, eval mode."""
    return engine.Served(module, [0.5] * 3, [0.25] * 3, half=False, channels_last=False, task="classification").eval()


class DoublesLoneImages(torch.nn.Module):
    """Python control flow on the batch size: a trace made with one image keeps the branch."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = images.mean(dim=(2, 3))
        return logits * 2 if images.shape[0] == 1 else logits


def test_a_model_whose_trace_answers_differently_stays_eager(caplog):
    module = _served(DoublesLoneImages())
    with caplog.at_level(logging.WARNING, logger="inspection.inference.engine"):
        served = engine.as_graph(module, "doubles@1", 8, torch.device("cpu"))
    assert served is module
    assert "tracing failed: traced outputs differ" in caplog.text


def test_a_model_that_cannot_be_traced_stays_eager(caplog):
    class ComputesInPython(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            # Through Python floats: a trace keeps the example's answer as a constant.
            return torch.tensor(images.mean(dim=(2, 3)).tolist())

    module = _served(ComputesInPython())
    with caplog.at_level(logging.WARNING, logger="inspection.inference.engine"):
        served = engine.as_graph(module, "in-python@1", 8, torch.device("cpu"))
    assert served is module
    assert "runs eagerly, slower under load: tracing failed" in caplog.text
    assert "eval mode" not in caplog.text
    # Served eagerly, it answers for every image of a batch.
    pixels = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    assert served(pixels).shape == (4, 3)


def test_two_models_loading_at_once_are_both_served_as_graphs(caplog):
    """Two lines' models load in two worker threads at the same time."""
    import threading

    modules = [
        _served(torchvision.models.get_model(name, weights=None, num_classes=3).eval())
        for name in ("mobilenet_v3_small", "resnet18")
    ]
    served: dict[int, torch.nn.Module] = {}

    def load(n: int) -> None:
        served[n] = engine.as_graph(modules[n], f"model-{n}", 32, torch.device("cpu"))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(2)]
    with caplog.at_level(logging.WARNING, logger="inspection.inference.engine"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert all(isinstance(served[n], torch.jit.ScriptModule) for n in range(2)), caplog.text


def test_a_served_graph_keeps_running_the_kernels_it_was_checked_with():
    """On CUDA, a few runs after the check at load, TorchScript's profiling executor would
    compile fused kernels for the shapes it has seen: they answer a little differently from
    the checked graph, and each new batch size compiles again. CPU fusion is switched on here
    to stand in for CUDA's default (this torch has no CPU fuser backend: an attempt to fuse
    fails outright), and the process starts from torch's default fusion strategy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.14 marks TorchScript's switches deprecated
        torch.jit.set_fusion_strategy([("STATIC", 2), ("DYNAMIC", 10)])
    torch._C._jit_override_can_fuse_on_cpu(True)
    try:
        module = _served(torchvision.models.get_model("mobilenet_v3_small", weights=None, num_classes=3).eval())
        served = engine.as_graph(module, "unfused@1", 32, torch.device("cpu"))
        assert isinstance(served, torch.jit.ScriptModule)
        with torch.no_grad():
            for batch_size in (1, 1, 1, 3, 3, 3, 3, 8, 8, 8, 8):
                pixels = torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8)
                assert (served(pixels) - module(pixels)).abs().max() < engine.TRACE_TOLERANCE
        assert "prim::TensorExprGroup" not in str(torch.jit.last_executed_optimized_graph())
    finally:
        torch._C._jit_override_can_fuse_on_cpu(False)
