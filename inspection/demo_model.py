"""The demo line's model: a small torchvision classifier trained in seconds on synthetic parts.

Seeded end to end (data, initial weights, batch order), so the same command builds the same
model on any CPU. It exists so the demo runs with no downloads; it is not a production model.
"""

import io
import random
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from inspection.engine import normalised_tensor
from inspection.synthetic import DEMO_LABELS, make_parts

ARCHITECTURE = "mobilenet_v3_small"
INPUT_SIZE = 96
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class TrainedModel:
    artifact: bytes
    accuracy: float


def _tensors(seed: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    parts = make_parts(seed, count, size=(192, 160))
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    images = [normalised_tensor(part.image, INPUT_SIZE, mean, std) for part in parts]
    labels = torch.tensor([DEMO_LABELS.index(part.label) for part in parts])
    return torch.stack(images), labels


def _recalibrate_batch_norm(model: nn.Module, images: torch.Tensor) -> None:
    """Recompute BatchNorm running statistics over the training set.

    torchvision's MobileNetV3 updates them with momentum 0.01, far too slowly for a training
    run of a few hundred steps: left alone, the model in eval mode sees stale statistics and
    predicts one class for everything.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for start in range(0, len(images), 64):
            model(images[start : start + 64])


def train_demo_classifier(*, seed: int = 7, train_count: int = 900, epochs: int = 10) -> TrainedModel:
    torch.manual_seed(seed)
    random.seed(seed)
    train_x, train_y = _tensors(seed, train_count)
    test_x, test_y = _tensors(seed + 1, train_count // 4)
    model = torchvision.models.get_model(ARCHITECTURE, weights=None, num_classes=len(DEMO_LABELS))
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            optimiser.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            optimiser.step()
    _recalibrate_batch_norm(model, train_x)
    model.eval()
    with torch.inference_mode():
        predicted = model(test_x).argmax(dim=1)
    accuracy = float((predicted == test_y).float().mean())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return TrainedModel(artifact=buffer.getvalue(), accuracy=accuracy)
