"""UDPHeatmap: Unbiased Data Processing heatmaps (Huang et al.), Gaussian or combined."""

from __future__ import annotations

from typing import Any

import numpy as np

from posemix.codecs.arguments import (
    check_choice,
    check_heatmaps,
    check_kernel_size,
    check_keypoints,
    check_positive,
    check_size,
)
from posemix.codecs.heatmap_decoding import (
    decode_offset_heatmaps,
    get_heatmap_maximum,
    refine_keypoints_dark_udp,
)
from posemix.codecs.heatmap_targets import offset_heatmaps, windowed_gaussian_heatmaps
from posemix.registry import CODECS


@CODECS.register()
class UDPHeatmap:
    """Heatmaps whose pixel grid spans the input's pixel centres: hm = kp * (W-1)/(w-1).

    'gaussian' encodes a sub-pixel Gaussian and decodes with DARK-UDP; 'combined' encodes a
    disc plus x/y offset maps per keypoint (3K channels). Decoding maps heatmap x back by
    ``w / (W-1)`` (not ``(w-1)/(W-1)``), as MMPose; its image-space conversion divides by
    ``w`` again, so the chain is consistent with the UDP warp.
    """

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int],
                 heatmap_type: str = "gaussian", sigma: float = 2.0,
                 radius_factor: float = 0.0546875, blur_kernel_size: int = 11):
        name = type(self).__name__
        self.input_size = check_size(input_size, "input_size", name, minimum=2)
        self.heatmap_size = check_size(heatmap_size, "heatmap_size", name, minimum=2)
        self.heatmap_type = check_choice(heatmap_type, "heatmap_type", name,
                                         ("gaussian", "combined"))
        self.sigma = check_positive(sigma, "sigma", name)
        self.radius_factor = check_positive(radius_factor, "radius_factor", name)
        self.blur_kernel_size = check_kernel_size(blur_kernel_size, "blur_kernel_size", name)
        self.scale_factor = ((np.array(self.input_size) - 1)
                             / (np.array(self.heatmap_size) - 1)).astype(np.float32)

    def encode(self, keypoints: Any, keypoints_visible: Any = None) -> dict[str, np.ndarray]:
        """Input-space keypoints (1, K, 2) + visibility (1, K) -> heatmaps ((K or 3K), h, w)
        float32 and keypoint_weights (1, K) float32."""
        kp, vis = check_keypoints(keypoints, keypoints_visible, type(self).__name__,
                                  single_instance=True)
        kp_hm = kp[0] / self.scale_factor
        if self.heatmap_type == "gaussian":
            heatmaps, weights = windowed_gaussian_heatmaps(
                self.heatmap_size, kp_hm, vis[0], self.sigma, subpixel=True)
        else:
            heatmaps, weights = offset_heatmaps(
                self.heatmap_size, kp_hm, vis[0], self.radius_factor)
        return {"heatmaps": heatmaps, "keypoint_weights": weights[None]}

    def decode(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps -> keypoints (1, K, 2) float64 in (UDP) input space, scores (1, K)."""
        name = type(self).__name__
        if self.heatmap_type == "gaussian":
            heatmaps = check_heatmaps(encoded, name, self.heatmap_size)
            locs, scores = get_heatmap_maximum(heatmaps)
            locs, scores = locs[None], scores[None]
            locs = refine_keypoints_dark_udp(locs, heatmaps, self.blur_kernel_size)
        else:
            heatmaps = check_heatmaps(encoded, name, self.heatmap_size, channels=3)
            locs, scores = decode_offset_heatmaps(heatmaps, self.blur_kernel_size,
                                                  self.radius_factor)
        w, h = self.heatmap_size
        return locs / np.array([w - 1, h - 1]) * np.array(self.input_size), scores
