"""The model registry: record a model version after proving its artifact works."""

import hashlib
import io
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.db import transaction
from rest_framework import status

from config.errors import ApiError
from inspection.models import InspectionModel

if TYPE_CHECKING:
    import torch


def check_artifact(*, architecture: str, artifact: bytes, labels: list[str], input_size: int) -> None:
    """Build the architecture, load the state dict strictly and run one blank image through it.

    Raises ApiError naming what is wrong: not a state dict, wrong architecture, or an output
    that does not match the declared labels.
    """
    import torch
    import torchvision

    try:
        module = torchvision.models.get_model(architecture, weights=None, num_classes=len(labels))
    except ValueError:
        raise ApiError("model_architecture_unknown", f"torchvision has no model named {architecture!r}.") from None
    try:
        state = torch.load(io.BytesIO(artifact), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ApiError("model_file_invalid", f"The file is not a PyTorch state dict: {exc}") from None
    if not _loads_into(module, state):
        outputs = _output_count(state)
        if outputs is not None and outputs != len(labels):
            fits_otherwise = torchvision.models.get_model(architecture, weights=None, num_classes=outputs)
            if _loads_into(fits_otherwise, state):
                raise ApiError(
                    "model_label_mismatch",
                    f"The model has {outputs} outputs but {len(labels)} labels were declared.",
                )
        raise ApiError("model_architecture_mismatch", f"The weights do not fit {architecture}.")
    module.eval()
    with torch.inference_mode():
        output = module(torch.zeros(1, 3, input_size, input_size))
    if tuple(output.shape) != (1, len(labels)):
        raise ApiError(
            "model_label_mismatch",
            f"The model gives {tuple(output.shape)[1:]} outputs for {len(labels)} labels.",
            status.HTTP_400_BAD_REQUEST,
        )


def _loads_into(module: "torch.nn.Module", state: object) -> bool:
    try:
        module.load_state_dict(state)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, AttributeError):
        return False
    return True


def _output_count(state: object) -> int | None:
    """The size of the last bias in the state dict: a classifier head's number of outputs."""
    if not isinstance(state, dict):
        return None
    biases = [value for key, value in state.items() if str(key).endswith(".bias") and getattr(value, "ndim", 0) == 1]
    return int(biases[-1].shape[0]) if biases else None


@transaction.atomic
def inspection_model_register(
    *,
    name: str,
    version: str,
    architecture: str,
    artifact: bytes,
    labels: list[str],
    good_labels: list[str],
    input_size: int,
    mean: list[float],
    std: list[float],
    thresholds: dict[str, float] | None = None,
    default_threshold: float = 0.5,
) -> InspectionModel:
    unknown_good = set(good_labels) - set(labels)
    if unknown_good:
        raise ApiError("model_label_mismatch", f"Good labels {sorted(unknown_good)} are not among the labels.")
    check_artifact(architecture=architecture, artifact=artifact, labels=labels, input_size=input_size)
    digest = hashlib.sha256(artifact).hexdigest()
    spec = InspectionModel(
        name=name,
        version=version,
        architecture=architecture,
        sha256=digest,
        labels=labels,
        good_labels=good_labels,
        input_size=input_size,
        mean=mean,
        std=std,
        thresholds=thresholds or {},
        default_threshold=default_threshold,
    )
    spec.artifact.save(f"{name}-{version}-{digest[:12]}.pt", ContentFile(artifact), save=False)
    spec.full_clean()
    spec.save()
    return spec
