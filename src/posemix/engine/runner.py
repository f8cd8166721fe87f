"""The runner: assembles a training or test run from MMPose's runtime config keys.

``train`` reads ``train_cfg`` (engine.settings), ``optim_wrapper``, ``param_scheduler``,
``auto_scale_lr``, ``default_hooks`` / ``custom_hooks`` (engine.hooks), ``randomness``,
``env_cfg`` and the ``*_dataloader`` / ``*_evaluator`` keys, then hands the epochs to
engine.loops; ``test`` evaluates one checkpoint. SIGTERM/SIGINT end a single-process run
after the step in progress with an ``iter_{n}.pth`` checkpoint that ``--resume`` continues
from mid-epoch; config errors that need no data are raised before any annotation file is
read (engine.preflight)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import posemix.engine.dist as dist
from posemix.data.loader import Loader, build_loader
from posemix.engine.build import build_training_state, build_validation, resolve_work_dir
from posemix.engine.checkpoint import CheckpointWriter, contents_if_posemix, rng_state
from posemix.engine.default_hooks import LoggerHook
from posemix.engine.hooks import Hook, build_hooks, find_hook
from posemix.engine.logger import LOG_INTERVAL, RunLogger
from posemix.engine.loops import EpochBasedTrainLoop, evaluate, evaluator_for_model
from posemix.engine.settings import Environment, LoopSettings, Randomness
from posemix.engine.signals import stop_on_signals
from posemix.engine.state import TrainState, config_text
from posemix.errors import ConfigError
from posemix.registry import import_custom_modules


class Runner:
    """One run of ``posemix train`` or ``posemix test`` in one process (one per GPU under
    torchrun). Builds what the config describes and owns the process group it started."""

    def __init__(self, cfg: Any, work_dir: str | os.PathLike | None = None,
                 device: str | None = None, amp: bool = False,
                 progress_bar: bool | None = None):
        import posemix  # noqa: F401 - registers every config type

        self.cfg = cfg
        import_custom_modules(cfg)
        randomness = Randomness.from_cfg(cfg)
        self.env = Environment.from_cfg(cfg)
        self.ctx = dist.setup(device, self.env.backend, self.env.timeout)
        self.env.apply()
        self.seed = randomness.seed
        randomness.apply(self.ctx.rank)
        self.work_dir = resolve_work_dir(cfg, work_dir)
        self.amp_requested = amp
        self.progress_bar = progress_bar
        self.logger: RunLogger | None = None
        self.state: TrainState | None = None
        self.settings: LoopSettings | None = None
        self.hooks: list[Hook] = []
        self.validation: tuple[Loader, Any] | None = None
        self.autocast_dtype: torch.dtype | None = None
        self.stop_signal: int | None = None  # SIGTERM/SIGINT received during training

    def close(self, synchronize: bool = False) -> None:
        """Close the logs (drawing the curves) and leave the process group; after a clean
        finish (``synchronize``) every rank leaves together, so that no rank tears down
        while another still talks to the group's store."""
        if self.logger is not None:
            self.logger.close()
            self.logger = None
        dist.teardown(self.ctx, synchronize)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """On the device, in channels_last: faster convolutions on CUDA and on CPU alike
        (on CPU: 1.15-1.3x for HRNet-W32 in benchmarks/bench_step.py, 1.3x for the demo's
        TinyResFPN)."""
        return model.to(self.ctx.device, memory_format=torch.channels_last)

    def loader(self, loader_cfg: Mapping[str, Any], split: str) -> Loader:
        return build_loader(loader_cfg, split, self.seed, self.ctx.rank,
                            self.ctx.device.type == "cuda", self.env.mp_start_method)

    def info(self, text: str) -> None:
        if self.logger is not None:
            self.logger.info(text)
        elif self.ctx.is_main:
            print(text, flush=True)

    def call_hook(self, point: str, *args: Any) -> None:
        """Call ``point`` (a :class:`~posemix.engine.hooks.Hook` method) on every hook."""
        for hook in self.hooks:
            getattr(hook, point)(self, *args)

    def validates_after(self, epoch: int) -> bool:
        """Whether validation runs after 1-based training epoch ``epoch``."""
        return self.validation is not None and self.settings.val_due(epoch)

    def checkpoint(self, rng: Mapping[str, Any] | None, full: bool = True) -> dict[str, Any]:
        """The payload of a checkpoint of the training state, as hooks leave it."""
        assert self.state is not None
        payload = self.state.state_dict(config_text(self.cfg), rng, full)
        self.call_hook("before_save_checkpoint", payload)
        return payload

    # -- training ---------------------------------------------------------------------------
    def build_training(self, resume: str | bool | None = None) -> TrainState:
        """Build data, model, optimizer, schedulers, hooks and validation; resume if asked.

        Every config error surfaces here, before the first iteration.
        """
        if not self.cfg.get("train_dataloader"):
            raise ConfigError("the config has no train_dataloader")
        self.settings = LoopSettings.from_cfg(self.cfg)
        self.hooks = build_hooks(self.cfg.get("default_hooks"), self.cfg.get("custom_hooks"))
        state, resumed, factor, train_schema = build_training_state(self, resume)
        self.state = state
        self.validation = build_validation(self, state.module, train_schema)
        self.call_hook("before_run")  # as mmengine: before resuming, which hooks may edit
        if resumed is not None:
            self.call_hook("after_load_checkpoint", resumed[1])
            state.load_state_dict(resumed[1], resumed[0])
        logger_hook = find_hook(self.hooks, LoggerHook)
        train = state.train
        self.logger = RunLogger(self.work_dir, self.ctx.is_main,
                                logger_hook.interval if logger_hook else LOG_INTERVAL,
                                state.max_epochs, len(train.loader), state.iteration,
                                self.progress_bar)
        self.info(f"training {len(train.dataset)} samples for {state.max_epochs} epochs of "
                  f"{len(train.loader)} iterations on {self.ctx.device} (world size "
                  f"{self.ctx.world_size}); work dir {self.work_dir}"
                  + (f"; lr scaled by {factor:g}" if factor is not None else ""))
        if resumed is not None:
            lr = state.optimizer.param_groups[0]["lr"]
            self.info(f"resumed from {resumed[0]} after epoch {state.epoch} "
                      f"(iteration {state.iteration}, lr {lr:.6g})")
        return state

    def train(self, resume: str | bool | None = None) -> dict[str, float]:
        """Train until ``max_epochs``; returns the last validation metrics."""
        state = self.state or self.build_training(resume)
        if state.epoch >= state.max_epochs:
            self.info(f"nothing to do: training already reached epoch {state.epoch} of "
                      f"{state.max_epochs}")
            return state.metrics
        if self.ctx.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._dump_config()
        loop = EpochBasedTrainLoop(self)
        self.call_hook("before_train")
        with stop_on_signals(self._note_signal, self.ctx.distributed):
            while state.epoch < state.max_epochs:
                if not loop.run_epoch(state):
                    self._stopped(state, f"after iteration {state.iteration} (epoch "
                                         f"{state.epoch + 1})", save=True)
                    return state.metrics
                loop.after_epoch(state)
                if self.stop_signal is not None and state.epoch < state.max_epochs:
                    self._stopped(state, f"after epoch {state.epoch}",
                                  save=not state.policy.due(state.epoch, state.max_epochs))
                    return state.metrics
        self.call_hook("after_train")
        self.call_hook("after_run")
        dist.barrier(self.ctx)
        return state.metrics

    def _note_signal(self, signum: int) -> None:
        self.stop_signal = signum

    def _stopped(self, state: TrainState, where: str, save: bool) -> None:
        """Say where a signal stopped the run; with ``save`` (no epoch checkpoint there),
        write ``iter_{n}.pth``, which ``last_checkpoint`` points to, so ``--resume``
        continues with the next batch."""
        saved = ""
        if save and self.ctx.is_main:
            path = CheckpointWriter(self.work_dir, state.policy).save_interrupted(
                state.iteration, self.checkpoint(rng_state()))
            saved = f"; saved {path}"
        self.info(f"stopped by signal {self.stop_signal} {where}{saved}; continue with --resume")

    def _dump_config(self) -> None:
        """Keep the full config next to the checkpoints, as mmengine does."""
        filename = getattr(self.cfg, "filename", None)
        target = self.work_dir / (Path(filename).name if filename else "config.py")
        if hasattr(self.cfg, "dump"):
            try:
                self.cfg.dump(target)
            except ConfigError as exc:
                warnings.warn(f"config not saved to the work dir: {exc}", stacklevel=3)

    # -- testing ----------------------------------------------------------------------------
    def test(self, checkpoint: str | os.PathLike, write_logs: bool = True) -> dict[str, float]:
        """Evaluate ``checkpoint`` (a posemix or MMPose checkpoint, a path or URL) with
        ``test_dataloader``/``test_evaluator`` (or the ``val_`` ones); ``write_logs`` appends
        the metrics to the work dir's ``metrics.jsonl``."""
        from posemix.models.builder import model_from_checkpoint
        from posemix.models.init_weights import resolve_checkpoint

        cfg = self.cfg
        loader_cfg = cfg.get("test_dataloader") or cfg.get("val_dataloader")
        evaluator_cfg = cfg.get("test_evaluator") or cfg.get("val_evaluator")
        if not loader_cfg or not evaluator_cfg:
            raise ConfigError("testing needs test_dataloader and test_evaluator (or the val_ "
                              "ones) in the config")
        path = resolve_checkpoint(checkpoint)
        saved = contents_if_posemix(path)  # a posemix one knows its model's keypoint count
        module = self.prepare_model(model_from_checkpoint(cfg["model"], path, saved))
        loader = self.loader(loader_cfg, "test")
        evaluator = (evaluator_for_model(evaluator_cfg, loader.dataset, module,
                                         getattr(loader.dataset, "schema", None))
                     if self.ctx.is_main else None)
        self.logger = RunLogger(self.work_dir if write_logs else None, self.ctx.is_main,
                                progress_bar=False)
        metrics = evaluate(module, loader, evaluator, self.ctx, progress=self.progress_bar)
        at = int(saved.get("epoch", 0)), int(saved.get("iteration", 0))
        self.logger.evaluation("test", *at, metrics, getattr(evaluator, "notes", ()))
        return metrics


