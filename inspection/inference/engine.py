"""The inference engine: load a model's artifact, cache it per process, preprocess, run.

torch is imported by this module only, and this module only by workers, lazily: the web
process never pays for it. CUDA is first touched when a worker process loads its first model,
never at import time nor in a forking parent.
"""

import hashlib
import io
import logging
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from django.conf import settings
from PIL import Image

from inspection.constants import ErrorCode, ModelFormat, TaskType
from inspection.inference.model_check import build_architecture
from inspection.inference.verdicts import Detections
from inspection.models import InspectionModel

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The model's artifact cannot be used; `code` says why (see ErrorCode)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LoadedModel:
    # Served whole: a batch of uint8 pixels (N x 3 x S x S, on `device`) in, the task's answer
    # out (see `Served`), so a forward pass is one call.
    module: torch.nn.Module
    sha256: str
    task: str
    device: torch.device
    input_size: int


# Most recently used last. A batch holds its own reference to its model, so evicting an
# entry never pulls a model from under a forward pass; a new version is loaded (in its own
# lock) while the old one keeps serving, and the old one leaves only once it is the least
# recently used of more than KENSA_MODEL_CACHE_SIZE.
_cache: "OrderedDict[str, LoadedModel]" = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}


def torch_threads() -> int:
    """Threads for one forward pass on the CPU (KENSA_TORCH_THREADS; see settings)."""
    if settings.KENSA_TORCH_THREADS:
        return int(settings.KENSA_TORCH_THREADS)
    return max(1, len(os.sched_getaffinity(0)) // 2)


def inference_device() -> torch.device:
    choice = settings.KENSA_INFERENCE_DEVICE
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def load_model(spec: InspectionModel) -> LoadedModel:
    """The model for `spec`, from this process's cache (keyed by the artifact's sha256).

    Loading one version blocks only the threads that need that version: the others go on
    with the models already cached."""
    cached = _cached(spec.sha256)
    if cached is not None:
        return cached
    with _cache_lock:
        load_lock = _load_locks.setdefault(spec.sha256, threading.Lock())
    with load_lock:
        cached = _cached(spec.sha256)
        if cached is None:
            cached = _load_uncached(spec)
            with _cache_lock:
                _cache[spec.sha256] = cached
                while len(_cache) > settings.KENSA_MODEL_CACHE_SIZE:
                    evicted, _ = _cache.popitem(last=False)
                    _load_locks.pop(evicted, None)
        return cached


def _cached(sha256: str) -> LoadedModel | None:
    with _cache_lock:
        cached = _cache.get(sha256)
        if cached is not None:
            _cache.move_to_end(sha256)
        return cached


def _load_uncached(spec: InspectionModel) -> LoadedModel:
    try:
        with spec.artifact.open("rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ModelLoadError(
            ErrorCode.MODEL_LOAD_FAILED, f"artifact {spec.artifact.name} cannot be read: {exc}"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ModelLoadError(ErrorCode.MODEL_CHECKSUM_MISMATCH, f"artifact sha256 {digest} != recorded {spec.sha256}")
    try:
        if spec.format == ModelFormat.TORCHSCRIPT:
            module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        else:
            module = build_architecture(spec.architecture, len(spec.labels), spec.task)
            module.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    except Exception as exc:
        raise ModelLoadError(ErrorCode.MODEL_LOAD_FAILED, f"{spec} cannot be built from its artifact: {exc}") from exc
    torch.set_num_threads(torch_threads())  # before the first forward pass; global to the process
    device = inference_device()
    # Channels-last pays on the CPU too: oneDNN's convolutions run the demo classifier more than
    # twice as fast in it (docs/performance.md#inference). Half
    # precision pays on a GPU only. Detection models stay as they are, in float32: their box
    # decoding and non-maximum suppression lose boxes in half precision.
    half = device.type == "cuda" and spec.task != TaskType.DETECTION
    channels_last = spec.task != TaskType.DETECTION
    module.eval().to(device)
    if half:
        module = module.half()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    # torchvision's detection models normalise their input themselves: they get [0, 1] pixels.
    mean, std = (spec.mean, spec.std) if spec.task != TaskType.DETECTION else ([0.0] * 3, [1.0] * 3)
    served: torch.nn.Module = Served(module, mean, std, half=half, channels_last=channels_last, task=spec.task)
    served = served.to(device).eval()
    if spec.task != TaskType.DETECTION:
        served = as_graph(served, str(spec), spec.input_size, device)
    return LoadedModel(module=served, sha256=spec.sha256, task=spec.task, device=device, input_size=spec.input_size)


class Served(torch.nn.Module):
    """A model as the worker runs it: a batch of uint8 pixels in, normalised here, and the
    task's answer out: probabilities per label for classification, per label and pixel for
    segmentation; detections as the model gives them.

    Why whole: PyTorch gives up the GIL inside each operation and must take it back after,
    while the worker's other threads hold it for Python work. The normalising and softmax
    steps, called one by one from Python, cost the batch thread long GIL waits every batch
    (docs/performance.md#inference); inside the traced graph they cost nothing more than the
    layers around them.
    """

    mean: torch.Tensor  # buffers: they move with the module to its device
    std: torch.Tensor

    def __init__(
        self,
        module: torch.nn.Module,
        mean: list[float],
        std: list[float],
        *,
        half: bool,
        channels_last: bool,
        task: str,
    ):
        super().__init__()
        self.module = module
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1))
        self.half_precision = half
        self.channels_last = channels_last
        self.task = task

    def forward(self, pixels: torch.Tensor) -> Any:
        inputs = normalise(pixels, self.mean, self.std)
        if self.half_precision:
            inputs = inputs.half()
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.task == TaskType.DETECTION:
            return self.module(list(inputs))
        return torch.softmax(_logits(self.module(inputs)).float(), dim=1)


