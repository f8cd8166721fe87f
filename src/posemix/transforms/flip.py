"""Mirroring a sample: image, boxes and keypoints, with left/right partners swapped.

Pixel convention (MMPose's): integer coordinates are pixel centres, so a horizontal flip
maps image column x to ``w - 1 - x`` and keypoints, boxes and centres the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posemix.errors import ConfigError, MetainfoError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, describe_sample, require, require_rng

DIRECTIONS = ("horizontal", "vertical", "diagonal")
# Coordinate axes (0 = x, 1 = y) each direction mirrors.
_FLIP_AXES = {"horizontal": (0,), "vertical": (1,), "diagonal": (0, 1)}
# Per-keypoint arrays (N, K, ...) whose keypoint order follows the flip partners.
PER_KEYPOINT_KEYS = ("keypoints", "keypoints_visible", "keypoints_occluded", "keypoints_defined")


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ConfigError(f"flip direction '{direction}' is not one of {DIRECTIONS}")


def swaps_partners(direction: str) -> bool:
    """A mirror (horizontal, vertical) turns left into right; a 180° turn (diagonal) does not."""
    return direction != "diagonal"


def flip_keypoints(keypoints: np.ndarray, image_size: tuple[int, int],
                   flip_indices: Sequence[int] | None = None,
                   direction: str = "horizontal") -> np.ndarray:
    """Mirror (N, K, 2) keypoints in an image of ``image_size`` (w, h); returns a new array.

    With ``flip_indices`` (and a mirroring direction) the keypoint order is also swapped,
    so that index k again means the same body part.
    """
    _check_direction(direction)
    if flip_indices is not None and swaps_partners(direction):
        flipped = np.take(keypoints, flip_indices, axis=1)
    else:
        flipped = np.array(keypoints, copy=True)
    for axis in _FLIP_AXES[direction]:
        flipped[..., axis] = image_size[axis] - 1 - flipped[..., axis]
    return flipped


def flip_bbox(bbox: np.ndarray, image_size: tuple[int, int], bbox_format: str = "xyxy",
              direction: str = "horizontal") -> np.ndarray:
    """Mirror boxes (..., 4) xyxy or centres (..., 2) ('center') in an image of size (w, h)."""
    _check_direction(direction)
    if bbox_format not in ("xyxy", "center"):
        raise ConfigError(f"flip_bbox bbox_format '{bbox_format}' is not 'xyxy' or 'center'")
    flipped = np.array(bbox, copy=True)
    for axis in _FLIP_AXES[direction]:
        size = image_size[axis]
        if bbox_format == "xyxy":
            flipped[..., axis] = size - bbox[..., axis + 2] - 1
            flipped[..., axis + 2] = size - bbox[..., axis] - 1
        else:
            flipped[..., axis] = size - bbox[..., axis] - 1
    return flipped


def flip_image(img: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """A mirrored view of ``img`` (no copy; negative strides)."""
    _check_direction(direction)
    return np.flip(img, axis=tuple(1 - a for a in _FLIP_AXES[direction]))


def flip_sample(results: dict, direction: str, step: str = "RandomFlip") -> dict:
    """Mirror every spatial entry of ``results`` in place of the old values.

    Per-keypoint arrays (``PER_KEYPOINT_KEYS``) are reordered with ``results['flip_indices']``
    (the combined schema's) so that labelled/defined flags travel with their keypoints.
    """
    img = results.get("img")
    h, w = img.shape[:2] if img is not None else require(results, "img_shape", step)
    if img is not None:
        results["img"] = flip_image(img, direction)
    for key, fmt in (("bbox", "xyxy"), ("bbox_center", "center")):
        if results.get(key) is not None:
            results[key] = flip_bbox(results[key], (w, h), fmt, direction)
    keypoints = results.get("keypoints")
    if keypoints is not None:
        if swaps_partners(direction):
            flip_indices = np.asarray(require(results, "flip_indices", step,
                                              "the combined schema's flip partners"))
            if flip_indices.shape != (keypoints.shape[1],):
                raise MetainfoError(
                    f"{step}: flip_indices has {flip_indices.size} entries but the keypoints "
                    f"have {keypoints.shape[1]} ({describe_sample(results)})"
                )
            for key in PER_KEYPOINT_KEYS:
                if results.get(key) is not None:
                    results[key] = np.take(results[key], flip_indices, axis=1)
        results["keypoints"] = flip_keypoints(results["keypoints"], (w, h), None, direction)
    return results


@TRANSFORMS.register()
class RandomFlip(BaseTransform):
    """Flip with probability ``prob`` (one draw from ``results['rng']`` per sample).

    ``direction`` may be a list with a list of ``prob`` (one per direction) or one float
    shared equally. The draw replays ``numpy``'s ``choice`` (one uniform, cumulative
    probabilities), so a horizontal flip with prob 0.5 happens iff the uniform is < 0.5.
    Sets ``flip`` and ``flip_direction`` (None when not flipped). Runs before
    ``TopdownAffine``: it mirrors in the frame of the full image.
    """

    def __init__(self, prob: float | Sequence[float] = 0.5,
                 direction: str | Sequence[str] = "horizontal"):
        directions = [direction] if isinstance(direction, str) else list(direction)
        for d in directions:
            _check_direction(d)
        if isinstance(prob, (int, float)):
            probs = [float(prob) / len(directions)] * len(directions)
        else:
            probs = [float(p) for p in prob]
            if len(probs) != len(directions):
                raise ConfigError(
                    f"RandomFlip has {len(probs)} probabilities for {len(directions)} directions"
                )
        if any(p < 0 for p in probs) or sum(probs) > 1 + 1e-9:
            raise ConfigError(f"RandomFlip prob={prob!r}: probabilities must be >= 0, sum <= 1")
        self.prob = prob
        self.direction = direction
        self._choices: list[str | None] = [*directions, None]
        cdf = np.cumsum([*probs, max(0.0, 1.0 - sum(probs))])
        self._cdf = cdf / cdf[-1]

    def __call__(self, results: dict) -> dict:
        u = require_rng(results, "RandomFlip").random()
        direction = self._choices[int(np.searchsorted(self._cdf, u, side="right"))]
        results["flip"] = direction is not None
        results["flip_direction"] = direction
        if direction is not None:
            flip_sample(results, direction)
        return results
