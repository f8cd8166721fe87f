"""Decide the crop first, then decode only what it needs.

A training sample is a crop of ``input_size`` (e.g. 192x256) out of an image that is
often several times larger than the crop's box. Nothing between ``LoadImage`` and
``TopdownAffine`` in a top-down pipeline needs pixels: the image size comes from the
JPEG header, and flips, half-body and box jitter move only coordinates. So
``LoadImage`` can hand on a :class:`DeferredImage` (the file's bytes and its size),
flips are recorded as coordinate maps, and ``TopdownAffine`` decodes once it knows the
crop:

* when the crop shrinks the image by 3, 6 or 12 or more (1.5 x 2, 4, 8), libjpeg's DCT
  scaling (``cv2.IMREAD_REDUCED_*``) decodes the image at 1/2, 1/4 or 1/8 size: the inverse
  DCT and colour conversion run on 4x-64x fewer pixels and the reduced image is
  already low-pass filtered, which the bilinear warp alone is not;
* the warp matrix is composed with the recorded flips and with the reduced image's
  pixel grid (reduced pixel ``i`` covers full pixels ``[k*i, k*i + k)``, so its centre
  is full pixel ``k*i + (k-1)/2``), so keypoints and targets are unchanged;
* the warp is OpenCV's own ``warpAffine`` (bilinear, black border) without the
  flipped copy of the full image.

Crops then differ from full decoding by the filtering only (>= 28 dB PSNR in
``tests/test_fast_decode.py``); targets are identical. Evaluation pipelines keep
exact MMPose pixels: datasets in test mode never defer (see ``LoadImage``).

Region decoding (only the MCU rows and columns the crop covers) would help further for
small people in large images, but neither OpenCV nor a self-contained wheel exposes
libjpeg-turbo's partial decoding, so posemix does not do it.

Anything else that touches a DeferredImage's pixels (``np.asarray``, indexing, any
numpy function but ``np.flip``) decodes it in full, so an unforeseen pipeline step still
sees the right image, only without the speed-up.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from posemix.errors import ImageError

REDUCED_FLAGS = {
    cv2.IMREAD_COLOR: {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                       8: cv2.IMREAD_REDUCED_COLOR_8},
    cv2.IMREAD_GRAYSCALE: {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                           8: cv2.IMREAD_REDUCED_GRAYSCALE_8},
}


# A reduced image keeps at least this many of its pixels per crop pixel. Between 1 and
# 1.5 the full-resolution bilinear warp aliases so much more than the DCT-filtered one
# that the two crops of a textured image differ by more than 28 dB PSNR.
MIN_SOURCE_PIXELS = 1.5


def reduction_factor(matrix: np.ndarray, allowed: tuple[int, ...] = (8, 4, 2)) -> int:
    """The largest of ``allowed`` that still leaves ``MIN_SOURCE_PIXELS`` reduced pixels
    per crop pixel along every direction of the affine ``matrix`` (image → crop); 1 if
    none does."""
    (a, b), (c, d) = np.asarray(matrix, dtype=np.float64)[:, :2]
    norm2 = a * a + b * b + c * c + d * d
    det = a * d - b * c
    # largest singular value: crop pixels per image pixel in the most stretched direction
    stretch = math.sqrt((norm2 + math.sqrt(max(norm2 * norm2 - 4 * det * det, 0.0))) / 2)
    if not stretch > 0:
        return 1
    shrink = 1.0 / stretch
    return next((k for k in allowed if k * MIN_SOURCE_PIXELS <= shrink), 1)


def reduced_grid(k: int) -> np.ndarray:
    """3x3 map from the pixel grid of an image decoded at 1/k to the full image's grid."""
    offset = (k - 1) / 2
    return np.array([[k, 0, offset], [0, k, offset], [0, 0, 1]], dtype=np.float64)


