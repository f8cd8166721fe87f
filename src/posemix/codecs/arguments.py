"""Argument and input checks shared by the codecs.

Codecs are built from configs and fed by the pipeline, so a wrong size or a wrongly
shaped array must fail with posemix's own error naming the codec and the field, not
with a numpy broadcasting traceback deep inside the encoder.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from posemix.errors import ConfigError, PosemixError

# Heatmap-space coordinates are clipped to this range before integer rounding: any
# point this far out is outside the map anyway, and the clip keeps the int64 cast defined.
COORD_LIMIT = 1.0e6


def check_size(value: Any, name: str, codec: str, minimum: int = 1) -> tuple[int, int]:
    """Return a (w, h) size as two ints, each at least ``minimum``."""
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if (len(items) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool)
                                   for v in items) or min(items) < minimum):
        raise ConfigError(
            f"{codec}: '{name}' must be two ints (w, h), each >= {minimum}; got {value!r}")
    return int(items[0]), int(items[1])


def check_positive(value: Any, name: str, codec: str) -> float:
    """Return ``value`` unchanged after checking it is a positive real number."""
    if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
        raise ConfigError(f"{codec}: '{name}' must be a positive number; got {value!r}")
    return value


def check_kernel_size(value: Any, name: str, codec: str) -> int:
    """Return an odd positive int kernel size (OpenCV's Gaussian blur needs one)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1 or value % 2 == 0:
        raise ConfigError(f"{codec}: '{name}' must be an odd positive int; got {value!r}")
    return int(value)


def check_choice(value: Any, name: str, codec: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{codec}: '{name}' must be one of {choices}; got {value!r}")
    return value


def check_keypoints(keypoints: Any, keypoints_visible: Any, codec: str,
                    single_instance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate encoder inputs and return (keypoints (N,K,2) float, visibility (N,K) float32).

    Float64 keypoints stay float64 (MMPose divides them by a float32 scale factor, which
    keeps float64); anything else becomes float32. Missing visibility means all visible.
    Visible keypoints must be finite; coordinates of invisible ones are never used.
    """
    kp = np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[2] != 2 or not np.issubdtype(kp.dtype, np.number):
        raise PosemixError(
            f"{codec}.encode: 'keypoints' must be a numeric (N, K, 2) array; got shape "
            f"{kp.shape} dtype {kp.dtype}")
    if single_instance and kp.shape[0] != 1:
        raise PosemixError(
            f"{codec}.encode: 'keypoints' must hold exactly one instance (top-down), "
            f"got {kp.shape[0]}")
    kp = kp if kp.dtype == np.float64 else kp.astype(np.float32)
    if keypoints_visible is None:
        vis = np.ones(kp.shape[:2], dtype=np.float32)
    else:
        vis = np.asarray(keypoints_visible)
        if vis.shape != kp.shape[:2] or not np.issubdtype(vis.dtype, np.number):
            raise PosemixError(
                f"{codec}.encode: 'keypoints_visible' must be a numeric {kp.shape[:2]} array "
                f"matching 'keypoints'; got shape {vis.shape} dtype {vis.dtype}")
        vis = vis.astype(np.float32)
    bad = (vis >= 0.5) & ~np.isfinite(kp).all(axis=-1)
    if bad.any():
        n, k = np.argwhere(bad)[0]
        raise PosemixError(
            f"{codec}.encode: 'keypoints' of instance {n}, keypoint {k} is not finite "
            f"({kp[n, k].tolist()}) but is marked visible")
    return kp, vis


def check_heatmaps(heatmaps: Any, codec: str, heatmap_size: tuple[int, int],
                   channels: int | None = None) -> np.ndarray:
    """Return decoder input as a float32 (C, h, w) array matching the codec's heatmap size."""
    hm = np.asarray(heatmaps)
    w, h = heatmap_size
    if hm.ndim != 3 or hm.shape[1:] != (h, w) or not np.issubdtype(hm.dtype, np.number):
        raise PosemixError(
            f"{codec}.decode: heatmaps must be a numeric (K, {h}, {w}) array (heatmap_size="
            f"{heatmap_size}); got shape {hm.shape} dtype {hm.dtype}")
    if channels is not None and hm.shape[0] % channels:
        raise PosemixError(
            f"{codec}.decode: the number of heatmap channels ({hm.shape[0]}) must be a "
            f"multiple of {channels}")
    return hm.astype(np.float32)
