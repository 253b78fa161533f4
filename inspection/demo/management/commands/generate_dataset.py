"""Write the demo's synthetic data set to a directory, for training or inspecting elsewhere."""

import json
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inspection.demo.synthetic import DATASET_VERSION, DEMO_GOOD_LABELS, DEMO_LABELS, make_dataset


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 320x256.") from None
    if not (32 <= width <= 4096 and 32 <= height <= 4096):
        raise ArgumentTypeError("Each side must be between 32 and 4096 pixels.")
    return width, height


class Command(BaseCommand):
    help = (
        "Write a seeded synthetic inspection data set: JPEG images, PNG masks (each pixel the index "
        "of its label, 0 = good) and manifest.json with each part's label, surface and split."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="a new or empty directory")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--count", type=int, default=1250, help="parts in all; a fifth are the test split")
        parser.add_argument("--size", type=_size, default=(320, 256), help="WIDTHxHEIGHT (default 320x256)")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} is not empty; name a new or empty directory.")
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(exist_ok=True)
        entries = []
        for split, parts in make_dataset(options["seed"], options["count"], size=options["size"]).items():
            for number, part in enumerate(parts):
                image = f"images/{split}-{number:05d}.jpg"
                mask = f"masks/{split}-{number:05d}.png"
                (out / image).write_bytes(part.jpeg())
                (out / mask).write_bytes(part.mask_png())
                entries.append(
                    {"file": image, "mask": mask, "label": part.label, "surface": part.surface, "split": split}
                )
        manifest = {
            "dataset_version": DATASET_VERSION,
            "seed": options["seed"],
            "size": list(options["size"]),
            "labels": DEMO_LABELS,
            "good_labels": DEMO_GOOD_LABELS,
            "parts": entries,
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        self.stdout.write(f"Wrote {len(entries)} parts to {out} (manifest.json).")
