"""Heatmap training targets: MSRA, DARK (unbiased) and UDP Gaussians, UDP offset maps.

Every function takes one instance's K keypoints already in heatmap coordinates and
builds all K channels at once with numpy broadcasting (a (K, h, w) grid costs a few
hundred microseconds, far less than a Python loop over keypoints). The arithmetic
follows MMPose 1.3.2 value for value: float32 Gaussians, centres rounded by truncation
(``int64(x + 0.5)``), and the same rules for when a keypoint's weight becomes 0.
"""

from __future__ import annotations

import numpy as np

from posemix.codecs.arguments import COORD_LIMIT


def _active_coords(keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask of keypoints to draw: visibility >= 0.5, coordinates safe to round).

    Coordinates of skipped keypoints become 0 (they may be NaN) and all are clipped to
    ``COORD_LIMIT`` so the int64 rounding below is defined; no clipped point can reach the map.
    """
    active = visible >= 0.5
    coords = np.where(active[:, None], keypoints, 0)
    return active, np.clip(coords, -COORD_LIMIT, COORD_LIMIT)


def _outside(low: np.ndarray, high: np.ndarray, heatmap_size: tuple[int, int]) -> np.ndarray:
    """MMPose's test that a Gaussian's support misses the map: left >= W, top >= H,
    right < 0 or bottom < 0, with ``low`` = (left, top) and ``high`` = (right, bottom)."""
    w, h = heatmap_size
    return (low[:, 0] >= w) | (low[:, 1] >= h) | (high[:, 0] < 0) | (high[:, 1] < 0)


def _gaussian(dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """exp(-(dx^2 + dy^2) / (2 sigma^2)) on the (K, h, w) grid, in float32 like MMPose.

    ``dx`` is (K, w) and ``dy`` is (K, h), both float32 distances to the centre.
    """
    d2 = np.square(dy)[:, :, None] + np.square(dx)[:, None, :]
    return np.exp(-d2 / np.float32(2 * sigma**2))


def windowed_gaussian_heatmaps(heatmap_size: tuple[int, int], keypoints: np.ndarray,
                               visible: np.ndarray, sigma: float,
                               subpixel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gaussians on a (6 sigma + 1)-wide window around the rounded keypoint.

    ``subpixel=False`` is MSRA (peak on the rounded pixel), ``subpixel=True`` is UDP (peak
    at the exact location, same window). Returns heatmaps (K, h, w) float32 and weights
    (K,) float32: a copy of ``visible``, set to 0 where a visible keypoint's window lies
    entirely off the map. Keypoints with visibility < 0.5 keep their weight and get an
    empty channel.
    """
    w, h = heatmap_size
    weights = visible.astype(np.float32)
    active, coords = _active_coords(keypoints, visible)
    radius = 3 * sigma
    extent = 2 * radius + 1
    patch = int(np.ceil(extent))  # the window is arange(extent) wide
    mu = (coords + 0.5).astype(np.int64)  # truncation toward zero, as MMPose
    low = (mu - radius).astype(np.int64)
    high = (mu + radius + 1).astype(np.int64)
    off_map = _outside(low, high, heatmap_size)
    weights[active & off_map] = 0
    draw = active & ~off_map
    centre = np.full(coords.shape, extent // 2, dtype=np.float64)
    if subpixel:
        centre += coords - mu
    dists, inside = [], []
    for axis, length in ((0, w), (1, h)):  # x then y: two axes, each vectorised over K
        pixels = np.arange(length)
        pos = pixels[None, :] - low[:, axis:axis + 1]  # position inside the window
        inside.append((pos >= 0) & (pos < patch) & (pixels[None, :] < high[:, axis:axis + 1]))
        dists.append(pos.astype(np.float32) - centre[:, axis:axis + 1].astype(np.float32))
    mask = inside[1][:, :, None] & inside[0][:, None, :] & draw[:, None, None]
    heatmaps = np.where(mask, _gaussian(dists[0], dists[1], sigma), np.float32(0))
    return heatmaps, weights


def unbiased_gaussian_heatmaps(heatmap_size: tuple[int, int], keypoints: np.ndarray,
                               visible: np.ndarray,
                               sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """DARK targets: a full-map Gaussian centred at the exact keypoint (no window).

    The weight rule is the windowed one with float bounds (kp - 3 sigma, kp + 3 sigma + 1).
    """
    w, h = heatmap_size
    weights = visible.astype(np.float32)
    active, coords = _active_coords(keypoints, visible)
    radius = 3 * sigma
    off_map = _outside(coords - radius, coords + radius + 1, heatmap_size)
    weights[active & off_map] = 0
    draw = active & ~off_map
    centre = coords.astype(np.float32)
    dx = np.arange(w, dtype=np.float32)[None, :] - centre[:, 0:1]
    dy = np.arange(h, dtype=np.float32)[None, :] - centre[:, 1:2]
    heatmaps = np.where(draw[:, None, None], _gaussian(dx, dy, sigma), np.float32(0))
    return heatmaps, weights


def offset_heatmaps(heatmap_size: tuple[int, int], keypoints: np.ndarray, visible: np.ndarray,
                    radius_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """UDP 'combined' targets: per keypoint a binary disc plus x and y offset maps.

    With ``radius = radius_factor * max(w, h)``, channel 3k is 1 where the pixel lies
    within ``radius`` of keypoint k, channels 3k+1 / 3k+2 hold (kp - pixel) / radius over
    the whole map. Returns (3K, h, w) float32 and the weights (a copy of ``visible``;
    this target type has no off-map rule).
    """
    w, h = heatmap_size
    weights = visible.astype(np.float32)
    active, coords = _active_coords(keypoints, visible)
    coords = coords.astype(np.float64)
    radius = radius_factor * max(w, h)
    dx = (coords[:, 0:1] - np.arange(w)[None, :]) / radius  # (K, w)
    dy = (coords[:, 1:2] - np.arange(h)[None, :]) / radius  # (K, h)
    maps = np.zeros((len(coords), 3, h, w), dtype=np.float32)
    maps[:, 0] = np.square(dx)[:, None, :] + np.square(dy)[:, :, None] <= 1
    maps[:, 1] = dx[:, None, :]
    maps[:, 2] = dy[:, :, None]
    maps[~active] = 0
    return maps.reshape(-1, h, w), weights
