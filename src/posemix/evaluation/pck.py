"""PCK, AUC and EPE: distance metrics over labelled keypoints, as MMPose computes them.

Used where a dataset has no OKS sigmas worth trusting or when several sources are
evaluated together (MMPose's body8 test set uses PCKAccuracy(thr=0.1), AUC() and EPE()).
All three read the same per-sample fields (see ``KeypointDistanceMetric``) and work in
original image pixels.
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


def pck_mean(per_keypoint: np.ndarray) -> float:
    """MMPose's average PCK: the mean over keypoints that some instance labels (0 if none)."""
    valid = ~np.isnan(per_keypoint)
    return float(per_keypoint[valid].mean()) if valid.any() else 0.0


class KeypointDistanceMetric(BaseMetric):
    """Reads per sample ``keypoints`` (N, K, 2) predictions, ``gt_keypoints`` (N, K, 2),
    ``gt_visible`` (N, K) (> 0 means labelled) and ``gt_bbox`` (N, 4) xyxy."""

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

    def _pooled(self, results: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
        """(pred, gt, visible, norm) of every processed instance."""
        sizes = {r["pred"].shape[1] for r in results}
        if len(sizes) > 1:
            raise PosemixError(f"{type(self).__name__} got predictions with different keypoint "
                               f"counts {sorted(sizes)}")
        return tuple(np.concatenate([r[key] for r in results])
                     for key in ("pred", "gt", "visible", "norm"))


@METRICS.register()
class PCKAccuracy(KeypointDistanceMetric):
    """Bbox-normalised PCK (MMPose's PCKAccuracy with ``norm_item='bbox'``).

    A keypoint is correct when its distance to the GT divided by max(w, h) of the GT box
    is below ``thr``. 'PCK' is the mean over keypoints of the per-keypoint accuracy
    (keypoints that no instance labels are skipped); with keypoint names in
    ``dataset_meta`` the per-keypoint values are reported as 'PCK/{name}'.
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

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """PCK over all processed instances, plus per-keypoint PCK when names are known."""
        per_keypoint = pck_per_keypoint(*self._pooled(results), self.thr)
        metrics = {"PCK": pck_mean(per_keypoint)}
        names = self._meta.keypoint_names if self._meta is not None else ()
        if names:
            if len(names) != len(per_keypoint):
                raise PosemixError(f"predictions have {len(per_keypoint)} keypoints, the "
                                   f"schema '{self._meta.name}' has {len(names)}")
            for name, value in zip(names, per_keypoint, strict=True):
                if not np.isnan(value):
                    metrics[f"PCK/{name}"] = float(value)
        return metrics


@METRICS.register()
class AUC(KeypointDistanceMetric):
    """MMPose's AUC: the mean of PCK at ``num_thrs`` thresholds ``i / num_thrs`` with every
    distance divided by ``norm_factor`` pixels (not the box size). The threshold 0 scores 0,
    so the maximum is ``1 - 1 / num_thrs``."""

    default_prefix = "auc"

    def __init__(self, norm_factor: float = 30, num_thrs: int = 20, prefix: str | None = None):
        super().__init__(prefix)
        if not norm_factor > 0 or int(num_thrs) < 1:
            raise ConfigError(f"AUC needs norm_factor > 0 and num_thrs >= 1, got "
                              f"{norm_factor!r} and {num_thrs!r}")
        self.norm_factor = float(norm_factor)
        self.num_thrs = int(num_thrs)

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, visible, _ = self._pooled(results)
        norm = np.full(len(pred), self.norm_factor)
        pcks = [pck_mean(pck_per_keypoint(pred, gt, visible, norm, i / self.num_thrs))
                for i in range(self.num_thrs)]
        return {"AUC": float(np.mean(pcks))}


@METRICS.register()
class EPE(KeypointDistanceMetric):
    """MMPose's end-point error: the mean pixel distance over all labelled (instance,
    keypoint) pairs (not averaged per keypoint first)."""

    default_prefix = "epe"

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, visible, _ = self._pooled(results)
        distance = np.linalg.norm(pred - gt, axis=-1)[visible]
        return {"EPE": float(distance.sum() / max(1, distance.size))}
