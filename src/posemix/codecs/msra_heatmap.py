"""MSRAHeatmap: the SimpleBaseline / HRNet Gaussian heatmap codec (optionally DARK)."""

from __future__ import annotations

from typing import Any

import numpy as np

from posemix.codecs.arguments import (
    check_heatmaps,
    check_kernel_size,
    check_keypoints,
    check_positive,
    check_size,
)
from posemix.codecs.heatmap_decoding import (
    get_heatmap_maximum,
    refine_keypoints,
    refine_keypoints_dark,
)
from posemix.codecs.heatmap_targets import unbiased_gaussian_heatmaps, windowed_gaussian_heatmaps
from posemix.registry import CODECS


@CODECS.register()
class MSRAHeatmap:
    """Gaussian heatmaps with heatmap pixel j <-> input coordinate j * input/heatmap.

    ``unbiased=False``: 13x13 (for sigma 2) Gaussian on the rounded pixel, decoded by
    argmax plus a quarter-pixel shift. ``unbiased=True`` (DARK): full-map Gaussian at the
    exact sub-pixel location, decoded by a Newton step on the blurred log heatmap.
    """

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 sigma: float, unbiased: bool = False, blur_kernel_size: int = 11):
        name = type(self).__name__
        self.input_size = check_size(input_size, "input_size", name)
        self.heatmap_size = check_size(heatmap_size, "heatmap_size", name)
        self.sigma = check_positive(sigma, "sigma", name)
        self.unbiased = bool(unbiased)
        self.blur_kernel_size = check_kernel_size(blur_kernel_size, "blur_kernel_size", name)
        self.scale_factor = (np.array(self.input_size) / self.heatmap_size).astype(np.float32)

    def encode(self, keypoints: Any, keypoints_visible: Any = None) -> dict[str, np.ndarray]:
        """Input-space keypoints (1, K, 2) + visibility (1, K) -> heatmaps (K, h, w) float32
        and keypoint_weights (1, K) float32 (visibility, 0 where the Gaussian is off-map)."""
        kp, vis = check_keypoints(keypoints, keypoints_visible, type(self).__name__,
                                  single_instance=True)
        kp_hm = kp[0] / self.scale_factor
        if self.unbiased:
            heatmaps, weights = unbiased_gaussian_heatmaps(
                self.heatmap_size, kp_hm, vis[0], self.sigma)
        else:
            heatmaps, weights = windowed_gaussian_heatmaps(
                self.heatmap_size, kp_hm, vis[0], self.sigma, subpixel=False)
        return {"heatmaps": heatmaps, "keypoint_weights": weights[None]}

    def decode(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (K, h, w) -> input-space keypoints (1, K, 2) float32, scores (1, K).

        Scores are the raw heatmap maxima; a maximum <= 0 decodes to -scale_factor.
        """
        heatmaps = check_heatmaps(encoded, type(self).__name__, self.heatmap_size)
        locs, scores = get_heatmap_maximum(heatmaps)
        locs, scores = locs[None], scores[None]
        if self.unbiased:
            locs = refine_keypoints_dark(locs, heatmaps, self.blur_kernel_size)
        else:
            locs = refine_keypoints(locs, heatmaps)
        return locs * self.scale_factor, scores
