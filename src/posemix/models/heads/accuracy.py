"""The training-time PCK that MMPose logs as ``acc_pose``, shared by every head."""

from __future__ import annotations

import torch


def pck_from_locations(pred_xy: torch.Tensor, gt_xy: torch.Tensor, norm_hw: torch.Tensor,
                       mask: torch.Tensor, thr: float = 0.05) -> torch.Tensor:
    """``pred_xy``/``gt_xy`` (B, K, 2) locations; distance normalised by ``norm_hw`` =
    (H, W) (MMPose divides x by H and y by W); the fraction under ``thr`` per keypoint over
    samples with ``mask`` (B, K), averaged over keypoints that have any; 0 if none has."""
    dist = ((pred_xy - gt_xy) / norm_hw).norm(dim=-1)
    counted = mask.sum(dim=0)
    hits = ((dist < thr) & mask).sum(dim=0)
    has = counted > 0
    if not bool(has.any()):
        return torch.zeros((), device=pred_xy.device)
    return (hits[has].float() / counted[has].float()).mean()
