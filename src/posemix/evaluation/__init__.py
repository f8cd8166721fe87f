"""Evaluation: COCO keypoint AP (faster-coco-eval does the OKS matching), OKS NMS, PCK, AUC,
EPE."""

from posemix.evaluation.coco_gt import load_coco_gt
from posemix.evaluation.coco_metric import CocoMetric, instance_scores
from posemix.evaluation.nms import oks_matrix, oks_nms, soft_oks_nms
from posemix.evaluation.pck import AUC, EPE, PCKAccuracy, pck_per_keypoint

__all__ = [
    "AUC",
    "EPE",
    "CocoMetric",
    "PCKAccuracy",
    "instance_scores",
    "load_coco_gt",
    "oks_matrix",
    "oks_nms",
    "pck_per_keypoint",
    "soft_oks_nms",
]
