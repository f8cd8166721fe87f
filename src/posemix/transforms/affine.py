"""The crop: warp the box (centre, scale, rotation) onto the model input, image and keypoints.

Two conventions, both MMPose's:

* standard (``get_warp_matrix``): isotropic zoom ``w_out / scale_w``, the box centre goes
  to ``(w_out/2, h_out/2)`` (half a pixel off the grid centre), rotation counter-clockwise
  on screen for positive angles;
* UDP (``get_udp_warp_matrix``): the box edges go to the first and last pixel centres,
  zoom ``(w_out-1)/scale_w`` and ``(h_out-1)/scale_h``, rotation in the opposite sense.

The float32/float64 mix inside each matrix and OpenCV 4's fixed-point bilinear sampling
are reproduced, so crops and keypoints match MMPose 1.3.2 bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import cv2
import numpy as np

import posemix.transforms.bbox as bbox_helpers
from posemix.errors import AnnotationError, ConfigError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, describe_sample, require
from posemix.transforms.crop_first import DeferredImage


def _rotate(point: np.ndarray, theta: np.floating | float) -> np.ndarray:
    """``R(theta) @ point``; sin/cos keep theta's dtype (float32 angles give float32 sin/cos)."""
    sin, cos = np.sin(theta), np.cos(theta)
    return np.array([[cos, -sin], [sin, cos]]) @ point


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b + rot90ccw(a - b)``: completes a right angle at ``b``, fixing the aspect ratio."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=d.dtype)


