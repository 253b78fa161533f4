"""Test data: lines, stations, models with known outputs, and images."""

import io
import random
import uuid
from collections.abc import Sequence
from functools import cache

import torch
import torchvision
from PIL import Image
from rest_framework.test import APIClient

from inspection.demo.synthetic import DEMO_GOOD_LABELS, DEMO_LABELS, make_part
from inspection.inference.registry import check_artifact, inspection_model_register
from inspection.inference.worker import Outcome, run_inspections
from inspection.ingest import storage
from inspection.ingest.services import Upload, inspection_stored
from inspection.models import Inspection, InspectionModel
from lines.constants import Priority
from lines.models import ProductionLine, Station
from lines.services import station_create
from results.mes.constants import Scope
from results.mes.models import ApiClient
from results.mes.services import api_client_create

ARCHITECTURE = "mobilenet_v3_small"
INPUT_SIZE = 64


@cache
def _artifact_always(label: str) -> bytes:
    """A real mobilenet_v3_small whose last layer ignores its input and names `label`.

    Its verdicts are known in advance, so tests can check the whole path (load, preprocess,
    forward, thresholds, defects) without training a model.
    """
    torch.manual_seed(0)
    module = torchvision.models.get_model(ARCHITECTURE, weights=None, num_classes=len(DEMO_LABELS))
    head = module.classifier[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([8.0 if name == label else 0.0 for name in DEMO_LABELS]))
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getvalue()


def make_model(*, always: str = "good", version: str | None = None, input_size: int = INPUT_SIZE) -> InspectionModel:
    return inspection_model_register(
        name=f"always-{always}",
        version=version or f"1-{random.randrange(10**9)}",
        architecture=ARCHITECTURE,
        artifact=_artifact_always(always),
        labels=DEMO_LABELS,
        good_labels=DEMO_GOOD_LABELS,
        input_size=input_size,
        mean=[0.5, 0.5, 0.5],
        std=[0.25, 0.25, 0.25],
        checker=check_artifact,  # built here, so checked in-process (no child start-up per test)
    )


def make_line(
    *, code: str | None = None, priority: str = Priority.HIGH, model: InspectionModel | None = None, **fields: object
) -> ProductionLine:
    return ProductionLine.objects.create(
        code=code or f"line-{random.randrange(10**9)}",
        name="Test line",
        priority=priority,
        inspection_model=model if model is not None else make_model(),
        **fields,
    )


def make_station(line: ProductionLine, code: str = "cam-1") -> tuple[Station, str]:
    return station_create(line=line, code=code)


def make_api_client(
    *, scopes: Sequence[str] = tuple(Scope.values), lines: Sequence[ProductionLine] | None = None, name: str = ""
) -> tuple[ApiClient, str]:
    """An API client with its token: every scope and every line unless told otherwise."""
    return api_client_create(
        name=name or f"mes-{random.randrange(10**9)}", scopes=scopes, lines=lines or (), all_lines=lines is None
    )


def mes_api(token: str) -> APIClient:
    """A DRF test client that sends `token` as a bearer token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def jpeg_bytes(*, label: str = "good", size: tuple[int, int] = (320, 256), seed: int = 1) -> bytes:
    return make_part(random.Random(seed), label=label, size=size).jpeg()


def image_bytes(fmt: str, *, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, fmt)
    return buffer.getvalue()


def run_inspection(inspection_id: uuid.UUID) -> Outcome:
    """Run one inspection through the worker as a message of its own would; raise what made
    it give its claim back."""
    report = run_inspections([inspection_id])
    if report.errors:
        raise report.errors[inspection_id]
    return report.outcomes[inspection_id]


def stored_inspection(station: Station, serial: str, *, idempotency_key: str = "", seed: int = 1) -> Inspection:
    """An upload validated and its image stored, as the door does before its group write:
    the row is built, not yet inserted."""
    image = jpeg_bytes(seed=seed)
    upload = Upload(io.BytesIO(image), len(image), serial, None, idempotency_key=idempotency_key)
    return inspection_stored(station, upload, storage.sha256_of(upload.stream))
