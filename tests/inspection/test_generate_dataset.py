"""generate_dataset writes images, masks and a manifest that agree, the same for the same seed."""

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from inspection.demo.synthetic import DATASET_VERSION, DEMO_LABELS


def generate(out, *args: str) -> dict:
    call_command("generate_dataset", "--out", str(out), *args, stdout=io.StringIO())
    return json.loads((out / "manifest.json").read_text())


def test_the_manifest_describes_every_file_written(tmp_path):
    manifest = generate(tmp_path / "set", "--seed", "4", "--count", "20", "--size", "96x80")
    assert (manifest["dataset_version"], manifest["seed"], manifest["size"]) == (DATASET_VERSION, 4, [96, 80])
    assert manifest["labels"] == DEMO_LABELS
    parts = manifest["parts"]
    assert [entry["split"] for entry in parts].count("test") == 4 and len(parts) == 20
    assert {entry["label"] for entry in parts} == set(DEMO_LABELS)
    written = {path.relative_to(tmp_path / "set").as_posix() for path in (tmp_path / "set").rglob("*.*")}
    assert written == {"manifest.json"} | {entry["file"] for entry in parts} | {entry["mask"] for entry in parts}
    for entry in parts:
        with Image.open(tmp_path / "set" / entry["file"]) as image:
            assert (image.format, image.size) == ("JPEG", (96, 80))
        with Image.open(tmp_path / "set" / entry["mask"]) as mask_image:
            assert (mask_image.format, mask_image.mode, mask_image.size) == ("PNG", "L", (96, 80))
            mask = np.asarray(mask_image)
        expected = {0} if entry["label"] == "good" else {0, DEMO_LABELS.index(entry["label"])}
        assert set(np.unique(mask)) == expected, entry


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    generate(tmp_path / "a", "--seed", "9", "--count", "10", "--size", "64x64")
    generate(tmp_path / "b", "--seed", "9", "--count", "10", "--size", "64x64")
    files = sorted(path.relative_to(tmp_path / "a") for path in (tmp_path / "a").rglob("*.*"))
    assert len(files) == 21
    assert all((tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() for name in files)


def test_a_directory_with_files_in_it_or_a_bad_size_is_refused(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        generate(tmp_path, "--count", "5")
    with pytest.raises(CommandError, match="WIDTHxHEIGHT"):
        generate(tmp_path / "new", "--size", "big")
    assert (tmp_path / "old.txt").read_text() == "keep me"