_trace_lock = threading.Lock()

# Traced outputs may differ from eager ones by float rounding (freezing folds batch norms into
# convolutions); anything more means the trace took a wrong turn.
TRACE_TOLERANCE = 1e-4
# Half precision (CUDA) keeps about three decimal digits, so folding batch norms into its weights
# rounds them visibly: enough to refuse every half-precision trace at the float32 bound, which
# left the GPU serving eagerly, many times slower beside a busy Python thread
# (docs/performance.md#inference-on-a-gpu). Half-precision graphs are frozen without
# folding and run unfused (`_serve_unfused`), so they run the eager model's own kernels and
# answer as it does. The bound leaves room for rounding a kernel may still do
# differently, well under what a wrong turn causes.
HALF_TRACE_TOLERANCE = 2e-3


def _serve_unfused() -> None:
    """Keep TorchScript's fusers out of served graphs, in this (worker) process.

    On CUDA the profiling executor compiles fused kernels for the shapes a graph has seen, a
    few runs after the graph's check at load: the served answers then moved away from the
    checked ones, and every new batch size (a worker's batches vary from 1 to
    KENSA_BATCH_SIZE) meant another compilation in the middle of serving. The GPU is not what
    limits a worker (its host's CPU is, docs/performance.md#inference-on-a-gpu), so the
    answers checked at load are the ones served. On the CPU TorchScript fuses nothing unless
    asked to, so nothing changes there."""
    torch.jit.set_fusion_strategy([("STATIC", 0), ("DYNAMIC", 0)])


