"""Colour augmentation of the crop: MMPose's YOLOXHSVRandomAug and PhotometricDistortion.

Both act on the (h, w, 3) uint8 BGR crop after ``TopdownAffine`` and never move a
keypoint. Each is split in two: ``draw_params`` makes MMPose's random draws (same order,
same count, from the sample's generator) and ``apply`` is a pure function of the image and
those draws, so tests can pin the draws and check the value maps by hand.

Every per-pixel step is a function of one channel value, so it runs as a 256-entry lookup
table (``cv2.LUT``) built with the exact arithmetic MMPose uses (int16 sums, float32
``x * alpha + beta`` then a truncating cast): the same bytes, at a fraction of the cost of
the full-image float arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from posemix.errors import ConfigError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require, require_rng

_VALUES = np.arange(256)


def _color_crop(results: dict, step: str) -> np.ndarray:
    img = np.asarray(require(results, "img", step))
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ConfigError(f"{step} needs a (h, w, 3) uint8 BGR image, got "
                          f"{img.dtype} {img.shape}; put it after TopdownAffine and keep "
                          "LoadImage's color_type='color'")
    return img


def _lut(table: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Apply a (256,) table to every channel, or a (256, 3) table per channel, of a
    3-channel image (a one-channel table is twice as fast in OpenCV)."""
    table = np.ascontiguousarray(np.asarray(table).astype(np.uint8))
    if table.ndim == 2:
        table = table.reshape(1, 256, 3)
    return cv2.LUT(np.ascontiguousarray(img), table)


