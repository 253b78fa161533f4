"""What the benchmarks share: camera-like part photos and a database of their own."""

import os
import random
from pathlib import Path

import numpy as np
from PIL import Image


def camera_photo(rng: random.Random, noise: "np.random.Generator", **part: str) -> Image.Image:
    """A 1280 x 1024 synthetic part with sensor noise, as real camera images have: without it
    the smooth synthetic surface compresses far below the size a line camera sends."""
    from inspection.demo.synthetic import make_part

    image = make_part(rng, size=(1280, 1024), **part).image
    pixels = np.asarray(image, dtype=np.int16) + noise.normal(0, 6, (1024, 1280, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            connection.execute(f'CREATE DATABASE "{name}"')


def django_on_own_database(
    *, postgres: str, database: str, redis_url: str, workdir: Path, **extra: str
) -> dict[str, str]:
    """Make the benchmark's database afresh (not yet migrated), point this process's settings
    at it and set Django up; returns the environment for the processes the benchmark starts.
    `extra` adds or overrides settings (KENSA_… variables)."""
    recreate_database(f"{postgres}/postgres", database)
    env = {
        **os.environ,
        "DATABASE_URL": f"{postgres}/{database}",
        "REDIS_URL": redis_url,
        "KENSA_DATA_DIR": str(workdir / "data"),
        "SECRET_KEY": "kensa-bench-only",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }
    os.environ.update(env)
    import django

    django.setup()
    return env
