"""SimCCLabel: keypoints as two 1-D classification labels (x and y bins), RTMPose style."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from posemix.codecs.arguments import (
    COORD_LIMIT,
    check_choice,
    check_keypoints,
    check_positive,
    check_size,
)
from posemix.codecs.heatmap_decoding import gaussian_blur
from posemix.errors import ConfigError, PosemixError
from posemix.registry import CODECS


def get_simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray,
                      apply_softmax: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per keypoint: argmax bin on each axis and score = min(max_x, max_y).

    ``simcc_x`` is (..., Wx) and ``simcc_y`` (..., Wy) with the same leading shape.
    Returns locations (..., 2) float32 in bins and scores (...); a score <= 0 gives
    location -1. ``apply_softmax`` turns each vector into probabilities first.
    """
    sx, sy = np.asarray(simcc_x), np.asarray(simcc_y)
    if sx.ndim < 1 or sx.shape[:-1] != sy.shape[:-1] or 0 in (sx.shape[-1], sy.shape[-1]):
        raise PosemixError(
            f"get_simcc_maximum: simcc_x and simcc_y must be non-empty (..., W) arrays with "
            f"the same leading shape; got {sx.shape} and {sy.shape}")
    if apply_softmax:
        sx, sy = (np.exp(v - v.max(axis=-1, keepdims=True)) for v in (sx, sy))
        sx, sy = (v / v.sum(axis=-1, keepdims=True) for v in (sx, sy))
    locs = np.stack([sx.argmax(axis=-1), sy.argmax(axis=-1)], axis=-1).astype(np.float32)
    scores = np.minimum(sx.max(axis=-1), sy.max(axis=-1))
    locs[scores <= 0] = -1
    return locs, scores


