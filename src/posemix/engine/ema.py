"""``EMAHook``: an averaged copy of the model (``posemix.models.ema``) updated after every
training step, validated in place of the live weights and saved the way MMPose saves it.

Checkpoints hold the EMA weights under ``state_dict`` and ``ema_state_dict`` = ``steps``
plus ``module.<key>`` with the raw training weights, so whatever reads ``state_dict``
(``posemix test``, ``infer``, ``export``, MMPose) gets the EMA model; resuming swaps them
back and continues both exactly.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from posemix.engine.hooks import Hook
from posemix.errors import CheckpointError, ConfigError
from posemix.registry import HOOKS, MODELS

PREFIX = "module."


@HOOKS.register
class EMAHook(Hook):
    """mmengine's EMAHook: ``ema_type`` (a ``MODELS`` type taking ``model``) with the other
    keyword arguments (``momentum``, ``gamma``, ``interval``, ``update_buffers``), averaging
    from iteration ``begin_iter`` or epoch ``begin_epoch`` (0-based; before that the copy
    just follows the live weights). ``strict_load`` checks the keys of a loaded EMA."""

    priority = "NORMAL"

    def __init__(self, ema_type: str = "ExponentialMovingAverage", strict_load: bool = False,
                 begin_iter: int = 0, begin_epoch: int = 0, **kwargs: Any):
        for name, value in (("begin_iter", begin_iter), ("begin_epoch", begin_epoch)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"EMAHook: {name} must be an int >= 0, got {value!r}")
        if begin_iter and begin_epoch:
            raise ConfigError("EMAHook: give begin_iter or begin_epoch, not both")
        self.ema_cfg = dict(type=ema_type, **kwargs)
        self.strict_load = bool(strict_load)
        self.begin_iter, self.begin_epoch = begin_iter, begin_epoch
        self.ema_model: nn.Module | None = None
        self.src_model: nn.Module | None = None

    # -- the averaged model ---------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        """The copy of the unwrapped model (under DDP, the module DDP wraps)."""
        self.src_model = runner.state.module
        self.ema_model = MODELS.build(self.ema_cfg, model=self.src_model)

    def before_train(self, runner: Any) -> None:
        max_epochs = runner.state.max_epochs
        if self.begin_epoch > max_epochs:
            raise ConfigError(f"EMAHook: begin_epoch={self.begin_epoch} is after the last "
                              f"epoch ({max_epochs})")
        max_iters = max_epochs * len(runner.state.train.loader)
        if self.begin_iter > max_iters:
            raise ConfigError(f"EMAHook: begin_iter={self.begin_iter} is after the last "
                              f"iteration ({max_iters})")

    def _started(self, runner: Any) -> bool:
        """mmengine's test, ``iter + 1 >= begin_iter and epoch + 1 >= begin_epoch`` with the
        0-based current iteration (the state already counts the step just made)."""
        state = runner.state
        return state.iteration >= self.begin_iter and state.epoch + 1 >= self.begin_epoch

    @torch.no_grad()
    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: dict,
                         outputs: dict) -> None:
        if self._started(runner):
            self.ema_model.update_parameters(self.src_model)
            return
        live = self.src_model.state_dict()
        for key, value in self.ema_model.module.state_dict().items():
            value.copy_(live[key])

    # -- validation with the EMA weights --------------------------------------------------
    def before_val_epoch(self, runner: Any) -> None:
        self._swap_parameters()

    def after_val_epoch(self, runner: Any, metrics: Mapping[str, float]) -> None:
        self._swap_parameters()

    @torch.no_grad()
    def _swap_parameters(self) -> None:
        """Exchange the values of the EMA and the live tensors in place (buffers too when
        the EMA averages them)."""
        ema, live = self.ema_model.module, self.src_model
        if self.ema_model.update_buffers:
            pairs = zip(itertools.chain(ema.parameters(), ema.buffers()),
                        itertools.chain(live.parameters(), live.buffers()), strict=True)
        else:
            pairs = zip(ema.parameters(), live.parameters(), strict=True)
        for averaged, source in pairs:
            kept = averaged.clone()
            averaged.copy_(source)
            source.copy_(kept)

    # -- checkpoints ------------------------------------------------------------------------
    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        checkpoint["ema_state_dict"] = self.ema_model.state_dict()
        _swap_state_dicts(checkpoint)

    def after_load_checkpoint(self, runner: Any, checkpoint: Mapping[str, Any]) -> None:
        """On resume, before the weights are loaded: give ``state_dict`` its raw weights back
        and restore the EMA; a checkpoint without ``ema_state_dict`` starts the EMA from
        its ``state_dict``."""
        if "ema_state_dict" in checkpoint:
            _swap_state_dicts(checkpoint)
            self._load(self.ema_model, checkpoint["ema_state_dict"])
        else:
            runner.info("EMAHook: the checkpoint has no ema_state_dict; the EMA starts from "
                        "its state_dict")
            self._load(self.ema_model.module, copy.deepcopy(checkpoint["state_dict"]))

    def _load(self, module: nn.Module, state: Mapping[str, Any]) -> None:
        try:
            result = module.load_state_dict(state, strict=self.strict_load)
        except RuntimeError as exc:
            raise CheckpointError(f"EMAHook: the saved EMA does not fit the model: "
                                  f"{exc}") from exc
        if result.missing_keys or result.unexpected_keys:
            warnings.warn(f"EMAHook: the saved EMA lacks {result.missing_keys} and has extra "
                          f"{result.unexpected_keys} (strict_load=False)", stacklevel=2)


def _swap_state_dicts(checkpoint: Mapping[str, Any]) -> None:
    """Exchange every ``ema_state_dict['module.X']`` with ``state_dict['X']``."""
    model, ema = checkpoint["state_dict"], checkpoint["ema_state_dict"]
    for key in ema:
        if key.startswith(PREFIX):
            ema[key], model[key[len(PREFIX):]] = model[key[len(PREFIX):]], ema[key]
