"""PoseDataPreprocessor: uint8 BGR batches → normalised float tensors on the model's device.

Images travel as uint8 (4x less to move between workers and to the GPU) and are converted
here, on the device, as MMPose's data preprocessor does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from posemix.errors import ConfigError, PosemixError
from posemix.registry import MODELS


@MODELS.register()
class PoseDataPreprocessor(nn.Module):
    """Per batch: move to the device, swap BGR→RGB (if asked), cast to float32,
    ``(x - mean) / std``, then pad bottom/right to a multiple of ``pad_size_divisor``."""

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 pad_size_divisor: int = 1, pad_value: float = 0, bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False, non_blocking: bool = False):
        super().__init__()
        if (mean is None) != (std is None):
            raise ConfigError("PoseDataPreprocessor needs both mean and std, or neither")
        if bgr_to_rgb and rgb_to_bgr:
            raise ConfigError("PoseDataPreprocessor: bgr_to_rgb and rgb_to_bgr are exclusive")
        if mean is not None and (len(mean) != 3 or len(std) != 3 or min(std) <= 0):
            raise ConfigError(f"PoseDataPreprocessor needs 3 means and 3 positive stds, got "
                              f"mean={list(mean)} std={list(std)}")
        self.normalize = mean is not None
        # Non-persistent, as in MMPose: they never appear in a state dict. Kept even without
        # normalisation because they also tell which device the model lives on.
        mean_t = torch.tensor([0.0] * 3 if mean is None else mean, dtype=torch.float32)
        std_t = torch.tensor([1.0] * 3 if std is None else std, dtype=torch.float32)
        self.register_buffer("mean", mean_t.view(-1, 1, 1), persistent=False)
        self.register_buffer("std", std_t.view(-1, 1, 1), persistent=False)
        self.swap_channels = bgr_to_rgb or rgb_to_bgr
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value
        self.non_blocking = non_blocking

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` (B, 3, H, W), normally uint8 BGR; returns float32 (B, 3, H', W')."""
        if inputs.ndim != 4 or inputs.shape[1] != 3:
            raise PosemixError(f"PoseDataPreprocessor expects a (B, 3, H, W) image batch, "
                               f"got shape {tuple(inputs.shape)}")
        x = inputs.to(self.mean.device, non_blocking=self.non_blocking)
        if self.swap_channels:
            x = x.flip(1)
        x = x.float()
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.pad_size_divisor > 1:
            h, w = x.shape[-2:]
            pad_h = math.ceil(h / self.pad_size_divisor) * self.pad_size_divisor - h
            pad_w = math.ceil(w / self.pad_size_divisor) * self.pad_size_divisor - w
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), value=self.pad_value)
        return x
