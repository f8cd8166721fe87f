"""Half-body augmentation: sometimes crop to the upper or lower body only.

Upper/lower keypoint ids come from ``results`` (the combined schema's ``types``), so one
pipeline serves every source of a mixed dataset.
"""

from __future__ import annotations

import numpy as np

from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require, require_rng


@TRANSFORMS.register()
class RandomHalfBody(BaseTransform):
    """Replace ``bbox_center``/``bbox_scale`` by a box around the upper or lower body.

    Per instance, in MMPose's order and draw count: fewer than ``min_total_keypoints``
    labelled keypoints → nothing, no draw; else one uniform ``u1``, applied iff
    ``u1 <= prob``; then always a second uniform ``u2`` (upper preferred iff
    ``u2 < upper_prioritized_prob``); a half with too few labelled keypoints is not
    chosen. The new centre is the mean of the chosen keypoints and the scale their extent
    times ``padding`` (no aspect fix here; ``TopdownAffine`` does it). ``bbox`` is unchanged.
    One deliberate difference: a half whose keypoints all coincide (zero width and
    height, possible only with degenerate labels) is not applied, as its crop is undefined.
    """

    def __init__(self, min_total_keypoints: int = 9, min_upper_keypoints: int = 2,
                 min_lower_keypoints: int = 3, padding: float = 1.5, prob: float = 0.3,
                 upper_prioritized_prob: float = 0.7):
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def _choose_half(self, visible: np.ndarray, upper_ids: np.ndarray, lower_ids: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray | None:
        """Ids of the labelled keypoints of the chosen half, or None (no half-body)."""
        if np.count_nonzero(visible > 0) < self.min_total_keypoints:
            return None
        if rng.random() > self.prob:
            return None
        upper = upper_ids[visible[upper_ids] > 0]
        lower = lower_ids[visible[lower_ids] > 0]
        prefer_upper = rng.random() < self.upper_prioritized_prob
        upper_ok = len(upper) >= self.min_upper_keypoints
        lower_ok = len(lower) >= self.min_lower_keypoints
        if not (upper_ok or lower_ok):
            return None
        if upper_ok and lower_ok:
            return upper if prefer_upper else lower
        return upper if upper_ok else lower

    def __call__(self, results: dict) -> dict:
        step = "RandomHalfBody"
        keypoints = require(results, "keypoints", step)
        visible = require(results, "keypoints_visible", step)
        if visible.ndim == 3:
            visible = visible[..., 0]
        upper_ids = np.asarray(require(results, "upper_body_ids", step), dtype=np.intp)
        lower_ids = np.asarray(require(results, "lower_body_ids", step), dtype=np.intp)
        rng = require_rng(results, step)
        centers = list(require(results, "bbox_center", step))
        scales = list(require(results, "bbox_scale", step))
        for i in range(len(keypoints)):
            ids = self._choose_half(visible[i], upper_ids, lower_ids, rng)
            if ids is None:
                continue
            points = keypoints[i, ids]
            extent = points.max(axis=0) - points.min(axis=0)
            if not np.any(extent > 0):
                continue
            centers[i] = points.mean(axis=0)
            scales[i] = extent * self.padding
        results["bbox_center"] = np.stack(centers)
        results["bbox_scale"] = np.stack(scales)
        return results
