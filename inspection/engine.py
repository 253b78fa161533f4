"""The inference engine: load a model's artifact, cache it per process, preprocess, run.

torch is imported by this module only, and this module only by workers, lazily: the web
process never pays for it. CUDA is first touched when a worker process loads its first model,
never at import time nor in a forking parent.
"""

import hashlib
import io
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from django.conf import settings
from PIL import Image

from inspection.constants import ErrorCode, ModelFormat
from inspection.models import InspectionModel


class ModelLoadError(Exception):
    """The model's artifact cannot be used; `code` says why (see ErrorCode)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LoadedModel:
    module: torch.nn.Module
    device: torch.device
    input_size: int
    mean: torch.Tensor
    std: torch.Tensor
    half: bool


_cache: dict[str, LoadedModel] = {}
_cache_lock = threading.Lock()


def inference_device() -> torch.device:
    choice = settings.KENSA_INFERENCE_DEVICE
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def load_model(spec: InspectionModel) -> LoadedModel:
    """The model for `spec`, from this process's cache (keyed by the artifact's sha256)."""
    with _cache_lock:
        cached = _cache.get(spec.sha256)
        if cached is None:
            cached = _cache[spec.sha256] = _load_uncached(spec)
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
            module = torchvision.models.get_model(spec.architecture, weights=None, num_classes=len(spec.labels))
            module.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    except Exception as exc:
        raise ModelLoadError(ErrorCode.MODEL_LOAD_FAILED, f"{spec} cannot be built from its artifact: {exc}") from exc
    device = inference_device()
    half = device.type == "cuda"
    module.eval().to(device)
    if half:
        module = module.half().to(memory_format=torch.channels_last)
    return LoadedModel(
        module=module,
        device=device,
        input_size=spec.input_size,
        mean=torch.tensor(spec.mean).view(3, 1, 1),
        std=torch.tensor(spec.std).view(3, 1, 1),
        half=half,
    )


def preprocess(data: bytes, model: LoadedModel) -> torch.Tensor:
    """Decode and resize an image into the model's normalised 3 x S x S input.

    JPEGs are decoded with `draft()` straight to the nearest scale above the input size, which
    skips most of the decode work for a large camera image.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (model.input_size, model.input_size))
        return normalised_tensor(image, model.input_size, model.mean, model.std)


def normalised_tensor(image: Image.Image, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """An image as a model input: RGB, resized to S x S, scaled to [0, 1] and normalised.
    Training (inspection/demo_model.py) uses it too, so models see the same pixels in both."""
    rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    tensor = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(size, size, 3)
    return (tensor.permute(2, 0, 1).float().div_(255.0) - mean) / std


def segment(model: LoadedModel, batch: torch.Tensor) -> list[np.ndarray]:
    """Per-pixel class probabilities (labels x S x S) for a batch of preprocessed images.

    torchvision's segmentation models return {"out": logits}; TorchScript ones may return
    the logits themselves.
    """
    with torch.inference_mode():
        inputs = batch.to(model.device, non_blocking=True)
        if model.half:
            inputs = inputs.half().contiguous(memory_format=torch.channels_last)
        output = model.module(inputs)
        logits = output["out"] if isinstance(output, dict) else output
        probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
    return list(probabilities)


def classify(model: LoadedModel, batch: torch.Tensor) -> list[list[float]]:
    """Class probabilities for a batch of preprocessed images."""
    with torch.inference_mode():
        inputs = batch.to(model.device, non_blocking=True)
        if model.half:
            inputs = inputs.half().contiguous(memory_format=torch.channels_last)
        logits = model.module(inputs)
        probabilities = torch.softmax(logits.float(), dim=1).cpu()
    rows: list[list[float]] = probabilities.tolist()
    return rows
