"""AUC and EPE as MMPose computes them (reference section 8.2), hand-computed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posemix.errors import ConfigError
from posemix.evaluation import AUC, EPE
from posemix.registry import METRICS

GT = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0]])
SAMPLES = [
    # errors 5, 15 (labelled), then two unlabelled keypoints
    {"id": 1, "keypoints": [GT + [[5, 0], [0, 15], [9, 0], [0, 0]]], "gt_keypoints": [GT],
     "gt_visible": [[2, 1, 0, 0]], "gt_bbox": [[0, 0, 100, 50]]},
    # errors 10, 4, 7 (labelled), one unlabelled
    {"id": 2, "keypoints": [GT + [[6, 8], [0, 4], [0, 7], [0, 0]]], "gt_keypoints": [GT],
     "gt_visible": [[1, 1, 1, 0]], "gt_bbox": [[0, 0, 40, 80]]},
    # a zero-size box: PCK leaves it out, but AUC (fixed 30 px norm) and EPE count it;
    # every error is 100 * sqrt(2)
    {"id": 3, "keypoints": [GT + 100], "gt_keypoints": [GT], "gt_visible": [[1, 1, 1, 1]],
     "gt_bbox": [[5, 5, 5, 5]]},
]


def test_auc_hand_computed():
    metric = AUC(norm_factor=30, num_thrs=4)  # thresholds 0, 0.25, 0.5, 0.75
    metric.process(SAMPLES)
    # distance / 30 per keypoint: a .167 .333 4.7 | b .5 .133 4.7 | c .233 4.7 | d 4.7
    # t=0: 0; t=.25: a 1/3 b 1/3 c 1/2 d 0 -> 7/24; t=.5: a 2/3, b 1/3 (0.5 is not
    # < 0.5), c 1/2, d 0 -> 9/24; t=.75: a 2/3 b 2/3 c 1/2 d 0 -> 11/24.
    # Mean over the 4 thresholds: 27/96.
    assert metric.evaluate() == {"auc/AUC": pytest.approx(27 / 96)}


def test_auc_defaults_top_out_at_0_95():
    metric = METRICS.build(dict(type="AUC", prefix=""))
    metric.process([{**SAMPLES[0], "keypoints": SAMPLES[0]["gt_keypoints"]}])
    assert metric.evaluate() == {"AUC": pytest.approx(0.95)}  # t = 0 never counts


def test_epe_is_pooled_over_pairs_not_per_keypoint():
    metric = EPE()
    metric.process(SAMPLES[:2])
    metric.process(SAMPLES[2:])
    expected = (5 + 15 + 10 + 4 + 7 + 4 * 100 * math.sqrt(2)) / 9
    assert metric.evaluate() == {"epe/EPE": pytest.approx(expected)}


def test_epe_with_nothing_labelled_is_zero():
    metric = EPE()
    metric.process([{**SAMPLES[0], "gt_visible": [[0, 0, 0, 0]]}])
    assert metric.evaluate() == {"epe/EPE": 0.0}


def test_auc_rejects_bad_settings():
    with pytest.raises(ConfigError, match="norm_factor"):
        AUC(norm_factor=0)