def train(cfg: Any, work_dir: str | None = None, resume: str | bool | None = None,
          amp: bool = False, device: str | None = None) -> dict[str, float]:
    """Train the model of ``cfg``; returns the metrics of the last validation.

    ``work_dir`` defaults to ``cfg.work_dir`` or ``work_dirs/{config name}``. ``resume``:
    a checkpoint path, or True for the newest usable checkpoint in the work dir.
    ``amp`` turns on mixed precision on CUDA (bf16 where supported, else fp16 with a
    gradient scaler). Under torchrun every process calls this; rank 0 writes the files.
    """
    runner = Runner(cfg, work_dir=work_dir, device=device, amp=amp)
    finished = False
    try:
        metrics = runner.train(resume)
        finished = True
        return metrics
    finally:
        runner.close(synchronize=finished)


def test(cfg: Any, checkpoint: str, work_dir: str | None = None,
         device: str | None = None) -> dict[str, float]:
    """Evaluate ``checkpoint`` on the config's test (else val) data; returns the metrics.
    With ``work_dir`` the metrics are also appended to ``{work_dir}/metrics.jsonl``."""
    runner = Runner(cfg, work_dir=work_dir, device=device)
    try:
        return runner.test(checkpoint, write_logs=work_dir is not None)
    finally:
        runner.close()
