"""Synthetic parts: reproducible from their seed, every label drawn, masks where the defects are."""

import random

import numpy as np
import pytest
from scipy import ndimage

from inspection.demo.synthetic import DEMO_LABELS, make_dataset, make_part, make_parts


def test_the_same_seed_draws_the_same_parts_and_another_seed_other_ones():
    first, again, other = make_parts(5, 10), make_parts(5, 10), make_parts(6, 10)
    for a, b in zip(first, again, strict=True):
        assert (a.label, a.surface) == (b.label, b.surface)
        assert a.image.tobytes() == b.image.tobytes()
        assert a.jpeg() == b.jpeg()
        assert np.array_equal(a.mask, b.mask)
    assert all(a.image.tobytes() != c.image.tobytes() for a, c in zip(first, other, strict=True))


def test_every_label_is_drawn_in_equal_shares_in_both_splits():
    splits = make_dataset(3, 50, size=(96, 80))
    assert [len(parts) for parts in splits.values()] == [40, 10]
    for parts in splits.values():
        counts = {label: sum(part.label == label for part in parts) for label in DEMO_LABELS}
        assert set(counts.values()) == {len(parts) // len(DEMO_LABELS)}, counts
    train_images = {part.image.tobytes() for part in splits["train"]}
    assert not any(part.image.tobytes() in train_images for part in splits["test"])


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_the_mask_marks_the_drawn_defect_and_nothing_else(label):
    for seed in range(15):
        part = make_part(random.Random(seed), label=label, size=(320, 256))
        assert part.mask.shape == (256, 320) and part.mask.dtype == np.uint8
        defect = part.mask > 0
        if label == "good":
            assert not defect.any()
            continue
        assert set(np.unique(part.mask)) == {0, DEMO_LABELS.index(label)}
        assert 0.001 < defect.mean() < 0.1, f"seed {seed}: the defect covers {defect.mean():.2%}"
        # The defect's pixels stand out from the surface just around them.
        gray = np.asarray(part.image.convert("L")).astype(float)
        ring = ndimage.binary_dilation(defect, iterations=6) & ~ndimage.binary_dilation(defect, iterations=2)
        contrast = np.abs(gray[defect] - np.median(gray[ring])).mean()
        assert contrast > 15, f"seed {seed}: {label} differs by {contrast:.1f} grey levels only"


def test_a_part_of_any_size_keeps_its_mask_in_step():
    part = make_part(random.Random(7), label="scratch", size=(1280, 1024))
    assert part.image.size == (1280, 1024) and part.mask.shape == (1024, 1280)
    assert part.mask.any()


def test_an_unknown_label_is_refused():
    with pytest.raises(ValueError, match="Unknown label"):
        make_part(random.Random(1), label="smudge")
