"""The model registry: record a model version after proving its artifact works; promote a
version to production on its line and roll back, each recorded with who and when."""

import hashlib
import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from inspection.constants import ModelAction, ModelFormat, ModelStage, TaskType
from inspection.errors import KensaError
from inspection.inference import model_check
from inspection.models import InspectionModel, ModelEvent
from lines.models import ProductionLine


def check_artifact(**kwargs: Any) -> None:
    """Check the artifact in this process (for artifacts the system made itself)."""
    _raise_for(model_check.check(**kwargs))


def check_artifact_isolated(**kwargs: Any) -> None:
    """Check an uploaded artifact in a fresh process, killed after KENSA_MODEL_CHECK_SECONDS.

    A spawned (not forked) child: it shares no CUDA state, sockets or locks with this process.
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=model_check.check_into, args=(results, kwargs), daemon=True)
    child.start()
    try:
        problem = results.get(timeout=settings.KENSA_MODEL_CHECK_SECONDS)
    except queue.Empty:
        if child.is_alive():
            raise KensaError(
                "model_check_timeout", f"Loading the model took longer than {settings.KENSA_MODEL_CHECK_SECONDS} s."
            ) from None
        raise KensaError("model_check_crashed", f"Loading the model crashed its process ({child.exitcode}).") from None
    finally:
        child.kill()
        child.join(timeout=10)
    _raise_for(problem)


def _raise_for(problem: model_check.Problem | None) -> None:
    if problem is not None:
        code, message = problem
        raise KensaError(code, message)


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
    format: str = ModelFormat.STATE_DICT,
    task: str = TaskType.CLASSIFICATION,
    line: ProductionLine | None = None,
    checker: Callable[..., None] = check_artifact_isolated,
) -> InspectionModel:
    """Record a new model version as a draft, once its artifact has proved it can serve.

    `checker` is the isolated check by default; code that built the artifact itself (the
    demo model, tests) may check in-process and skip the child's start-up.
    """
    unknown_good = set(good_labels) - set(labels)
    if unknown_good:
        raise KensaError("model_label_mismatch", f"Good labels {sorted(unknown_good)} are not among the labels.")
    checker(
        architecture=architecture, artifact=artifact, labels=labels, input_size=input_size, format=format, task=task
    )
    digest = hashlib.sha256(artifact).hexdigest()
    spec = InspectionModel(
        name=name,
        version=version,
        format=format,
        task=task,
        architecture=architecture,
        sha256=digest,
        labels=labels,
        good_labels=good_labels,
        input_size=input_size,
        mean=mean,
        std=std,
        thresholds=thresholds or {},
        default_threshold=default_threshold,
        line=line,
    )
    spec.artifact.save(f"{name}-{version}-{digest[:12]}.pt", ContentFile(artifact), save=False)
    try:
        spec.full_clean()
        spec.save()
    except Exception:
        spec.artifact.delete(save=False)
        raise
    return spec


@transaction.atomic
def model_promote(*, model: InspectionModel, by: str) -> ModelEvent:
    """Put `model` into production on its line; the version it replaces is retired.

    Workers read the line's model at every inspection and cache models by checksum, so the
    new version serves from the next inspection on, with no restart and no gap.
    """
    if model.line_id is None:
        raise KensaError("model_has_no_line", f"{model} is not registered for a line.")
    line = ProductionLine.objects.select_for_update().get(id=model.line_id)
    previous = line.inspection_model
    if previous is not None and previous.id == model.id:
        raise KensaError("model_already_in_production", f"{model} already serves line {line.code}.")
    return _switch(line=line, to=model, previous=previous, action=ModelAction.PROMOTE, by=by)


@transaction.atomic
def model_rollback(*, line: ProductionLine, by: str) -> ModelEvent:
    """Put back the version that served the line before the current one."""
    line = ProductionLine.objects.select_for_update().get(id=line.id)
    last = ModelEvent.objects.filter(line=line, model_id=line.inspection_model_id).order_by("-at", "-id").first()
    if last is None or last.previous is None:
        raise KensaError("model_no_previous_version", f"Line {line.code} has no earlier model to roll back to.")
    return _switch(line=line, to=last.previous, previous=line.inspection_model, action=ModelAction.ROLLBACK, by=by)


def _switch(
    *, line: ProductionLine, to: InspectionModel, previous: InspectionModel | None, action: str, by: str
) -> ModelEvent:
    if previous is not None:
        InspectionModel.objects.filter(id=previous.id).update(stage=ModelStage.RETIRED)
    InspectionModel.objects.filter(id=to.id).update(stage=ModelStage.PRODUCTION)
    line.inspection_model = to
    line.save(update_fields=["inspection_model"])
    return ModelEvent.objects.create(line=line, action=action, model=to, previous=previous, by=by)
