"""Synthetic part images for the demo: textured surfaces with drawn defects, seeded.

Used to train the demo model, by the demo's feeder, and by tests. A `random.Random` seed
fixes every image, so a data set is reproducible from its seed alone.
"""

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

DEMO_LABELS = ["good", "scratch", "spot"]
DEMO_GOOD_LABELS = ["good"]
SURFACES = ("brushed_metal", "painted_panel", "fabric")


@dataclass(frozen=True)
class SyntheticPart:
    image: Image.Image
    label: str
    surface: str

    def jpeg(self, quality: int = 90) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()


def _surface(rng: random.Random, kind: str, width: int, height: int) -> np.ndarray:
    noise = np.random.default_rng(rng.getrandbits(32))
    base = rng.uniform(90, 190)
    if kind == "brushed_metal":
        streaks = noise.normal(0, rng.uniform(6, 14), size=(height, 1)) + noise.normal(0, 3, size=(height, width))
        field = base + np.repeat(streaks[:, :1], width, axis=1) * 0.7 + streaks * 0.3
    elif kind == "painted_panel":
        gradient = np.linspace(-rng.uniform(5, 20), rng.uniform(5, 20), width)[None, :]
        field = base + gradient + noise.normal(0, 2.5, size=(height, width))
    else:
        x = np.arange(width)[None, :]
        y = np.arange(height)[:, None]
        period = rng.uniform(5, 9)
        weave = 8 * np.sin(x * 2 * math.pi / period) * np.sin(y * 2 * math.pi / period)
        field = base + weave + noise.normal(0, 4, size=(height, width))
    gray = np.clip(field, 0, 255).astype(np.uint8)
    tint = np.array([rng.uniform(0.9, 1.1) for _ in range(3)])
    return np.clip(gray[:, :, None] * tint[None, None, :], 0, 255).astype(np.uint8)


def _contrast_colour(rng: random.Random, image: Image.Image) -> tuple[int, int, int]:
    mean = float(np.asarray(image.convert("L")).mean())
    shift = rng.uniform(55, 110) * (-1 if mean > 110 else 1)
    value = int(max(0, min(255, mean + shift)))
    return (value, value, value)


def _draw_scratch(rng: random.Random, image: Image.Image) -> None:
    width, height = image.size
    draw = ImageDraw.Draw(image)
    length = rng.uniform(0.3, 0.7) * min(width, height)
    angle = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    # Relative to the image, so that a scratch looks the same at every camera resolution.
    thickness = max(2, round(min(width, height) * rng.uniform(0.012, 0.024)))
    draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=_contrast_colour(rng, image), width=thickness)


def _draw_spot(rng: random.Random, image: Image.Image) -> None:
    width, height = image.size
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.04, 0.1) * min(width, height)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    squash = rng.uniform(0.6, 1.0)
    draw.ellipse(
        [cx - radius, cy - radius * squash, cx + radius, cy + radius * squash], fill=_contrast_colour(rng, image)
    )


def make_part(rng: random.Random, *, label: str | None = None, size: tuple[int, int] = (320, 256)) -> SyntheticPart:
    """One part image; `label` picks the defect (random when None)."""
    label = label or rng.choice(DEMO_LABELS)
    surface = rng.choice(SURFACES)
    image = Image.fromarray(_surface(rng, surface, *size), "RGB")
    if label == "scratch":
        _draw_scratch(rng, image)
    elif label == "spot":
        _draw_spot(rng, image)
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.1, 0.35) * min(size) / 100))
    return SyntheticPart(image=image, label=label, surface=surface)


def make_parts(seed: int, count: int, *, size: tuple[int, int] = (320, 256)) -> list[SyntheticPart]:
    """`count` parts with the labels in equal shares, reproducible from `seed`."""
    rng = random.Random(seed)
    return [make_part(rng, label=DEMO_LABELS[i % len(DEMO_LABELS)], size=size) for i in range(count)]
