"""Random shift, scale and rotation of the crop box (MMPose's ``RandomBBoxTransform``)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require, require_rng

_NORMAL = NormalDist()


def truncnorm_ppf(u: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Quantiles of the standard normal truncated to [low, high] at probabilities ``u``.

    MMPose draws ``scipy.stats.truncnorm.rvs(-1, 1)``, which is this function applied to
    uniforms (inverse-CDF sampling), so the same uniforms give the same values.
    """
    c_low, c_high = _NORMAL.cdf(low), _NORMAL.cdf(high)
    u = np.asarray(u, dtype=np.float64)
    z = [_NORMAL.inv_cdf(c_low + p * (c_high - c_low)) for p in u.ravel()]
    return np.clip(np.array(z, dtype=np.float64).reshape(u.shape), low, high)


@TRANSFORMS.register()
class RandomBBoxTransform(BaseTransform):
    """Shift, scale and rotate ``bbox_center``/``bbox_scale``; set ``bbox_rotation`` (N,).

    Draws from ``results['rng']``, in MMPose's order for N boxes: (N, 4) uniforms turned
    into truncated normals z in [-1, 1] (x shift, y shift, scale, rotation), then the
    gates (N, 1) shift, (N, 1) scale, (N,) rotation — always, whatever the probabilities.
    The shift is ``z * shift_factor * scale`` per axis (pre-scaling scale), the scale
    factor ``mu + z * sigma`` with (mu, sigma) the middle and half-width of
    ``scale_factor``, the rotation ``z * rotate_factor`` degrees.
    """

    def __init__(self, shift_factor: float = 0.16, shift_prob: float = 0.3,
                 scale_factor: tuple[float, float] = (0.5, 1.5), scale_prob: float = 1.0,
                 rotate_factor: float = 80.0, rotate_prob: float = 0.6):
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = scale_factor
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def draw(self, num_bboxes: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offsets (N, 2) in box units, scale factors (N, 1), rotations (N,) in degrees."""
        z = truncnorm_ppf(rng.random((num_bboxes, 4))).astype(np.float32)
        shift_gate = rng.random((num_bboxes, 1))
        scale_gate = rng.random((num_bboxes, 1))
        rotate_gate = rng.random(num_bboxes)
        offset = np.where(shift_gate < self.shift_prob,
                          z[:, :2] * self.shift_factor, 0).astype(np.float32)
        low, high = self.scale_factor
        mu, sigma = (high + low) * 0.5, (high - low) * 0.5
        scale = np.where(scale_gate < self.scale_prob,
                         z[:, 2:3] * sigma + mu, 1).astype(np.float32)
        rotate = np.where(rotate_gate < self.rotate_prob,
                          z[:, 3] * self.rotate_factor, 0).astype(np.float32)
        return offset, scale, rotate

    def __call__(self, results: dict) -> dict:
        center = require(results, "bbox_center", "RandomBBoxTransform")
        scale = require(results, "bbox_scale", "RandomBBoxTransform")
        offset, factor, rotate = self.draw(len(center),
                                           require_rng(results, "RandomBBoxTransform"))
        results["bbox_center"] = center + offset * scale
        results["bbox_scale"] = scale * factor
        results["bbox_rotation"] = rotate
        return results