def as_graph(module: torch.nn.Module, name: str, input_size: int, device: torch.device) -> torch.nn.Module:
    """A `Served` module as a frozen TorchScript graph, or the module itself if tracing fails.

    Why: eager PyTorch gives up the GIL inside each layer and takes it back between layers,
    and a worker's other threads (decoding, database rounds, Celery) hold it for Python work.
    So an eager forward pass waits for the GIL at every layer, and beside one busy Python
    thread takes many times as long as alone. A traced graph runs all its layers in C++
    without the GIL, as fast beside such a thread (docs/performance.md#inference).

    Detection models stay eager (their outputs vary in size per image, which a trace cannot
    follow). A TorchScript archive is traced too, inside its `Served` wrapper. The trace is
    checked against the eager module on three batch sizes before it is used.
    """

    def example(batch_size: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(batch_size)
        pixels = torch.randint(0, 256, (batch_size, 3, input_size, input_size), generator=generator)
        return pixels.to(device=device, dtype=torch.uint8)

    half = bool(getattr(module, "half_precision", False))
    tolerance = HALF_TRACE_TOLERANCE if half else TRACE_TOLERANCE
    try:
        # The tracer's state is per process: two models traced at once (two lines' models
        # loading in two threads) tangled each other's graphs. Loads are rare; one at a time.
        with _trace_lock, torch.no_grad(), warnings.catch_warnings():
            # torch 2.14 marks jit.trace deprecated in favour of torch.export and torch.compile,
            # which need a C++ toolchain at load time; TracerWarnings are covered by the check.
            warnings.simplefilter("ignore")
            _serve_unfused()
            # torch's own check_trace compares the graph's text, value names included; the
            # outputs are compared below instead.
            trace = torch.jit.trace(module, example(1), strict=False, check_trace=False)
            # Folding batch norms into half-precision weights rounds them (see HALF_TRACE_TOLERANCE).
            traced = torch.jit.freeze(trace, optimize_numerics=not half)
            for batch_size in (1, 3, 32):
                inputs = example(batch_size)
                difference = _largest_difference(traced(inputs), module(inputs))
                if not difference <= tolerance:
                    raise ValueError(f"traced outputs differ from eager ones by {difference:.2g}")
    except Exception as exc:
        logger.warning("Model %s runs eagerly, slower under load: tracing failed: %s", name, exc)
        return module
    return traced


def _logits(output: Any) -> torch.Tensor:
    # torchvision's segmentation models return {"out": logits}; TorchScript ones may
    # return the logits themselves.
    return output["out"] if isinstance(output, dict) else output


def _largest_difference(traced: torch.Tensor, eager: torch.Tensor) -> float:
    # Compared as probabilities (what `Served` answers), what verdicts are made of.
    if traced.shape != eager.shape:
        raise ValueError(f"traced output has shape {tuple(traced.shape)}, eager {tuple(eager.shape)}")
    return float((traced - eager).abs().max())


def preprocess(data: bytes, model: LoadedModel) -> torch.Tensor:
    """Decode and resize an image into the model's 3 x S x S input pixels (uint8); `infer`
    normalises them a batch at a time.

    JPEGs are decoded with `draft()` straight to the nearest scale above the input size, which
    skips most of the decode work for a large camera image.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (model.input_size, model.input_size))
        return resized_pixels(image, model.input_size)


def resized_pixels(image: Image.Image, size: int) -> torch.Tensor:
    """An image's RGB pixels resized to S x S, as a 3 x S x S uint8 tensor."""
    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)


def normalise(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (3 x S x S, or a batch of them) scaled to [0, 1] and normalised."""
    return (pixels.float().div_(255.0) - mean) / std


def normalised_tensor(image: Image.Image, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """An image as a model input. Training (inspection/demo/classifier.py) uses it, so models see
    the same pixels there as in `infer`: the same steps, elementwise, so batching changes none."""
    return normalise(resized_pixels(image, size), mean, std)


def infer(model: LoadedModel, tensors: list[torch.Tensor]) -> list[Any]:
    """One forward pass over preprocessed images, each answer as its task gives it:
    classification a list of probabilities, segmentation a labels x S x S array of
    probabilities, detection `Detections`."""
    with torch.inference_mode():
        pixels = torch.stack(tensors)
        if model.device.type == "cuda":
            # uint8 crosses to the GPU (a quarter of float32's bytes) and is normalised there.
            pixels = pixels.pin_memory().to(model.device, non_blocking=True)
        answers = model.module(pixels)
        if model.task == TaskType.DETECTION:
            return _detections(answers)
        probabilities = answers.cpu()
    if model.task == TaskType.SEGMENTATION:
        return list(probabilities.numpy())
    rows: list[list[float]] = probabilities.tolist()
    return rows


def _detections(output: Any) -> list[Detections]:
    # A scripted torchvision detector returns (losses, detections) instead of detections.
    if isinstance(output, tuple):
        output = output[1]
    return [
        Detections(
            boxes=found["boxes"].float().cpu().numpy().reshape(-1, 4),
            labels=found["labels"].cpu().numpy(),
            scores=found["scores"].float().cpu().numpy(),
        )
        for found in output
    ]
