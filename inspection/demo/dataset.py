"""Read a data set from a directory in the layout `generate_dataset` writes (and `export_dataset`
writes from QA's reviews), for the demo models' training."""

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from inspection.demo.synthetic import DEMO_LABELS, SyntheticPart


class DatasetError(ValueError):
    """The directory holds no data set the demo models can learn from."""


def dataset_digest(directory: Path) -> str:
    """A short digest of the manifest, which names every file: it tells data sets apart in the
    trained model's version."""
    return hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()[:12]


def read_dataset(directory: Path) -> dict[str, list[SyntheticPart]]:
    """The parts of each split, decoded; a part without a mask gets an empty one (classifiers
    need none). The labels must be the demo models' own, in their order: a label's index is its
    class."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as problem:
        raise DatasetError(f"{directory} has no readable manifest.json ({problem}).") from None
    if manifest.get("labels") != DEMO_LABELS:
        raise DatasetError(f"The data set's labels {manifest.get('labels')} are not the demo's {DEMO_LABELS}.")
    splits: dict[str, list[SyntheticPart]] = {"train": [], "test": []}
    for entry in manifest["parts"]:
        with Image.open(directory / entry["file"]) as opened:
            image = opened.convert("RGB")
        if entry.get("mask"):
            with Image.open(directory / entry["mask"]) as mask_image:
                mask = np.asarray(mask_image.convert("L"), dtype=np.uint8)
        else:
            mask = np.zeros((image.height, image.width), dtype=np.uint8)
        part = SyntheticPart(image=image, label=entry["label"], surface=entry.get("surface", ""), mask=mask)
        splits[entry["split"]].append(part)
    if not splits["train"]:
        raise DatasetError("The data set has no training part.")
    return splits