class DeferredImage:
    """An encoded JPEG that stands in for its decoded (h, w[, 3]) uint8 image.

    ``shape``, ``dtype`` and ``ndim`` are known without decoding; ``np.flip`` over the
    spatial axes returns a mirrored DeferredImage (a coordinate map, no pixels);
    :meth:`warp` decodes what a crop needs; anything else decodes in full.
    """

    def __init__(self, data: bytes, flag: int, size: tuple[int, int], orientation: int,
                 label: str, frame: np.ndarray | None = None):
        self.data = data
        self.flag = flag
        self.width, self.height = size
        self.orientation = orientation
        self.label = label  # names the file and the sample in errors
        # maps stored-image pixel coordinates to the coordinates the pipeline sees
        self.frame = np.eye(3) if frame is None else frame

    # -- the ndarray facts that need no pixels ---------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        if self.flag == cv2.IMREAD_GRAYSCALE:
            return (self.height, self.width)
        return (self.height, self.width, 3)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"DeferredImage({self.label}, shape={self.shape})"

    # -- flips as coordinate maps ----------------------------------------------------------
    def flipped(self, axes: tuple[int, ...]) -> DeferredImage:
        """The image mirrored along ``axes`` (0 = rows, 1 = columns)."""
        mirror = np.eye(3)
        if 1 in axes:
            mirror[0, 0], mirror[0, 2] = -1, self.width - 1
        if 0 in axes:
            mirror[1, 1], mirror[1, 2] = -1, self.height - 1
        return DeferredImage(self.data, self.flag, (self.width, self.height),
                             self.orientation, self.label, mirror @ self.frame)

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, flag: int) -> np.ndarray:
        img = cv2.imdecode(np.frombuffer(self.data, np.uint8), flag)
        if img is None or img.size == 0:
            raise ImageError(f"{self.label}: cannot be decoded (corrupt JPEG data)")
        return img

    def decode(self) -> np.ndarray:
        """The full image as eager ``LoadImage`` would give it, flips applied."""
        img = self._decode(self.flag)
        axes = tuple(axis for axis, col in ((1, 0), (0, 1)) if self.frame[col, col] < 0)
        return np.ascontiguousarray(np.flip(img, axes)) if axes else img

    def warp(self, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
        """``warpAffine`` of the image with ``matrix`` (pipeline coordinates → crop) to
        ``output_size`` (w, h), bilinear with a black border, decoding at the smallest
        DCT scale that keeps ``MIN_SOURCE_PIXELS`` per crop pixel."""
        m = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]]) @ self.frame
        k = reduction_factor(m[:2]) if self.orientation == 1 else 1
        img = None
        if k > 1 and self.flag in REDUCED_FLAGS:
            img = self._decode(REDUCED_FLAGS[self.flag][k])
            if img.shape[:2] == (-(-self.height // k), -(-self.width // k)):
                m = m @ reduced_grid(k)
            else:  # a decoder that did not scale as libjpeg does: use the full image
                img = None
        if img is None:
            img = self._decode(self.flag)
        return cv2.warpAffine(img, m[:2], output_size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    # -- everything else sees the decoded pixels -------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        img = self.decode()
        return img if dtype is None else img.astype(dtype, copy=False)

    def __getitem__(self, index: Any) -> Any:
        return self.decode()[index]

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        if func is np.flip and args and args[0] is self:
            axes = self._spatial_axes(kwargs.get("axis", args[1] if len(args) > 1 else None))
            if axes is not None:
                return self.flipped(axes)
        args = tuple(np.asarray(a) if isinstance(a, DeferredImage) else a for a in args)
        kwargs = {k: np.asarray(v) if isinstance(v, DeferredImage) else v
                  for k, v in kwargs.items()}
        return func(*args, **kwargs)

    def _spatial_axes(self, axis: Any) -> tuple[int, ...] | None:
        """``axis`` of an ``np.flip`` call as rows/columns, or None if it flips channels."""
        if axis is None:
            return None if self.ndim == 3 else (0, 1)
        axes = tuple(a % self.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
        return axes if set(axes) <= {0, 1} else None