def _swap_channels(img: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``img[..., order]`` (OpenCV's mixChannels: several times faster than numpy's)."""
    out = np.empty_like(img)
    cv2.mixChannels([np.ascontiguousarray(img)], [out],
                    [v for i, c in enumerate(order) for v in (c, i)])
    return out


def convert_table(alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """MMPose's ``convert``: ``uint8(clip(float32(x) * alpha + beta, 0, 255))`` per value."""
    values = _VALUES.astype(np.float32) * np.float32(alpha) + np.float32(beta)
    return np.clip(values, 0, 255).astype(np.uint8)


# -- YOLOXHSVRandomAug --------------------------------------------------------------------------
def yolox_gains(uniform: np.ndarray, gate: np.ndarray,
                deltas: tuple[float, float, float]) -> np.ndarray:
    """The int16 (hue, saturation, value) offsets: ``uniform`` in [-1, 1) times the deltas,
    zeroed where ``gate`` is 0, truncated toward zero."""
    return (np.asarray(uniform) * np.asarray(deltas) * np.asarray(gate)).astype(np.int16)


def shift_hsv(hsv: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """OpenCV 8-bit HSV plus ``gains``: hue modulo 180, saturation and value clipped to
    [0, 255]."""
    table = np.stack([(_VALUES + gains[0]) % 180,
                      np.clip(_VALUES + gains[1], 0, 255),
                      np.clip(_VALUES + gains[2], 0, 255)], axis=1)
    return _lut(table, hsv)


@TRANSFORMS.register()
@TRANSFORMS.register(name="mmdet.YOLOXHSVRandomAug")
class YOLOXHSVRandomAug(BaseTransform):
    """mmdet's HSV jitter: additive int16 offsets, each channel kept with probability 1/2.

    Draws: ``uniform(-1, 1, 3)`` then ``integers(0, 2, 3)`` (reference section 6.7). Not the
    multiplicative LUT version of the original YOLOX code, which is a different augmentation.
    """

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30):
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    def draw_params(self, rng: np.random.Generator) -> np.ndarray:
        """The (3,) int16 gains for one image."""
        uniform = rng.uniform(-1, 1, 3)
        gate = rng.integers(0, 2, 3)
        return yolox_gains(uniform, gate,
                           (self.hue_delta, self.saturation_delta, self.value_delta))

    @staticmethod
    def apply(img: np.ndarray, gains: np.ndarray) -> np.ndarray:
        if not np.any(gains):  # all three gated off or truncated to 0: the same image
            return img
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        return cv2.cvtColor(shift_hsv(hsv, gains), cv2.COLOR_HSV2BGR)

    def __call__(self, results: dict) -> dict:
        step = "YOLOXHSVRandomAug"
        img = _color_crop(results, step)
        results["img"] = self.apply(img, self.draw_params(require_rng(results, step)))
        return results


# -- PhotometricDistortion ----------------------------------------------------------------------
@dataclass(frozen=True)
class DistortionParams:
    """One image's draws of PhotometricDistortion, in MMPose's draw order."""

    contrast_mode: int
    brightness_flag: int
    contrast_flag: int
    hsv_mode: int
    swap_flag: int
    delta_value: float
    alpha_value: float
    saturation_value: float
    hue_value: int
    swap_value: tuple[int, int, int]


@TRANSFORMS.register()
class PhotometricDistortion(BaseTransform):
    """MMPose's PhotometricDistortion: brightness, contrast, saturation, hue, channel swap.

    Each step is applied with probability 1/2. MMPose's version tests ``contrast_mode == 1``
    both before and after the HSV step, so contrast is applied twice (same alpha) or not at
    all; the hue offset is added in uint8, wrapping modulo 256 before OpenCV's HSV2BGR reduces
    it modulo 180. Both quirks are kept (reference section 6.8).
    """

    def __init__(self, brightness_delta: int = 32, contrast_range: tuple = (0.5, 1.5),
                 saturation_range: tuple = (0.5, 1.5), hue_delta: int = 18):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    def draw_params(self, rng: np.random.Generator) -> DistortionParams:
        return DistortionParams(
            contrast_mode=int(rng.integers(2)), brightness_flag=int(rng.integers(2)),
            contrast_flag=int(rng.integers(2)), hsv_mode=int(rng.integers(4)),
            swap_flag=int(rng.integers(2)),
            delta_value=float(rng.uniform(-self.brightness_delta, self.brightness_delta)),
            alpha_value=float(rng.uniform(self.contrast_lower, self.contrast_upper)),
            saturation_value=float(rng.uniform(self.saturation_lower, self.saturation_upper)),
            hue_value=int(rng.integers(-self.hue_delta, self.hue_delta)),
            swap_value=tuple(int(i) for i in rng.permutation(3)))

    @staticmethod
    def apply(img: np.ndarray, p: DistortionParams) -> np.ndarray:
        contrast = p.contrast_mode == 1 and p.contrast_flag
        table = None  # pending per-value steps, composed into one table (None: identity)
        if p.brightness_flag:
            table = convert_table(beta=p.delta_value)
        if contrast:
            alpha = convert_table(alpha=p.alpha_value)
            table = alpha if table is None else alpha[table]
        if p.hsv_mode:
            hsv = cv2.cvtColor(img if table is None else _lut(table, img), cv2.COLOR_BGR2HSV)
            saturation = convert_table(alpha=p.saturation_value) if p.hsv_mode in (1, 3) \
                else _VALUES
            hue = (_VALUES + p.hue_value) % 256 if p.hsv_mode in (2, 3) else _VALUES
            img = cv2.cvtColor(_lut(np.stack([hue, saturation, _VALUES], axis=1), hsv),
                               cv2.COLOR_HSV2BGR)
            table = None
        if contrast:
            alpha = convert_table(alpha=p.alpha_value)
            table = alpha if table is None else alpha[table]
        if table is not None:
            img = _lut(table, img)
        if p.swap_flag:
            img = _swap_channels(img, p.swap_value)
        return img

    def __call__(self, results: dict) -> dict:
        step = "PhotometricDistortion"
        img = _color_crop(results, step)
        results["img"] = self.apply(img, self.draw_params(require_rng(results, step)))
        return results
