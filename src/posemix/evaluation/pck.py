"""PCK: the share of labelled keypoints predicted within ``thr`` of the box size.

Used where a dataset has no OKS sigmas worth trusting or when several sources are
evaluated together (MMPose's body8 test set uses PCKAccuracy(thr=0.1)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from posemix.errors import ConfigError, PosemixError
from posemix.evaluation.base import BaseMetric, check_shape, sample_array
from posemix.registry import METRICS


def pck_per_keypoint(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray,
                     norm: np.ndarray, thr: float) -> np.ndarray:
    """Per-keypoint PCK (K,), NaN where no instance labels that keypoint.

    ``pred``, ``gt`` (N, K, 2); ``visible`` (N, K) bool; ``norm`` (N,) the normalising
    length per instance. Instances with a zero normaliser are left out (as in MMPose).
    """
    labelled = visible & (norm > 0)[:, None]
    safe = np.where(norm > 0, norm, 1.0)
    distance = np.linalg.norm((pred - gt) / safe[:, None, None], axis=-1)
    hits = (labelled & (distance < thr)).sum(axis=0)
    count = labelled.sum(axis=0)
    return np.divide(hits, count, out=np.full(count.shape, np.nan), where=count > 0)


@METRICS.register()
class PCKAccuracy(BaseMetric):
    """Bbox-normalised PCK (MMPose's PCKAccuracy with ``norm_item='bbox'``).

    Per sample: ``keypoints`` (N, K, 2) predictions, ``gt_keypoints`` (N, K, 2),
    ``gt_visible`` (N, K) (> 0 means labelled), ``gt_bbox`` (N, 4) xyxy. A keypoint is
    correct when its distance to the GT divided by max(w, h) of the GT box is below
    ``thr``. 'PCK' is the mean over keypoints of the per-keypoint accuracy (keypoints
    that no instance labels are skipped); with keypoint names in ``dataset_meta`` the
    per-keypoint values are reported as 'PCK/{name}'.
    """

    default_prefix = "pck"

    def __init__(self, thr: float = 0.05, norm_item: str | Sequence[str] = "bbox",
                 prefix: str | None = None):
        super().__init__(prefix)
        items = [norm_item] if isinstance(norm_item, str) else list(norm_item)
        if items != ["bbox"]:
            raise ConfigError(f"PCKAccuracy: norm_item={norm_item!r} is not supported; "
                              "posemix normalises by the GT box only ('bbox')")
        self.thr = float(thr)
        self.norm_item = norm_item

    def _parse(self, sample: Mapping[str, Any], index: int) -> dict[str, Any]:
        pred = sample_array(sample, "keypoints", 3, index)
        num, k = pred.shape[:2]
        check_shape(pred, (num, k, 2), "keypoints", index, sample)
        gt = sample_array(sample, "gt_keypoints", 3, index)
        check_shape(gt, (num, k, 2), "gt_keypoints", index, sample)
        visible = sample_array(sample, "gt_visible", 2, index)
        check_shape(visible, (num, k), "gt_visible", index, sample)
        box = sample_array(sample, "gt_bbox", 2, index)
        check_shape(box, (num, 4), "gt_bbox", index, sample)
        return {"pred": pred, "gt": gt, "visible": visible > 0,
                "norm": (box[:, 2:] - box[:, :2]).max(axis=1)}

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """PCK over all processed instances, plus per-keypoint PCK when names are known."""
        sizes = {r["pred"].shape[1] for r in results}
        if len(sizes) > 1:
            raise PosemixError(f"PCKAccuracy got predictions with different keypoint "
                               f"counts {sorted(sizes)}")
        per_keypoint = pck_per_keypoint(
            *(np.concatenate([r[key] for r in results]) for key in ("pred", "gt", "visible",
                                                                     "norm")),
            self.thr)
        valid = ~np.isnan(per_keypoint)
        metrics = {"PCK": float(per_keypoint[valid].mean()) if valid.any() else 0.0}
        names = self._meta.keypoint_names if self._meta is not None else ()
        if names:
            if len(names) != len(per_keypoint):
                raise PosemixError(f"predictions have {len(per_keypoint)} keypoints, the "
                                   f"schema '{self._meta.name}' has {len(names)}")
            for name, value in zip(names, per_keypoint, strict=True):
                if not np.isnan(value):
                    metrics[f"PCK/{name}"] = float(value)
        return metrics
