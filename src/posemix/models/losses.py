"""Keypoint losses: heatmap MSE and SimCC's KL divergence."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from posemix.errors import PosemixError
from posemix.registry import MODELS


@MODELS.register()
class KeypointMSELoss(nn.Module):
    """MMPose's heatmap MSE: ``mean over all B*K*H*W of w_bk * (pred - gt)^2 * loss_weight``.

    The mean runs over every element, zero-weight channels included, which is what makes a
    keypoint a source does not annotate (weight 0) contribute nothing while keeping the scale
    of the loss independent of how many keypoints a batch annotates. As in MMPose,
    ``use_target_weight`` is stored but not read: weights apply whenever they are passed.
    """

    def __init__(self, use_target_weight: bool = False, skip_empty_channel: bool = False,
                 loss_weight: float = 1.0):
        super().__init__()
        self.use_target_weight = use_target_weight
        self.skip_empty_channel = skip_empty_channel
        self.loss_weight = loss_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weights: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``output``/``target`` (B, K, H, W); ``target_weights`` (B, K); ``mask``
        broadcastable to the output."""
        if output.shape != target.shape:
            raise PosemixError(f"KeypointMSELoss: prediction shape {tuple(output.shape)} "
                               f"differs from target shape {tuple(target.shape)}")
        if target_weights is not None:
            if target_weights.shape != target.shape[:target_weights.ndim]:
                raise PosemixError(f"KeypointMSELoss: target_weights shape "
                                   f"{tuple(target_weights.shape)} does not match targets "
                                   f"{tuple(target.shape)}")
            pad = (1,) * (target.ndim - target_weights.ndim)
            weights = target_weights.reshape(*target_weights.shape, *pad)
            mask = weights if mask is None else mask * weights
        if self.skip_empty_channel:
            nonempty = (target != 0).flatten(2).any(dim=2)
            nonempty = nonempty.reshape(*nonempty.shape, *(1,) * (target.ndim - 2))
            mask = nonempty.to(target.dtype) if mask is None else mask * nonempty
        if mask is None:
            loss = F.mse_loss(output, target)
        else:
            loss = (F.mse_loss(output, target, reduction="none") * mask).mean()
        return loss * self.loss_weight


@MODELS.register()
class KLDiscretLoss(nn.Module):
    """RTMPose's SimCC loss: per axis, KL(target || softmax(beta * pred)) averaged over the
    bins of each keypoint row, weighted, **summed** over batch and keypoints, divided by K.

    With ``label_softmax`` the target is ``softmax(label_beta * label)`` (the unnormalised
    Gaussian labels become a distribution; an all-zero label becomes uniform, harmless as
    its weight is 0). ``mask`` lists keypoints whose rows are scaled by ``mask_weight``.
    """

    def __init__(self, beta: float = 1.0, label_softmax: bool = False,
                 label_beta: float = 10.0, use_target_weight: bool = True,
                 mask: Sequence[int] | None = None, mask_weight: float = 1.0):
        super().__init__()
        self.beta = beta
        self.label_softmax = label_softmax
        self.label_beta = label_beta
        self.use_target_weight = use_target_weight
        self.mask = None if mask is None else [int(i) for i in mask]
        self.mask_weight = mask_weight

    def _row_kl(self, pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """(N, K, bins) → (N, K): mean over bins of t * (log t - log p)."""
        log_p = F.log_softmax(pred * self.beta, dim=-1)
        target = F.softmax(label * self.label_beta, dim=-1) if self.label_softmax else label
        return F.kl_div(log_p, target, reduction="none").mean(dim=-1)

    def forward(self, pred_simcc: Sequence[torch.Tensor], gt_simcc: Sequence[torch.Tensor],
                target_weight: torch.Tensor | None = None) -> torch.Tensor:
        """``pred_simcc`` and ``gt_simcc``: (x, y) pairs of (N, K, Wx) and (N, K, Wy);
        ``target_weight`` (N, K)."""
        if len(pred_simcc) != len(gt_simcc):
            raise PosemixError(f"KLDiscretLoss: {len(pred_simcc)} predicted axes but "
                               f"{len(gt_simcc)} label axes")
        num_keypoints = pred_simcc[0].shape[1]
        weight = None
        if self.use_target_weight:
            if target_weight is None:
                raise PosemixError("KLDiscretLoss(use_target_weight=True) needs target_weight")
            weight = target_weight.reshape(target_weight.shape[0], -1)
        total = pred_simcc[0].new_zeros(())
        for pred, label in zip(pred_simcc, gt_simcc, strict=True):
            if pred.shape != label.shape:
                raise PosemixError(f"KLDiscretLoss: prediction shape {tuple(pred.shape)} "
                                   f"differs from label shape {tuple(label.shape)}")
            kl = self._row_kl(pred, label)
            if weight is not None:
                kl = kl * weight
            if self.mask is not None:
                kl = kl.clone()
                kl[:, self.mask] = kl[:, self.mask] * self.mask_weight
            total = total + kl.sum()
        return total / num_keypoints
