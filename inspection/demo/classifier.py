"""The demo line's classifier: a small torchvision model trained in about a minute and a half
on the CPU. The pieces both demo models share live here too.

Seeded end to end (data, initial weights, batch order, flips) and trained on a fixed number of
threads, so the same command builds the same artifact, byte for byte, wherever the software and
the kind of CPU are the same. It exists so the demo runs with no downloads; it is not a
production model.
"""

import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from inspection.constants import TaskType
from inspection.demo.scores import ClassScore, class_scores
from inspection.demo.synthetic import DATASET_VERSION, DEMO_LABELS, SyntheticPart, make_dataset
from inspection.inference.engine import normalised_tensor
from inspection.inference.model_check import build_architecture

ARCHITECTURE = "mobilenet_v3_small"
INPUT_SIZE = 128
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
# Bump it whenever the training changes; with the data set's version and the seed it makes
# the registered version, so a changed recipe never reuses an old model.
RECIPE = 3
PART_SIZE = (320, 256)  # parts are drawn at this size, then decoded as a worker would
# Small batches: more steps for the same CPU time, which a model learning from scratch needs.
BATCH_SIZE = 16
# Threads split float sums differently, so their number changes the trained weights (measured:
# one thread and two give different artifacts). Two: what the demo's smallest machine has.
TRAINING_THREADS = 2


@dataclass(frozen=True)
class TrainedModel:
    artifact: bytes
    scores: list[ClassScore]


def model_version(seed: int) -> str:
    return f"{RECIPE}.0-data{DATASET_VERSION}-seed{seed}"


@contextmanager
def reproducible(seed: int) -> Iterator[torch.Generator]:
    """Seed torch and `random`, train on TRAINING_THREADS threads, and give the generator that
    orders and flips the batches; the process's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAINING_THREADS)
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(threads)


def served_input(part: SyntheticPart, size: int) -> torch.Tensor:
    """The input a worker makes of this part's JPEG upload: JPEG artefacts, the same reduced
    decode (`draft`, as engine.preprocess does) and the same resize, so no pixel differs."""
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    with Image.open(io.BytesIO(part.jpeg())) as image:
        image.draft("RGB", (size, size))
        return normalised_tensor(image, size, mean, std)


def served_mask(part: SyntheticPart, size: int) -> torch.Tensor:
    """The part's mask at the model's size: a model pixel takes a defect's label where the
    defect covers at least a quarter of it, so thin scratches and cracks stay unbroken."""
    target = np.zeros((size, size), dtype=np.int64)
    for index in np.unique(part.mask[part.mask > 0]):
        shape = Image.fromarray(((part.mask == index) * 255).astype(np.uint8), "L")
        coverage = np.asarray(shape.resize((size, size), Image.Resampling.BOX))
        target[coverage >= 64] = index
    return torch.from_numpy(target)


def random_flips(images: torch.Tensor, generator: torch.Generator, *masks: torch.Tensor) -> list[torch.Tensor]:
    """Mirror each image (and its mask) left-right and up-down at random: defects have no
    preferred side, and the model sees four times as many distinct parts."""
    flipped = [images.clone(), *(mask.clone() for mask in masks)]
    for dim in (-1, -2):
        chosen = torch.rand(len(images), generator=generator) < 0.5
        for tensor in flipped:
            tensor[chosen] = tensor[chosen].flip(dim)
    return flipped


def recalibrate_batch_norm(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> None:
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
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])
    model.eval()


def train_demo_classifier(
    *, seed: int = 7, count: int = 1250, epochs: int = 16, splits: dict[str, list[SyntheticPart]] | None = None
) -> TrainedModel:
    """Train on four fifths of `count` synthetic parts; score on the held-out fifth. `splits`
    trains on a data set read from a directory instead (inspection.demo.dataset: an export of
    QA's reviews), on its own train and test splits.

    The same seed gives different weights on different processors (torch's CPU kernels round
    differently), so the epochs leave a margin: 12 were not enough on every machine
    (docs/performance.md#demo-model-training)."""
    if splits is None:
        splits = make_dataset(seed, count, size=PART_SIZE)
    train_x = torch.stack([served_input(part, INPUT_SIZE) for part in splits["train"]])
    train_y = torch.tensor([DEMO_LABELS.index(part.label) for part in splits["train"]])
    test_x = torch.stack([served_input(part, INPUT_SIZE) for part in splits["test"]]) if splits["test"] else None
    with reproducible(seed) as generator:
        model = build_architecture(ARCHITECTURE, len(DEMO_LABELS), TaskType.CLASSIFICATION)
        fit(
            model,
            train_x,
            train_y,
            loss_fn=nn.CrossEntropyLoss(),
            learning_rate=2e-3,
            epochs=epochs,
            generator=generator,
        )
        recalibrate_batch_norm(model, train_x)
        with torch.inference_mode():
            predicted = model(test_x).argmax(dim=1).tolist() if test_x is not None else []
    scores = class_scores(
        DEMO_LABELS, [{part.label} for part in splits["test"]], [{DEMO_LABELS[index]} for index in predicted]
    )
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return TrainedModel(artifact=buffer.getvalue(), scores=scores)


def fit(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss_fn: nn.Module,
    learning_rate: float,
    epochs: int,
    generator: torch.Generator,
) -> None:
    """AdamW with a one-cycle schedule over shuffled, randomly flipped batches. `targets` is a
    label per image (classification) or a mask per image, which is flipped with its image."""
    steps_per_epoch = -(-len(images) // BATCH_SIZE)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=learning_rate, total_steps=epochs * steps_per_epoch
    )
    masks = targets.ndim > 1
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            if masks:
                flipped, batch_targets = random_flips(images[batch], generator, targets[batch])
            else:
                [flipped], batch_targets = random_flips(images[batch], generator), targets[batch]
            output = model(flipped)
            logits = output["out"] if isinstance(output, dict) else output  # segmentation: {"out": …}
            optimiser.zero_grad()
            loss_fn(logits, batch_targets).backward()
            optimiser.step()
            schedule.step()