def refine_simcc_dark(locs: np.ndarray, simcc: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """1-D DARK: Newton step on the clipped log of the blurred label (N, K, W).

    The blur is DARK's (zero padding, rescaled to the old maximum) along each vector;
    derivatives use steps 1 and 2 on the edge-padded log. ``locs`` (N, K) are bin
    positions; returns refined copies.
    """
    rows = simcc.reshape(-1, 1, simcc.shape[-1])
    logs = np.log(np.clip(gaussian_blur(rows, (blur_kernel_size, 1))[:, 0], 1e-3, 50.0))
    padded = np.pad(logs, ((0, 0), (2, 2)), mode="edge")
    pos = (locs.reshape(-1) + 2.5).astype(np.int64)[:, None]

    def at(offset: int) -> np.ndarray:
        return np.take_along_axis(padded, pos + offset, axis=1)[:, 0]

    grad = 0.5 * (at(1) - at(-1))
    curv = 1e-9 + 0.25 * (at(2) - 2 * at(0) + at(-2))
    return (locs.reshape(-1) - grad / curv).reshape(locs.shape).astype(np.float32)


@CODECS.register()
class SimCCLabel:
    """Encode each keypoint as x and y label vectors of ``round(size * split_ratio)`` bins.

    'gaussian' smoothing puts an (optionally normalised) Gaussian on the rounded bin;
    'standard' a one-hot with optional label smoothing. There is no half-pixel offset:
    bin i <-> input coordinate i / split_ratio.
    """

    def __init__(self, input_size: tuple[int, int], smoothing_type: str = "gaussian",
                 sigma: float | tuple[float, float] = 6.0, simcc_split_ratio: float = 2.0,
                 label_smooth_weight: float = 0.0, normalize: bool = True,
                 use_dark: bool = False, decode_visibility: bool = False,
                 decode_beta: float = 150.0):
        name = type(self).__name__
        self.input_size = check_size(input_size, "input_size", name)
        self.smoothing_type = check_choice(smoothing_type, "smoothing_type", name,
                                           ("gaussian", "standard"))
        sigmas = tuple(sigma) if isinstance(sigma, (tuple, list, np.ndarray)) else (sigma, sigma)
        if len(sigmas) != 2:
            raise ConfigError(f"{name}: 'sigma' must be a number or (sigma_x, sigma_y); "
                              f"got {sigma!r}")
        self.sigma = np.array([check_positive(s, "sigma", name) for s in sigmas], dtype=float)
        self.simcc_split_ratio = check_positive(simcc_split_ratio, "simcc_split_ratio", name)
        if not isinstance(label_smooth_weight, Real) or not 0 <= label_smooth_weight <= 1:
            raise ConfigError(f"{name}: 'label_smooth_weight' must be in [0, 1]; "
                              f"got {label_smooth_weight!r}")
        if smoothing_type == "gaussian" and label_smooth_weight > 0:
            raise ConfigError(f"{name}: 'label_smooth_weight' only applies to "
                              f"smoothing_type='standard'")
        self.label_smooth_weight = float(label_smooth_weight)
        self.normalize = bool(normalize)
        self.use_dark = bool(use_dark)
        self.decode_visibility = bool(decode_visibility)
        self.decode_beta = check_positive(decode_beta, "decode_beta", name)
        self.label_size = tuple(int(np.around(v * self.simcc_split_ratio))
                                for v in self.input_size)
        # DARK blur kernels per axis, derived from sigma as MMPose does (odd, >= 1)
        kernels = ((self.sigma * 20 - 7) // 3).astype(int)
        self.dark_kernels = tuple(int(k - (k % 2 == 0)) for k in kernels)
        if self.use_dark and min(self.dark_kernels) < 1:
            raise ConfigError(f"{name}: use_dark needs sigma >= 0.5 (the blur kernel is "
                              f"derived from it); got sigma {sigma!r}")

    def encode(self, keypoints: Any, keypoints_visible: Any = None) -> dict[str, np.ndarray]:
        """Keypoints (N, K, 2) + visibility (N, K) -> keypoint_x_labels (N, K, Wx),
        keypoint_y_labels (N, K, Wy) float32 and keypoint_weights (N, K) float32.

        Keypoints with visibility < 0.5 get all-zero labels and keep their weight; visible
        ones whose label falls off the vectors get weight 0.
        """
        kp, vis = check_keypoints(keypoints, keypoints_visible, type(self).__name__,
                                  single_instance=False)
        active = vis >= 0.5
        coords = np.clip(np.where(active[..., None], kp, 0), -COORD_LIMIT, COORD_LIMIT)
        mu = np.around(coords * self.simcc_split_ratio).astype(np.int64)  # half to even
        lengths = np.array(self.label_size)
        if self.smoothing_type == "gaussian":
            radius = 3 * self.sigma
            off = ((mu - radius >= lengths) | (mu + radius + 1 < 0)).any(axis=-1)
        else:
            off = ((mu < 0) | (mu >= lengths)).any(axis=-1)
        weights = vis.copy()
        weights[active & off] = 0
        draw = active & ~off
        labels = [self._labels(mu[..., axis], length, axis, draw)
                  for axis, length in enumerate(self.label_size)]
        return {"keypoint_x_labels": labels[0], "keypoint_y_labels": labels[1],
                "keypoint_weights": weights}

    def _labels(self, mu: np.ndarray, length: int, axis: int, draw: np.ndarray) -> np.ndarray:
        """One axis's label vectors (N, K, length) float32 for bin centres ``mu`` (N, K)."""
        bins = np.arange(length)
        if self.smoothing_type == "gaussian":
            d = bins.astype(np.float32) - mu[..., None].astype(np.float32)
            labels = np.exp(-np.square(d) / np.float32(2 * self.sigma[axis] ** 2))
            if self.normalize:
                labels /= np.float32(self.sigma[axis] * np.sqrt(2 * np.pi))
        else:
            eps = self.label_smooth_weight
            labels = np.full(mu.shape + (length,), eps / (length - 1) if eps > 0 else 0,
                             dtype=np.float32)
            labels[bins == mu[..., None]] = 1.0 - eps
        return np.where(draw[..., None], labels, np.float32(0)).astype(np.float32)

    def decode(self, simcc_x: Any, simcc_y: Any) -> tuple[np.ndarray, Any]:
        """Label vectors ((N,) K, Wx) and ((N,) K, Wy) -> keypoints (N, K, 2) in input space
        and scores (N, K); with ``decode_visibility`` the second item is (scores, visibility).
        """
        sx, sy = np.asarray(simcc_x), np.asarray(simcc_y)
        if sx.ndim == 2:
            sx, sy = sx[None], sy[None]
        if sx.ndim != 3 or sy.ndim != 3:
            raise PosemixError(f"{type(self).__name__}.decode: simcc_x and simcc_y must be "
                               f"(N, K, W) or (K, W) arrays; got {np.shape(simcc_x)} and "
                               f"{np.shape(simcc_y)}")
        locs, scores = get_simcc_maximum(sx, sy)
        if self.use_dark:
            for axis, simcc in enumerate((sx, sy)):  # two axes, each vectorised over N, K
                locs[..., axis] = refine_simcc_dark(locs[..., axis], simcc,
                                                    self.dark_kernels[axis])
        keypoints = locs / np.float32(self.simcc_split_ratio)
        if not self.decode_visibility:
            return keypoints, scores
        _, visibility = get_simcc_maximum(sx * self.decode_beta * self.sigma[0],
                                          sy * self.decode_beta * self.sigma[1],
                                          apply_softmax=True)
        return keypoints, (scores, visibility)
