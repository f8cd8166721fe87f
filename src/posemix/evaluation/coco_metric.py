"""COCO keypoint AP/AR, with MMPose CocoMetric's rescoring, OKS NMS and result format.

The OKS matching and AP/AR accumulation are done by faster-coco-eval (a maintained
C++ COCOeval); this module prepares its inputs so that the numbers equal those of
MMPose's CocoMetric on xtcocotools:

* the ground-truth file is read and checked by :func:`posemix.evaluation.coco_gt.load_coco_gt`
  (missing ``area`` / ``iscrowd`` filled as xtcocotools does);
* detections whose keypoint scores are all <= 0 are left out, as xtcocotools does.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster

from posemix.errors import ConfigError, PosemixError
from posemix.evaluation.base import BaseMetric, MetricMeta, check_shape, sample_array
from posemix.evaluation.coco_gt import load_coco_gt
from posemix.evaluation.nms import oks_nms, soft_oks_nms
from posemix.registry import METRICS

logger = logging.getLogger(__name__)

SCORE_MODES = ("bbox", "bbox_keypoint", "bbox_rle", "keypoint")
NMS_MODES = ("oks_nms", "soft_oks_nms", "none")
STAT_NAMES = {
    "keypoints": ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
                  "AR", "AR .5", "AR .75", "AR (M)", "AR (L)"),
    "keypoints_crowd": ("AP", "AP .5", "AP .75", "AR", "AR .5", "AR .75",
                        "AP(E)", "AP(M)", "AP(H)"),
}


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"CocoMetric: {name}='{value}' is not one of {', '.join(allowed)}")
    return value


def instance_scores(keypoint_scores: np.ndarray, bbox_scores: np.ndarray, mode: str,
                    keypoint_score_thr: float) -> np.ndarray:
    """Per-instance confidence used for NMS and AP ranking (MMPose's score modes).

    'bbox_keypoint' multiplies the bbox score by the mean of the keypoint scores above
    ``keypoint_score_thr`` (0 when none is), so confident boxes with poor poses rank low.
    """
    if mode == "bbox":
        return bbox_scores.copy()
    if mode == "keypoint":
        return keypoint_scores.mean(axis=1)
    if mode == "bbox_rle":
        return bbox_scores + keypoint_scores.mean(axis=1) + keypoint_scores.max(axis=1)
    above = keypoint_scores > keypoint_score_thr
    count = above.sum(axis=1)
    total = np.where(above, keypoint_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return bbox_scores * mean


def write_json_atomically(obj: Any, path: Path) -> None:
    """Write ``obj`` as JSON so that readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@METRICS.register()
class CocoMetric(BaseMetric):
    """COCO keypoint AP/AR of top-down predictions against a COCO-format annotation file.

    Predictions (``process``) are dicts per sample: ``id``, ``img_id``, ``keypoints``
    (N, K, 2), ``keypoint_scores`` (N, K), optional ``bbox`` (N, 4) xyxy, ``bbox_score``
    (N,) (default 1), ``area`` (N,) (default: the keypoints' extent box; MMPose passes
    the crop scale's product), ``category_id`` (default 1). The sigmas come from
    ``dataset_meta``. ``evaluate()`` returns ``{prefix}/AP`` etc.; with ``format_only``
    it only writes ``{outfile_prefix}.keypoints.json`` and returns ``{}``.
    """

    default_prefix = "coco"

    def __init__(self, ann_file: str | os.PathLike | None = None, use_area: bool = True,
                 iou_type: str = "keypoints", score_mode: str = "bbox_keypoint",
                 keypoint_score_thr: float = 0.2, nms_mode: str = "oks_nms",
                 nms_thr: float = 0.9, format_only: bool = False,
                 outfile_prefix: str | os.PathLike | None = None,
                 prefix: str | None = None):
        super().__init__(prefix)
        self.use_area = bool(use_area)
        self.iou_type = _choice("iou_type", iou_type, tuple(STAT_NAMES))
        self.score_mode = _choice("score_mode", score_mode, SCORE_MODES)
        self.nms_mode = _choice("nms_mode", nms_mode, NMS_MODES)
        self.keypoint_score_thr = float(keypoint_score_thr)
        self.nms_thr = float(nms_thr)
        self.format_only = bool(format_only)
        if self.format_only and outfile_prefix is None:
            raise ConfigError("CocoMetric: format_only=True needs outfile_prefix "
                              "(where to write the results json)")
        self.outfile_prefix = None if outfile_prefix is None else str(outfile_prefix)
        self._gt_num_keypoints = 0
        self.ann_file = ann_file

    @property
    def ann_file(self) -> str | None:
        """The GT annotation file; setting it loads and checks the file (unless
        ``format_only``, where it may be an image-info file without annotations)."""
        return self._ann_file

    @ann_file.setter
    def ann_file(self, path: str | os.PathLike | None) -> None:
        self._coco_gt: COCO | None = None
        if path is not None and not self.format_only:
            self._coco_gt, self._gt_num_keypoints = load_coco_gt(path, self.use_area)
        self._ann_file = None if path is None else str(path)

    def _parse(self, sample: Mapping[str, Any], index: int) -> dict[str, Any]:
        for key in ("id", "img_id"):
            if key not in sample:
                raise PosemixError(f"prediction {index} has no '{key}'")
        keypoints = sample_array(sample, "keypoints", 3, index)
        num, k = keypoints.shape[:2]
        check_shape(keypoints, (num, k, 2), "keypoints", index, sample)
        scores = sample_array(sample, "keypoint_scores", 2, index)
        check_shape(scores, (num, k), "keypoint_scores", index, sample)
        bbox_score = sample_array(sample, "bbox_score", 1, index, default=np.ones(num))
        check_shape(bbox_score, (num,), "bbox_score", index, sample)
        if "area" in sample:
            area = sample_array(sample, "area", 1, index)
            check_shape(area, (num,), "area", index, sample)
        else:
            extent = keypoints.max(axis=1) - keypoints.min(axis=1) if k else np.zeros((num, 2))
            area = extent[:, 0] * extent[:, 1]
        bbox = None
        if sample.get("bbox") is not None:
            xyxy = sample_array(sample, "bbox", 2, index)
            check_shape(xyxy, (num, 4), "bbox", index, sample)
            bbox = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        return {
            "id": int(sample["id"]), "img_id": int(sample["img_id"]),
            "category_id": int(sample.get("category_id", 1)),
            "keypoints": keypoints, "keypoint_scores": scores, "bbox_score": bbox_score,
            "area": area, "bbox": bbox,
        }

    def _require_meta(self) -> MetricMeta:
        if self._meta is None or self._meta.sigmas is None:
            raise PosemixError("CocoMetric needs dataset_meta with keypoint sigmas "
                               "(set metric.dataset_meta = schema before evaluate())")
        return self._meta

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        """Rescore, de-duplicate, NMS, write/evaluate (MMPose's compute_metrics order)."""
        meta = self._require_meta()
        for record in results:
            k = record["keypoints"].shape[1]
            if k != meta.num_keypoints:
                raise PosemixError(
                    f"predictions have {k} keypoints, the schema '{meta.name}' has "
                    f"{meta.num_keypoints} (prediction id {record['id']}); evaluate each "
                    "source on its own keypoint subset (output_keypoint_indices)")
        coco_results = self._results_json(self._unique(results), meta)
        if self.outfile_prefix is not None:
            outfile = Path(f"{self.outfile_prefix}.keypoints.json")
            write_json_atomically(coco_results, outfile)
            logger.info("keypoint results written to %s", outfile)
        if self.format_only:
            return {}
        return self._coco_eval(coco_results, meta)

    @staticmethod
    def _unique(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Distributed samplers pad the last batch with repeats of earlier samples.
        seen: set[tuple[int, int]] = set()
        unique = []
        for record in results:
            key = (record["img_id"], record["id"])
            if key not in seen:
                seen.add(key)
                unique.append(record)
        return sorted(unique, key=lambda r: (r["img_id"], r["id"]))

    def _results_json(self, results: list[dict[str, Any]],
                      meta: MetricMeta) -> list[dict[str, Any]]:
        with_bbox = [r["bbox"] is not None for r in results]
        if any(with_bbox) and not all(with_bbox):
            raise PosemixError("some predictions carry 'bbox' and some do not; "
                               "give boxes for all samples or for none")
        counts = [len(r["keypoints"]) for r in results]
        img_ids = np.repeat([r["img_id"] for r in results], counts)
        category = np.repeat([r["category_id"] for r in results], counts)
        keypoints = np.concatenate([r["keypoints"] for r in results])
        kpt_scores = np.concatenate([r["keypoint_scores"] for r in results])
        areas = np.concatenate([r["area"] for r in results])
        scores = instance_scores(kpt_scores, np.concatenate([r["bbox_score"] for r in results]),
                                 self.score_mode, self.keypoint_score_thr)
        boxes = np.concatenate([r["bbox"] for r in results]) if all(with_bbox) else None

        selected = self._nms(img_ids, keypoints, scores, areas, meta.sigmas)
        flat = np.concatenate([keypoints, kpt_scores[..., None]], axis=-1).reshape(
            len(keypoints), -1)
        coco_results = []
        for i in selected:
            entry = {"image_id": int(img_ids[i]), "category_id": int(category[i]),
                     "keypoints": flat[i].tolist(), "score": float(scores[i])}
            if boxes is not None:
                entry["bbox"] = boxes[i].tolist()
            coco_results.append(entry)
        return coco_results

    def _nms(self, img_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
             areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
        """Indices of the instances to report, image by image (img_ids are sorted)."""
        if self.nms_mode == "none":
            return np.arange(len(scores))
        nms = oks_nms if self.nms_mode == "oks_nms" else soft_oks_nms
        starts = np.flatnonzero(np.r_[True, img_ids[1:] != img_ids[:-1]])
        ends = np.r_[starts[1:], len(img_ids)]
        kept = [start + nms(keypoints[start:end], scores[start:end], areas[start:end],
                            sigmas, self.nms_thr)
                for start, end in zip(starts, ends, strict=True)]
        return np.concatenate(kept) if kept else np.zeros(0, dtype=np.intp)

    def _coco_eval(self, coco_results: list[dict[str, Any]],
                   meta: MetricMeta) -> dict[str, float]:
        if self._coco_gt is None:
            raise ConfigError("CocoMetric needs ann_file to evaluate (or format_only=True "
                              "with outfile_prefix to only write results)")
        if self._gt_num_keypoints != meta.num_keypoints:
            raise PosemixError(
                f"{self._ann_file} has {self._gt_num_keypoints} keypoints per annotation, "
                f"the schema '{meta.name}' has {meta.num_keypoints}")
        unknown = sorted({r["image_id"] for r in coco_results} - set(self._coco_gt.imgs))
        if unknown:
            raise PosemixError(f"predictions for image ids {unknown[:10]} that "
                               f"{self._ann_file} does not contain")
        # xtcocotools drops detections without any positive keypoint score.
        detections = [dict(r) for r in coco_results if max(r["keypoints"][2::3]) > 0]
        coco_dt = self._coco_gt.loadRes(detections)
        evaluator = COCOeval_faster(self._coco_gt, coco_dt, iouType=self.iou_type,
                                    kpt_oks_sigmas=meta.sigmas, use_area=self.use_area,
                                    print_function=logger.info)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        return dict(zip(STAT_NAMES[self.iou_type], evaluator.stats.tolist(), strict=True))
