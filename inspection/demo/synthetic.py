"""Synthetic part images for the demo: textured surfaces with drawn defects, seeded.

Used to train the demo models, by the demo's feeder, and by tests. A `random.Random` seed
fixes every image and its mask, so a data set is reproducible from its seed alone.
"""

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Part of the demo models' versions: bump it whenever a change here changes the images.
DATASET_VERSION = 2
DEMO_LABELS = ["good", "scratch", "spot", "crack", "dent"]
DEMO_GOOD_LABELS = ["good"]
SURFACES = ("brushed_metal", "painted_panel", "fabric")

Size = tuple[int, int]


@dataclass(frozen=True, eq=False)
class SyntheticPart:
    """A part's image with its ground truth: the label, and per pixel the label's index in
    DEMO_LABELS where the defect is drawn (0, "good", everywhere else)."""

    image: Image.Image
    label: str
    surface: str
    mask: np.ndarray  # uint8, height x width

    def jpeg(self, quality: int = 90) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()

    def mask_png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.mask, "L").save(buffer, "PNG")
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


def _contrast_colour(rng: random.Random, image: Image.Image, *, darker: bool | None) -> tuple[int, int, int]:
    """A grey darker or lighter than the surface by a random contrast; with `darker` None,
    whichever has more room."""
    mean = float(np.asarray(image.convert("L")).mean())
    if darker is None:
        darker = mean > 128
    shift = rng.uniform(45, 110) * (-1 if darker else 1)
    value = int(max(0, min(255, mean + shift)))
    return (value, value, value)


def _paint(image: Image.Image, shape: Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    """Fill `shape` (an "L" image, non-zero inside) with `colour`; the pixels it covered."""
    image.paste(colour, mask=shape)
    return np.asarray(shape) > 0


def _draw_scratch(rng: random.Random, image: Image.Image) -> np.ndarray:
    width, height = image.size
    shape = Image.new("L", image.size)
    length = rng.uniform(0.3, 0.7) * min(width, height)
    angle = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    # Relative to the image, so that a scratch looks the same at every camera resolution.
    thickness = max(2, round(min(width, height) * rng.uniform(0.012, 0.024)))
    ImageDraw.Draw(shape).line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=thickness)
    # A scratch bares the material under the finish, which catches the light.
    return _paint(image, shape, _contrast_colour(rng, image, darker=False))


def _draw_spot(rng: random.Random, image: Image.Image) -> np.ndarray:
    width, height = image.size
    shape = Image.new("L", image.size)
    radius = rng.uniform(0.03, 0.08) * min(width, height)
    squash = rng.uniform(0.6, 1.0)
    angle = rng.uniform(0, math.pi)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    outline = []
    for step in range(48):
        t = 2 * math.pi * step / 48
        x, y = radius * math.cos(t), radius * squash * math.sin(t)
        outline.append((cx + x * math.cos(angle) - y * math.sin(angle), cy + x * math.sin(angle) + y * math.cos(angle)))
    ImageDraw.Draw(shape).polygon(outline, fill=255)
    # Dirt or residue: of any shade.
    return _paint(image, shape, _contrast_colour(rng, image, darker=None))


def _crack_path(
    rng: random.Random, start: tuple[float, float], heading: float, length: float, steps: int
) -> list[tuple[float, float]]:
    """A jagged path: each step turns a little at random, and the course drifts."""
    points = [start]
    x, y = start
    for _ in range(steps):
        heading += rng.gauss(0, 0.12)
        turn = heading + rng.gauss(0, 0.6)
        x += math.cos(turn) * length / steps
        y += math.sin(turn) * length / steps
        points.append((x, y))
    return points


