"""Box centre/scale: the crop window every top-down step works in, in image pixels.

Scale is the padded box size in pixels (MMPose 1.x: no pixel-std-200, no ``+1``).
"""

from __future__ import annotations

import warnings

import numpy as np

from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(x1+x2)/2, (y1+y2)/2`` and scale ``(x2-x1, y2-y1) * padding`` of (..., 4) boxes.

    The dtype follows ``bbox`` (float32 in the pipeline), as in MMPose.
    """
    bbox = np.asarray(bbox)
    center = (bbox[..., :2] + bbox[..., 2:]) * 0.5
    scale = (bbox[..., 2:] - bbox[..., :2]) * padding
    return center, scale


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow each (w, h) row to width/height == ``aspect_ratio`` (never shrinks).

    ``w > h * ar`` keeps w and grows h to ``w / ar``; otherwise (ties included) h is kept.
    """
    w, h = bbox_scale[..., :1], bbox_scale[..., 1:]
    return np.where(w > h * aspect_ratio,
                    np.concatenate([w, w / aspect_ratio], axis=-1),
                    np.concatenate([h * aspect_ratio, h], axis=-1))


@TRANSFORMS.register()
class GetBBoxCenterScale(BaseTransform):
    """Set ``bbox_center`` and ``bbox_scale`` (N, 2) from ``bbox`` (N, 4) xyxy, padded.

    If both already exist (e.g. set by the dataset), only ``bbox_scale`` is multiplied by
    ``padding``, with a warning, as MMPose does. A zero-area box passes through here with
    a zero scale; ``TopdownAffine`` rejects a box whose width and height are both zero.
    """

    def __init__(self, padding: float = 1.25):
        self.padding = padding

    def __call__(self, results: dict) -> dict:
        if "bbox_center" in results and "bbox_scale" in results:
            warnings.warn(
                "GetBBoxCenterScale: bbox_center and bbox_scale are already set; only "
                f"multiplying bbox_scale by padding={self.padding}", stacklevel=2,
            )
            results["bbox_scale"] = results["bbox_scale"] * self.padding
        else:
            bbox = require(results, "bbox", "GetBBoxCenterScale", "xyxy boxes, shape (N, 4)")
            results["bbox_center"], results["bbox_scale"] = bbox_xyxy2cs(bbox, self.padding)
        return results
