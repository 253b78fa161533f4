"""Prove that a model artifact can serve: build it, load it strictly, run a blank image.

Pure torch, no Django: the registry runs `check` in a separate process with a time limit, so
a file that hangs, exhausts memory or crashes the interpreter takes down only that process.
Returns None when the artifact is good, else `(error code, sentence)`.
"""

import io

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
    import torchvision

    if format == "torchscript":
        return _check_torchscript(artifact, labels, input_size, task)
    try:
        module = torchvision.models.get_model(architecture, weights=None, num_classes=len(labels))
    except ValueError:
        return "model_architecture_unknown", f"torchvision has no model named {architecture!r}."
    try:
        state = torch.load(io.BytesIO(artifact), map_location="cpu", weights_only=True)
    except Exception as exc:
        return "model_file_invalid", f"The file is not a PyTorch state dict: {exc}"
    if not _loads_into(module, state):
        outputs = _output_count(state)
        if outputs is not None and outputs != len(labels):
            fits_otherwise = torchvision.models.get_model(architecture, weights=None, num_classes=outputs)
            if _loads_into(fits_otherwise, state):
                return (
                    "model_label_mismatch",
                    f"The model has {outputs} outputs but {len(labels)} labels were declared.",
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


def _check_outputs(module: object, labels: list[str], input_size: int, task: str) -> Problem | None:
    import torch

    try:
        with torch.inference_mode():
            output = module(torch.zeros(1, 3, input_size, input_size))  # type: ignore[operator]
    except Exception as exc:
        return "model_forward_failed", f"The model fails on a blank {input_size}x{input_size} image: {exc}"
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