def _draw_crack(rng: random.Random, image: Image.Image) -> np.ndarray:
    width, height = image.size
    shape = Image.new("L", image.size)
    draw = ImageDraw.Draw(shape)
    length = rng.uniform(0.35, 0.7) * min(width, height)
    heading = rng.uniform(0, 2 * math.pi)
    start = (
        width / 2 - math.cos(heading) * length / 2 + rng.uniform(-0.15, 0.15) * width,
        height / 2 - math.sin(heading) * length / 2 + rng.uniform(-0.15, 0.15) * height,
    )
    thickness = max(2, round(min(width, height) * rng.uniform(0.01, 0.016)))
    trunk = _crack_path(rng, start, heading, length, steps=rng.randint(10, 16))
    draw.line(trunk, fill=255, width=thickness, joint="curve")
    # Two to four branches leave the trunk at a sharp angle: what tells a crack from a scratch.
    for _ in range(rng.randint(2, 4)):
        fork = trunk[rng.randint(2, len(trunk) - 3)]
        side = rng.choice((-1, 1))
        branch = _crack_path(rng, fork, heading + side * rng.uniform(0.5, 1.1), length * rng.uniform(0.25, 0.5), 6)
        draw.line(branch, fill=255, width=max(2, thickness - 1), joint="curve")
    # Cracks are fissures: always darker than the surface around them.
    return _paint(image, shape, _contrast_colour(rng, image, darker=True))


def _draw_dent(rng: random.Random, image: Image.Image) -> np.ndarray:
    """A shallow elliptical hollow lit from one side: a highlight on the far slope, a shadow
    on the near one and a slightly darker floor, with no hard edge anywhere."""
    width, height = image.size
    radius = rng.uniform(0.09, 0.16) * min(width, height)
    squash = rng.uniform(0.55, 1.0)
    angle = rng.uniform(0, math.pi)
    light = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(50, 100)
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    along = ((x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)) / radius
    across = (-(x - cx) * math.sin(angle) + (y - cy) * math.cos(angle)) / (radius * squash)
    r2 = along**2 + across**2
    inside = r2 < 1
    depth = np.where(inside, (1 - r2) ** 2, 0.0)  # zero slope at the rim: a soft edge
    slope_y, slope_x = np.gradient(depth)
    facing = slope_x * math.cos(light) + slope_y * math.sin(light)
    shading = facing / max(float(np.abs(facing).max()), 1e-9) * strength - depth * strength * 0.35
    pixels = np.asarray(image).astype(np.float64) + shading[:, :, None]
    image.paste(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"))
    # The rim's last tenth is too shallow to see: ground truth is where the dent shows.
    return r2 < 0.81


DEFECT_PAINTERS = {"scratch": _draw_scratch, "spot": _draw_spot, "crack": _draw_crack, "dent": _draw_dent}


def make_part(rng: random.Random, *, label: str | None = None, size: Size = (320, 256)) -> SyntheticPart:
    """One part image with its mask; `label` picks the defect (random when None)."""
    label = label or rng.choice(DEMO_LABELS)
    surface = rng.choice(SURFACES)
    image = Image.fromarray(_surface(rng, surface, *size), "RGB")
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    if label in DEFECT_PAINTERS:
        mask[DEFECT_PAINTERS[label](rng, image)] = DEMO_LABELS.index(label)
    elif label not in DEMO_GOOD_LABELS:
        raise ValueError(f"Unknown label {label!r}; the labels are {DEMO_LABELS}.")
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.1, 0.35) * min(size) / 100))
    return SyntheticPart(image=image, label=label, surface=surface, mask=mask)


def make_parts(seed: int | str, count: int, *, size: Size = (320, 256)) -> list[SyntheticPart]:
    """`count` parts with the labels in equal shares, reproducible from `seed`."""
    rng = random.Random(seed)
    return [make_part(rng, label=DEMO_LABELS[i % len(DEMO_LABELS)], size=size) for i in range(count)]


def make_dataset(seed: int, count: int, *, size: Size = (320, 256)) -> dict[str, list[SyntheticPart]]:
    """`count` parts, a fifth of them held out as the test split. Each split comes from its own
    random stream, so neither shares a part with the other."""
    test_count = count // 5
    return {
        "train": make_parts(f"{seed}/train", count - test_count, size=size),
        "test": make_parts(f"{seed}/test", test_count, size=size),
    }
