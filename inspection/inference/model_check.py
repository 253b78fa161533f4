"""Prove that a model artifact can serve: build it, load it strictly, run a blank image.

Pure torch, no Django: the registry runs `check` in a separate process with a time limit, so
a file that hangs, exhausts memory or crashes the interpreter takes down only that process.
Returns None when the artifact is good, else `(error code, sentence)`.
"""

import io
from typing import Any

Problem = tuple[str, str]


def check(
    *,
    architecture: str,
    artifact: bytes,
    labels: list[str],
    input_size: int,
    format: str = "state_dict",
    task: str = "classification",
) -> Problem | None:
    import torch

    if format == "torchscript":
        return _check_torchscript(artifact, labels, input_size, task)
    try:
        module = build_architecture(architecture, len(labels), task)
    except ValueError:
        return "model_architecture_unknown", f"torchvision has no model named {architecture!r}."
    try:
        state = torch.load(io.BytesIO(artifact), map_location="cpu", weights_only=True)
    except Exception as exc:
        return "model_file_invalid", f"The file is not a PyTorch state dict: {exc}"
    if not _loads_into(module, state):
        outputs = _output_count(state)
        if (
            outputs is not None
            and outputs != len(labels)
            and _loads_into(build_architecture(architecture, outputs, task), state)
        ):
            return "model_label_mismatch", f"The model has {outputs} outputs but {len(labels)} labels were declared."
        if _differs_in_shapes_only(module, state):
            # Every layer is there, some heads are sized differently: the architecture is right
            # and the number of classes is not (a detection head's size is classes x anchors).
            return (
                "model_label_mismatch",
                f"The weights fit {architecture} but not its head for {len(labels)} labels.",
            )
        return "model_architecture_mismatch", f"The weights do not fit {architecture}."
    return _check_outputs(module.eval(), labels, input_size, task)


def _check_torchscript(artifact: bytes, labels: list[str], input_size: int, task: str) -> Problem | None:
    import torch

    try:
        module = torch.jit.load(io.BytesIO(artifact), map_location="cpu")
    except Exception as exc:
        return "model_file_invalid", f"The file is not a TorchScript archive: {exc}"
    return _check_outputs(module.eval(), labels, input_size, task)


def build_architecture(architecture: str, outputs: int, task: str) -> Any:
    """A torchvision architecture with random weights and `outputs` classes. Segmentation and
    detection models get no pretrained backbone either (torchvision would download one): the
    artifact is the only source of weights. The engine and the demo's training build with it."""
    import torchvision

    if task != "classification":
        return torchvision.models.get_model(architecture, weights=None, weights_backbone=None, num_classes=outputs)
    return torchvision.models.get_model(architecture, weights=None, num_classes=outputs)


def _check_outputs(module: object, labels: list[str], input_size: int, task: str) -> Problem | None:
    import torch

    blank = torch.zeros(1, 3, input_size, input_size)
    try:
        with torch.inference_mode():
            output = module(list(blank) if task == "detection" else blank)  # type: ignore[operator]
    except Exception as exc:
        return "model_forward_failed", f"The model fails on a blank {input_size}x{input_size} image: {exc}"
    if task == "detection":
        return _check_detections(output, labels)
    if task == "segmentation":
        # A score map per label at the input's size; torchvision's models wrap it in {"out": …}.
        output = output["out"] if isinstance(output, dict) else output
        expected: tuple[int, ...] = (1, len(labels), input_size, input_size)
    else:
        expected = (1, len(labels))
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        shape = tuple(output.shape)[1:] if isinstance(output, torch.Tensor) else type(output).__name__
        return "model_label_mismatch", f"The model gives {shape} outputs; {expected[1:]} were expected."
    return None


def _check_detections(output: object, labels: list[str]) -> Problem | None:
    """A detector answers a list with one {boxes, labels, scores} per image; a scripted
    torchvision detector answers (losses, that list)."""
    import torch

    if isinstance(output, tuple) and len(output) == 2:
        output = output[1]
    if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict)):
        return "model_label_mismatch", "A detection model must answer one {boxes, labels, scores} per image."
    found = output[0]
    if not all(isinstance(found.get(key), torch.Tensor) for key in ("boxes", "labels", "scores")):
        return "model_label_mismatch", "A detection model must answer boxes, labels and scores."
    if found["boxes"].ndim != 2 or found["boxes"].shape[-1] != 4:
        return "model_label_mismatch", f"Boxes have shape {tuple(found['boxes'].shape)}; k x 4 was expected."
    if found["labels"].numel() and int(found["labels"].max()) >= len(labels):
        return "model_label_mismatch", f"The model answers label {int(found['labels'].max())}; {len(labels)} declared."
    return None


def _differs_in_shapes_only(module: object, state: object) -> bool:
    if not isinstance(state, dict):
        return False
    expected = module.state_dict()  # type: ignore[attr-defined]
    if set(expected) != set(state):
        return False
    return any(tuple(expected[key].shape) != tuple(getattr(state[key], "shape", ())) for key in expected)


def check_into(results: "object", kwargs: dict[str, object]) -> None:
    """Child process entry point: put check's answer on the `results` queue."""
    results.put(check(**kwargs))  # type: ignore[attr-defined, arg-type]


def _loads_into(module: object, state: object) -> bool:
    try:
        module.load_state_dict(state)  # type: ignore[attr-defined]
    except (RuntimeError, TypeError, AttributeError):
        return False
    return True


def _output_count(state: object) -> int | None:
    """The size of the last bias in the state dict: a classifier head's number of outputs."""
    if not isinstance(state, dict):
        return None
    biases = [value for key, value in state.items() if str(key).endswith(".bias") and getattr(value, "ndim", 0) == 1]
    return int(biases[-1].shape[0]) if biases else None
