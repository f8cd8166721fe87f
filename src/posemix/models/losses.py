"""Heatmap losses."""

from __future__ import annotations

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
