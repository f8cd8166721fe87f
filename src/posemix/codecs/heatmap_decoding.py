"""Turning heatmaps back into keypoints: argmax, blur, and MMPose's three refinements.

All functions work on every channel at once (fancy indexing instead of a loop over
keypoints) and never modify their inputs. Keypoints passed around here are in heatmap
pixels, shaped (N, K, 2) against heatmaps shaped (K, h, w).
"""

from __future__ import annotations

import cv2
import numpy as np

from posemix.errors import PosemixError


def get_heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of each channel's maximum, for any leading batch shape.

    ``heatmaps`` is (..., h, w). Returns locations (..., 2) float32 as (x, y) and values
    (...). Ties go to the first maximum in row-major order; a channel whose maximum is
    <= 0 gets location (-1, -1), as MMPose, so callers can tell "no detection".
    """
    hm = np.asarray(heatmaps)
    if hm.ndim < 2 or hm.shape[-1] == 0 or hm.shape[-2] == 0:
        raise PosemixError(
            f"get_heatmap_maximum: heatmaps must be a non-empty (..., h, w) array; "
            f"got shape {hm.shape}")
    *lead, h, w = hm.shape
    flat = hm.reshape(-1, h * w)
    index = flat.argmax(axis=1)
    values = np.take_along_axis(flat, index[:, None], axis=1)[:, 0]
    locs = np.stack([index % w, index // w], axis=-1).astype(np.float32)
    locs[values <= 0] = -1
    return locs.reshape(*lead, 2), values.reshape(lead)


def blur_channels(maps: np.ndarray, kernel_size: int | tuple[int, int],
                  pad_mode: str) -> np.ndarray:
    """Gaussian-blur each (h, w) channel of ``maps`` (C, h, w) independently with OpenCV.

    ``kernel_size`` is odd, or an odd (kw, kh) pair ((k, 1) blurs along rows only). Each
    channel is padded by half the kernel (``pad_mode`` 'constant' = zeros, 'reflect' =
    OpenCV's default BORDER_REFLECT_101) and the channels are stacked into one tall image:
    the padding keeps every output pixel's kernel inside its own channel, so one
    ``cv2.GaussianBlur`` call gives exactly the per-channel results. Sigma is OpenCV's
    default for the kernel size (2.0 for 11).
    """
    kw, kh = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    c, h, w = maps.shape
    bx, by = (kw - 1) // 2, (kh - 1) // 2
    padded = np.pad(maps.astype(np.float32), ((0, 0), (by, by), (bx, bx)), mode=pad_mode)
    tall = padded.reshape(c * (h + 2 * by), w + 2 * bx)
    blurred = cv2.GaussianBlur(tall, (kw, kh), 0)
    return blurred.reshape(c, h + 2 * by, w + 2 * bx)[:, by:by + h, bx:bx + w]


def gaussian_blur(heatmaps: np.ndarray, kernel_size: int | tuple[int, int]) -> np.ndarray:
    """DARK's modulation: zero-padded Gaussian blur, rescaled to each channel's old maximum.

    A channel whose blurred maximum is 0 (an all-zero map) stays 0 instead of becoming
    NaN as in MMPose.
    """
    blurred = blur_channels(heatmaps, kernel_size, "constant")
    old_max = heatmaps.max(axis=(1, 2)).astype(np.float32)
    new_max = blurred.max(axis=(1, 2))
    ratio = np.divide(old_max, new_max, out=np.zeros_like(old_max), where=new_max != 0)
    return blurred * ratio[:, None, None]


def _integer_locations(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer (x, y) of argmax locations (N, K, 2), truncated as ``int()`` does."""
    ints = keypoints.astype(np.int64)
    return ints[..., 0], ints[..., 1]


def _sampler(maps: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Return ``at(dy, dx)`` reading ``maps[k, y+dy, x+dx]`` for every (n, k) at once.

    Indices are clipped into the map; callers mask out the locations where MMPose
    would not read (its bounds tests guarantee in-range reads where it does).
    """
    k = np.arange(maps.shape[0])
    h, w = maps.shape[1:]

    def at(dy: int, dx: int) -> np.ndarray:
        return maps[k, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)]

    return at


def refine_keypoints(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """MSRA refinement: move a quarter pixel towards the larger neighbour on each axis.

    MMPose's bounds are asymmetric and kept: x moves only if 1 < x < w-1 and 0 < y < h,
    y only if 1 < y < h-1 and 0 < x < w. Locations at -1 therefore stay at -1.
    """
    h, w = heatmaps.shape[1:]
    out = np.array(keypoints, dtype=np.float32)
    x, y = _integer_locations(out)
    at = _sampler(heatmaps, x, y)
    dx = np.where((x > 1) & (x < w - 1) & (y > 0) & (y < h), at(0, 1) - at(0, -1), 0)
    dy = np.where((y > 1) & (y < h - 1) & (x > 0) & (x < w), at(1, 0) - at(-1, 0), 0)
    out += np.sign(np.stack([dx, dy], axis=-1)).astype(np.float32) * np.float32(0.25)
    return out


def _newton_offset(gx: np.ndarray, gy: np.ndarray, dxx: np.ndarray, dxy: np.ndarray,
                   dyy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Hessian^-1 @ gradient for 2x2 symmetric Hessians, 0 where ``valid`` is False or the
    Hessian is singular. Returns (..., 2) in the dtype of the inputs."""
    det = dxx * dyy - dxy * dxy
    ok = valid & (det != 0)
    det = np.where(ok, det, 1)
    off_x = np.where(ok, (dyy * gx - dxy * gy) / det, 0)
    off_y = np.where(ok, (dxx * gy - dxy * gx) / det, 0)
    return np.stack([off_x, off_y], axis=-1)


def refine_keypoints_dark(keypoints: np.ndarray, heatmaps: np.ndarray,
                          blur_kernel_size: int) -> np.ndarray:
    """DARK refinement: one Newton step on the log of the blurred heatmap.

    Derivatives are central differences with step 1 (gradient) and step 2 (Hessian);
    only locations with 1 < x < w-2 and 1 < y < h-2 and a non-singular Hessian move.
    Computed in float32, as MMPose.
    """
    h, w = heatmaps.shape[1:]
    logs = np.log(np.maximum(gaussian_blur(heatmaps, blur_kernel_size), np.float32(1e-10)))
    out = np.array(keypoints, dtype=np.float32)
    x, y = _integer_locations(out)
    at = _sampler(logs, x, y)
    half, quarter = np.float32(0.5), np.float32(0.25)
    gx = half * (at(0, 1) - at(0, -1))
    gy = half * (at(1, 0) - at(-1, 0))
    dxx = quarter * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = quarter * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = quarter * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    valid = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    out -= _newton_offset(gx, gy, dxx, dxy, dyy, valid).astype(np.float32)
    return out


def refine_keypoints_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray,
                              blur_kernel_size: int) -> np.ndarray:
    """DARK-UDP refinement: Newton step on the clipped log of the blurred heatmap.

    Unlike DARK there is no bounds test: the log map is edge-padded by one pixel and the
    neighbours are read from the flattened padded stack, exactly like MMPose, including
    its wrap-around for locations at -1 (which read a neighbouring channel). Derivatives
    are float32; the Hessian gets ``eps_float32 * I`` added and the step is float64.
    """
    k_count, h, w = heatmaps.shape
    logs = np.log(np.clip(gaussian_blur(heatmaps, blur_kernel_size), 1e-3, 50.0))
    flat = np.pad(logs, ((0, 0), (1, 1), (1, 1)), mode="edge").ravel()
    row = w + 2
    out = np.array(keypoints, dtype=np.float32)
    x, y = _integer_locations(out)
    centre = (x + 1) + (y + 1) * row + np.arange(k_count) * (row * (h + 2))

    def at(offset: int) -> np.ndarray:
        return flat[centre + offset]

    half = np.float32(0.5)
    gx = half * (at(1) - at(-1))
    gy = half * (at(row) - at(-row))
    dxx = at(1) - 2 * at(0) + at(-1)
    dyy = at(row) - 2 * at(0) + at(-row)
    dxy = half * (at(row + 1) - at(1) - at(row) + 2 * at(0) - at(-1) - at(-row) + at(-row - 1))
    eps = float(np.finfo(np.float32).eps)
    gx, gy, dxx, dxy, dyy = (v.astype(np.float64) for v in (gx, gy, dxx, dxy, dyy))
    valid = np.ones(x.shape, dtype=bool)
    out -= _newton_offset(gx, gy, dxx + eps, dxy, dyy + eps, valid).astype(np.float32)
    return out


def decode_offset_heatmaps(heatmaps: np.ndarray, blur_kernel_size: int,
                           radius_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints from UDP 'combined' maps (3K, h, w): disc argmax plus the stored offset.

    The disc channels are blurred with a ``2 * blur_kernel_size + 1`` kernel (OpenCV's
    default reflect border), the argmax of each is taken (scores = blurred maxima), and
    ``offset * radius`` read at that pixel is added. Returns heatmap-space keypoints
    (1, K, 2) float32 and scores (1, K). Locations at -1 read their offsets at the
    flattened index MMPose computes for them (a neighbouring channel).
    """
    _, h, w = heatmaps.shape
    discs = blur_channels(heatmaps[0::3], 2 * blur_kernel_size + 1, "reflect")
    locs, scores = get_heatmap_maximum(discs)
    radius = radius_factor * max(w, h)
    x, y = _integer_locations(locs)
    index = x + y * w + np.arange(len(locs)) * (w * h)
    offsets = np.stack([heatmaps[1::3].ravel()[index], heatmaps[2::3].ravel()[index]], axis=-1)
    keypoints = locs + offsets * np.float32(radius)
    return keypoints[None], scores[None]
