"""The hooks every run has (``default_hooks``) and the built-in custom hook
(SyncBuffersHook), registered under MMPose's type names."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import posemix.engine.dist as dist
from posemix.engine.checkpoint import CheckpointPolicy, CheckpointWriter, rng_state
from posemix.engine.hooks import Hook
from posemix.engine.logger import LOG_INTERVAL
from posemix.engine.schedulers import step_schedulers
from posemix.errors import ConfigError
from posemix.registry import HOOKS


@HOOKS.register
class LoggerHook(Hook):
    """Log lines every ``interval`` iterations, and the validation metrics. MMPose's other
    options (out_dir, ignore_last, ...) have no effect here."""

    priority = "BELOW_NORMAL"

    def __init__(self, interval: int = LOG_INTERVAL, **ignored: Any):
        self.interval = int(interval)

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: dict,
                         outputs: dict) -> None:
        state = runner.state
        runner.logger.train_iter(state.epoch, batch_idx, state.iteration, outputs["lr"],
                                 outputs["log_vars"], time.perf_counter() - outputs["iter_start"],
                                 outputs["data_time"])

    def after_val_epoch(self, runner: Any, metrics: Mapping[str, float]) -> None:
        if not metrics:  # the validation failed: nothing to log
            return
        evaluator = runner.validation[1] if runner.validation else None
        runner.logger.evaluation("val", runner.state.epoch, runner.state.iteration, metrics,
                                 getattr(evaluator, "notes", ()))


@HOOKS.register
class ParamSchedulerHook(Hook):
    """Step the lr schedulers: iteration-based ones after every update, epoch-based ones
    after every epoch."""

    priority = "LOW"

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: dict,
                         outputs: dict) -> None:
        step_schedulers(runner.state.schedulers, by_epoch=False)

    def after_train_epoch(self, runner: Any) -> None:
        step_schedulers(runner.state.schedulers, by_epoch=True)


@HOOKS.register
class CheckpointHook(Hook):
    """``epoch_{n}.pth`` when due (:class:`~posemix.engine.checkpoint.CheckpointPolicy`),
    ``best_{metric}_epoch_{n}.pth`` after a validation that beats the best so far.

    The epoch checkpoint keeps the random state of the epoch's end, before validation, and
    is written last, after the validation and its best-model file, so it records the
    validation's best: a run killed before it is written resumes from the previous one and
    redoes the epoch and its validation exactly (written first, a kill during validation
    skipped that validation on resume and lost its best record)."""

    priority = "VERY_LOW"

    def __init__(self, **cfg: Any):
        self.policy = CheckpointPolicy.from_cfg(cfg)
        if self.policy.ignored:
            warnings.warn(f"default_hooks.checkpoint options {self.policy.ignored} are ignored",
                          stacklevel=2)
        self._epoch_rng: dict[str, Any] | None = None  # set while this epoch's save is due

    def _writer(self, runner: Any) -> CheckpointWriter:
        return CheckpointWriter(Path(runner.work_dir), runner.state.policy)

    def after_train_epoch(self, runner: Any) -> None:
        state = runner.state
        self._epoch_rng = rng_state() if state.policy.due(state.epoch, state.max_epochs) \
            else None
        if not runner.validates_after(state.epoch):  # else after the validation
            self._save_epoch(runner)

    def after_val_epoch(self, runner: Any, metrics: Mapping[str, float]) -> None:
        state = runner.state
        try:
            metric = state.policy.best_improved(metrics)
        except ConfigError as err:  # save_best names no metric: keep the epoch's training
            self._save_epoch(runner)
            raise ConfigError(f"{err}; the epoch's training is checkpointed: fix the name "
                              "and continue with --resume") from None
        if metric is not None and runner.ctx.is_main:
            path = self._writer(runner).save_best(state.epoch, metric,
                                                  runner.checkpoint(None, full=False))
            runner.info(f"new best {metric} = {state.policy.best_score:.4f}: {path.name}")
        self._save_epoch(runner)

    def _save_epoch(self, runner: Any) -> None:
        if self._epoch_rng is not None and runner.ctx.is_main:
            self._writer(runner).save_epoch(runner.state.epoch,
                                            runner.checkpoint(self._epoch_rng))
        self._epoch_rng = None


@HOOKS.register
class SyncBuffersHook(Hook):
    """Average buffers (BatchNorm running statistics) across ranks after every epoch."""

    def after_train_epoch(self, runner: Any) -> None:
        dist.sync_buffers(runner.state.model)


@HOOKS.register
class IterTimerHook(Hook):
    """Accepted for MMPose configs: the loop times every iteration itself."""


@HOOKS.register
class DistSamplerSeedHook(Hook):
    """Accepted for MMPose configs: the loop gives the sampler its epoch itself."""