def get_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                    output_size: tuple[int, int], shift: tuple[float, float] = (0.0, 0.0),
                    inv: bool = False, fix_aspect_ratio: bool = True) -> np.ndarray:
    """(2, 3) float64 matrix mapping the box (``center``, ``scale`` (w, h), ``rot`` degrees)
    onto an output of ``output_size`` (w, h); ``inv`` maps back. ``shift`` is in box units.

    Built from three point pairs and ``cv2.getAffineTransform``, the points rounded to
    float32 exactly as MMPose rounds them.
    """
    shift = np.asarray(shift)
    dst_w, dst_h = output_size
    theta = np.deg2rad(rot)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + scale * shift
    src[1] = center + _rotate(np.array([scale[0] * -0.5, 0.0]), theta) + scale * shift
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([dst_w * -0.5, 0.0])
    if fix_aspect_ratio:
        src[2] = _third_point(src[0], src[1])
        dst[2] = _third_point(dst[0], dst[1])
    else:
        src[2] = center + _rotate(np.array([0.0, scale[1] * -0.5]), theta) + scale * shift
        dst[2] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0.0, dst_h * -0.5])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def get_udp_warp_matrix(center: np.ndarray, scale: np.ndarray, rot: float,
                        output_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) float32 UDP matrix: box edges onto pixel centres 0 and ``size - 1`` per axis.

    Entries are computed in float64 (``math.cos``/``sin`` of the angle in radians, which
    keeps ``rot``'s dtype) and stored as float32, as MMPose does.
    """
    theta = float(np.deg2rad(rot))
    cos, sin = math.cos(theta), math.sin(theta)
    cx, cy = float(center[0]), float(center[1])
    sw, sh = float(scale[0]), float(scale[1])
    sx = (output_size[0] - 1) / sw
    sy = (output_size[1] - 1) / sh
    return np.array([
        [cos * sx, -sin * sx, sx * (-cx * cos + cy * sin + 0.5 * sw)],
        [sin * sy, cos * sy, sy * (-cx * sin - cy * cos + 0.5 * sh)],
    ], dtype=np.float32)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (..., 2) points, in float64, keeping the points' dtype.

    This is what MMPose's ``cv2.transform`` call computed under OpenCV 4.x (verified
    bit for bit on the golden files); OpenCV 5 rounds differently, so numpy does it.
    """
    m = np.asarray(matrix, dtype=np.float64)
    moved = np.asarray(points, dtype=np.float64) @ m[:, :2].T + m[:, 2]
    return moved.astype(points.dtype)


_INT16, _INT32 = np.iinfo(np.int16), np.iinfo(np.int32)


def _fixed_point(values: np.ndarray) -> np.ndarray:
    """float px → int32 1/1024 px, rounded half to even and saturated like OpenCV's cvRound."""
    return np.clip(np.rint(values * 1024), _INT32.min, _INT32.max).astype(np.int32)


def warp_affine(img: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine(img, matrix, output_size, INTER_LINEAR)`` with a black border, pixel
    for pixel as OpenCV 4.x (MMPose's reference) computes it, whatever OpenCV is installed.

    OpenCV 4 inverts the matrix in float64, steps the source position in 1/1024 px fixed
    point, rounds it to 1/32 px and interpolates with 15-bit integer weights; OpenCV 5
    interpolates in floating point and differs by up to ~5 grey levels at sharp edges.
    The 1/32-px positions are computed here and handed to ``cv2.remap``'s fixed-point
    path, which still uses OpenCV 4's integer weights.
    """
    w, h = output_size
    (m00, m01, m02), (m10, m11, m12) = np.asarray(matrix, dtype=np.float64)
    det = m00 * m11 - m01 * m10
    det = 1.0 / det if det != 0 else 0.0
    a00, a01, a10, a11 = m11 * det, -m01 * det, -m10 * det, m00 * det
    b0 = -a00 * m02 - a01 * m12
    b1 = -a10 * m02 - a11 * m12
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    # Source positions in 1/1024 px (int32, as OpenCV): row start + half a 1/32 step, plus
    # the column step; then >> 5 gives 1/32 px, split into whole pixels and the fraction.
    pos = np.empty((h, w, 2), dtype=np.int32)
    np.add((_fixed_point(a01 * ys + b0) + 16)[:, None], _fixed_point(a00 * xs), out=pos[..., 0])
    np.add((_fixed_point(a11 * ys + b1) + 16)[:, None], _fixed_point(a10 * xs), out=pos[..., 1])
    pos >>= 5
    fraction = ((pos[..., 1] & 31) << 5 | (pos[..., 0] & 31)).astype(np.uint16)
    pos >>= 5
    whole = np.clip(pos, _INT16.min, _INT16.max, out=pos).astype(np.int16)
    return cv2.remap(np.ascontiguousarray(img), whole, fraction, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@TRANSFORMS.register()
class TopdownAffine(BaseTransform):
    """Crop the box to ``input_size`` (w, h): sets ``img``, ``transformed_keypoints``,
    ``input_size``, ``input_center``, ``input_scale``.

    ``bbox_scale`` is first grown to the input's aspect ratio (and stored back, as MMPose
    does). The image is warped with bilinear interpolation and a black border
    (``warp_affine``). A box with zero width and height (or a non-finite one) has no crop
    and raises ``AnnotationError``; a box with only one zero side is grown by the aspect fix.
    """

    def __init__(self, input_size: Sequence[int], use_udp: bool = False):
        if len(input_size) != 2 or not all(isinstance(v, Integral) and v > 0 for v in input_size):
            raise ConfigError(
                f"TopdownAffine input_size={input_size!r} must be two positive ints (w, h)"
            )
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_udp = use_udp

    def __call__(self, results: dict) -> dict:
        step = "TopdownAffine"
        w, h = self.input_size
        img = require(results, "img", step)
        center = require(results, "bbox_center", step)
        scale = bbox_helpers.fix_aspect_ratio(require(results, "bbox_scale", step), w / h)
        if center.shape[0] != 1:
            raise ConfigError(
                f"{step} crops one instance per sample, got {center.shape[0]} boxes "
                f"({describe_sample(results)})"
            )
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            bbox = np.asarray(results.get("bbox")).tolist()
            raise AnnotationError(
                str(results.get("img_path")),
                f"the crop box has no area or is not finite (bbox={bbox}, bbox_scale="
                f"{scale.tolist()}); a top-down crop needs a box with positive width or "
                f"height ({describe_sample(results, with_image=False)})",
                field="bbox",
            )
        results["bbox_scale"] = scale
        rotation = results.get("bbox_rotation")
        rot = rotation[0] if rotation is not None else 0.0
        if self.use_udp:
            matrix = get_udp_warp_matrix(center[0], scale[0], rot, (w, h))
        else:
            matrix = get_warp_matrix(center[0], scale[0], rot, (w, h))
        if isinstance(img, DeferredImage):  # crop-first decoding (LoadImage)
            results["img"] = img.warp(matrix, (w, h))
        else:
            results["img"] = warp_affine(img, matrix, (w, h))
        if results.get("keypoints") is not None:
            results["transformed_keypoints"] = transform_points(results["keypoints"], matrix)
        results["input_size"] = (w, h)
        results["input_center"] = center[0]
        results["input_scale"] = scale[0]
        return results
