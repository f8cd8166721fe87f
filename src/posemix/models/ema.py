"""Averaged copies of a model (mmengine's ``ExponentialMovingAverage``, mmdet's and MMPose's
``ExpMomentumEMA``), registered in ``MODELS`` for ``EMAHook(ema_type=...)``.

The copy is an ``nn.Module`` whose own state dict is ``steps`` plus ``module.<key>`` for
every entry of the averaged model, so a checkpoint's ``ema_state_dict`` has MMPose's keys.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from posemix.errors import ConfigError
from posemix.registry import MODELS


class BaseAveragedModel(nn.Module):
    """A frozen deep copy of ``model`` kept as an average of the live one.

    With ``update_buffers`` the averaged set is the whole state dict (BatchNorm running
    statistics too; integer entries such as ``num_batches_tracked`` keep their first copy),
    else the parameters only, the buffers being copied each time. The first update copies
    everything; after that every ``interval``-th update averages with :meth:`avg_func`.
    """

    def __init__(self, model: nn.Module, interval: int = 1, update_buffers: bool = False):
        super().__init__()
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ConfigError(f"{type(self).__name__}: interval must be a positive int, "
                              f"got {interval!r}")
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.interval = interval
        self.update_buffers = bool(update_buffers)
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))

    def _averaged(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return model.state_dict() if self.update_buffers else dict(model.named_parameters())

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Fold the live ``model`` (unwrapped, same architecture) into the average."""
        steps = int(self.steps)
        source = self._averaged(model)
        if steps == 0:
            for key, avg in self._averaged(self.module).items():
                avg.copy_(source[key])
        elif steps % self.interval == 0:
            for key, avg in self._averaged(self.module).items():
                if avg.dtype.is_floating_point:
                    self.avg_func(avg, source[key].to(avg.device), steps)
        if not self.update_buffers:
            for avg, live in zip(self.module.buffers(), model.buffers(), strict=True):
                avg.copy_(live)
        self.steps += 1


@MODELS.register()
class ExponentialMovingAverage(BaseAveragedModel):
    """``ema = (1 - momentum) * ema + momentum * live``: momentum weighs the new value."""

    def __init__(self, model: nn.Module, momentum: float = 0.0002, interval: int = 1,
                 update_buffers: bool = False):
        super().__init__(model, interval, update_buffers)
        if not 0.0 < momentum < 1.0:
            raise ConfigError(f"{type(self).__name__}: momentum must be in (0, 1), got "
                              f"{momentum!r}")
        self.momentum = float(momentum)

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        averaged.lerp_(source, self.momentum)


@MODELS.register()
class ExpMomentumEMA(ExponentialMovingAverage):
    """mmdet's/MMPose's EMA whose weight of the new value decays from ~1 to ``momentum``:
    ``m = (1 - momentum) * exp(-(1 + steps) / gamma) + momentum``, so the early average
    follows the fast-changing weights and the late one smooths them."""

    def __init__(self, model: nn.Module, momentum: float = 0.0002, gamma: int = 2000,
                 interval: int = 1, update_buffers: bool = False):
        super().__init__(model, momentum, interval, update_buffers)
        if not gamma > 0:
            raise ConfigError(f"ExpMomentumEMA: gamma must be > 0, got {gamma!r}")
        self.gamma = gamma

    def avg_func(self, averaged: torch.Tensor, source: torch.Tensor, steps: int) -> None:
        momentum = (1 - self.momentum) * math.exp(-float(1 + steps) / self.gamma) \
            + self.momentum
        averaged.lerp_(source, momentum)
