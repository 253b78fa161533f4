"""Per-class precision, recall, F1 and pixel IoU, checked against sums done by hand."""

import numpy as np
import pytest

from inspection.demo.scores import ClassScore, class_scores, format_scores, pixel_iou

LABELS = ["good", "scratch", "spot"]


def test_one_label_per_image_as_a_classifier_predicts():
    truths = [{"good"}, {"good"}, {"scratch"}, {"scratch"}, {"scratch"}, {"spot"}]
    predicted = [{"good"}, {"scratch"}, {"scratch"}, {"scratch"}, {"spot"}, {"spot"}]
    good, scratch, spot = class_scores(LABELS, truths, predicted)
    assert good.label == "good"
    assert (good.precision, good.recall, good.f1, good.support) == pytest.approx((1.0, 0.5, 2 / 3, 2))
    # 2 of the 3 scratch predictions are right, and 2 of the 3 scratches are found.
    assert (scratch.precision, scratch.recall, scratch.f1, scratch.support) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    assert (spot.precision, spot.recall, spot.f1) == pytest.approx((0.5, 1.0, 2 / 3))


def test_several_labels_per_image_as_segmentation_finds_them():
    truths = [{"scratch"}, {"spot"}, {"good"}]
    predicted = [{"scratch", "spot"}, {"spot"}, {"scratch"}]
    good, scratch, spot = class_scores(LABELS, truths, predicted)
    assert (good.precision, good.recall, good.f1) == (0.0, 0.0, 0.0)  # never predicted: nothing to divide by
    assert (scratch.precision, scratch.recall) == (0.5, 1.0)
    assert (spot.precision, spot.recall) == (0.5, 1.0)


def test_pixel_iou_sums_intersections_and_unions_over_all_images():
    truth = np.zeros((2, 4, 4), dtype=np.uint8)
    predicted = np.zeros((2, 4, 4), dtype=np.uint8)
    truth[0, 0, :2] = 1  # 2 scratch pixels in the first image
    predicted[0, 0, 1:3] = 1  # 1 right, 1 wrong
    truth[1, 3, 3] = 2  # a spot pixel the prediction misses
    good, scratch, spot = pixel_iou(LABELS, list(truth), list(predicted))
    assert scratch == pytest.approx(1 / 3)
    assert spot == 0.0
    assert good == pytest.approx(28 / 31)  # 32 pixels, 29 good in either: 28 in both, 3 in only one


def test_the_table_has_a_row_per_label_and_iou_only_when_known():
    table = format_scores([ClassScore("good", 1.0, 0.5, 2 / 3, 2), ClassScore("spot", 0.25, 1.0, 0.4, 1)])
    assert table.splitlines()[1].split() == ["good", "1.000", "0.500", "0.667", "2"]
    assert "IoU" not in table
    assert "0.750" in format_scores([ClassScore("spot", 1.0, 1.0, 1.0, 1, iou=0.75)])
