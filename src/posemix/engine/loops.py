"""The epoch loop (mmengine's EpochBasedTrainLoop) and the evaluation loop.

One iteration: forward, the total of the loss terms, one optimizer step, then the hooks
(logging, lr schedulers, ...). One epoch: the rest of the training data (after a
mid-epoch stop, from where it stopped), then ``after_train_epoch`` hooks (schedulers,
buffers, checkpoint) and validation when due. Samples whose image cannot be read are
skipped, listed in ``skipped_images.txt`` and bounded per epoch by
``train_cfg.max_skip_fraction``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

import posemix.engine.dist as dist
from posemix.data.loader import Loader
from posemix.engine.checkpoint import set_rng_state
from posemix.engine.state import TrainState
from posemix.errors import ConfigError, PosemixError

SKIPPED_LIST = "skipped_images.txt"


def parse_losses(losses: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    """The total loss (sum of the entries whose key starts with 'loss') and every entry as
    a float for the logs."""
    total = None
    scalars: dict[str, torch.Tensor] = {}
    for key, value in losses.items():
        if isinstance(value, torch.Tensor):
            value = value.mean()
        elif isinstance(value, (list, tuple)):
            value = sum(v.mean() for v in value)
        else:
            value = torch.as_tensor(value, dtype=torch.float32)
        scalars[key] = value
        if key.startswith("loss"):
            total = value if total is None else total + value
    if total is None:
        raise PosemixError(f"the model's loss() returned no entry whose key starts with "
                           f"'loss' (got {sorted(losses)})")
    scalars["loss"] = total
    device = total.device  # one transfer (one GPU sync) for all the logged numbers
    numbers = torch.stack([v.detach().float().to(device) for v in scalars.values()]).tolist()
    return total, dict(zip(scalars, numbers, strict=True))


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_device(v, device) for v in value]
    return value


def _inputs_to(inputs: torch.Tensor, device: torch.device) -> torch.Tensor:
    inputs = inputs.to(device, non_blocking=True)
    if inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def evaluator_for_model(evaluator_cfg: Any, dataset: Any, module: nn.Module,
                        fallback_schema: Any) -> Any:
    """The per-source evaluator for ``dataset``, in the model's output layout."""
    from posemix.evaluation.per_source import build_evaluator

    schema = getattr(module, "schema", None) or fallback_schema
    if schema is None:
        raise ConfigError("evaluation needs the model's keypoint schema: give the model a "
                          "metainfo, or use a dataset with a schema")
    indices = (getattr(module, "test_cfg", None) or {}).get("output_keypoint_indices")
    per_head = getattr(getattr(module, "head", None), "output_schemas", None)  # MultiSourceHead
    return build_evaluator(evaluator_cfg, dataset, schema, indices,
                           per_head() if per_head is not None else None)


def evaluate(module: nn.Module, loader: Loader, evaluator: Any,
             ctx: dist.DistContext, progress: bool | None = False) -> dict[str, float]:
    """Predict every sample of ``loader`` on every rank, evaluate on rank 0 (predictions
    gathered in dataset order, sampler padding dropped) and return the metrics on all
    ranks. ``evaluator`` is only needed on rank 0. ``progress``: a bar over the batches (a
    COCO-size val set takes minutes on a CPU); None: when stderr is a terminal."""
    from tqdm import tqdm

    module.eval()
    local: list[tuple[dict, dict]] = []
    shown = sys.stderr.isatty() if progress is None else progress
    batches = tqdm(loader.loader, desc="evaluating", unit="batch", leave=False,
                   dynamic_ncols=True, file=sys.stderr, disable=not (shown and ctx.is_main))
    with torch.no_grad():
        for batch in batches:
            preds = module.predict(_inputs_to(batch["inputs"], ctx.device), batch["meta"])
            local.extend(zip(preds, batch["meta"], strict=True))
    parts = dist.gather_to_main(local, ctx)
    outcome: tuple[dict[str, float], str | None] = ({}, None)
    if ctx.is_main:
        pairs = dist.interleave(parts, len(loader.dataset))
        try:
            if pairs:
                evaluator.process([p for p, _ in pairs], [m for _, m in pairs])
                outcome = ({k: float(v) for k, v in evaluator.evaluate().items()}, None)
        except PosemixError as exc:
            if not ctx.distributed:
                raise
            outcome = ({}, str(exc))
    metrics, error = dist.broadcast(outcome, ctx)
    if error is not None:
        raise PosemixError(f"evaluation failed on rank 0: {error}")
    return metrics


class EpochBasedTrainLoop:
    """Epochs of training for ``runner`` (which owns the state, hooks, settings and the
    optional validation ``(loader, evaluator)``)."""

    def __init__(self, runner: Any):
        self.runner = runner

    def _autocast(self) -> Any:
        dtype = self.runner.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.runner.ctx.device.type, dtype=dtype)

    def _restore_rng(self, state: TrainState, now: bool) -> None:
        if now and state.pending_rng:
            set_rng_state(state.pending_rng)
            state.pending_rng = None

    def run_epoch(self, state: TrainState) -> bool:
        """One pass over the training data (the rest of it, after a mid-epoch stop).
        Returns False when a stop signal ended the epoch early, after the step in progress."""
        runner = self.runner
        epoch, start = state.epoch, state.inner
        state.train.sampler.set_epoch(epoch)
        if hasattr(state.train.dataset, "set_epoch"):
            state.train.dataset.set_epoch(epoch)
        runner.call_hook("before_train_epoch")
        state.model.train()
        state.train.loader.sampler.skip = start * state.train.batch_size
        # an epoch-end checkpoint's generators are as before the loader draws its seed; a
        # mid-epoch one's as after the step it stopped at, when the loader had drawn it
        self._restore_rng(state, start == 0)
        batches = iter(state.train.loader)
        self._restore_rng(state, True)
        state.skipped = 0
        tick = time.perf_counter()
        for inner, batch in enumerate(batches, start):
            data_time = time.perf_counter() - tick
            if batch["skipped"]:
                self._skip_unreadable(state, batch["skipped"])
            if batch["inputs"] is None:  # every image of the batch was unreadable
                state.inner = inner + 1
                continue
            runner.call_hook("before_train_iter", inner, batch)
            outputs = self._step(state, batch, epoch, inner)
            outputs.update(data_time=data_time, iter_start=tick)
            runner.call_hook("after_train_iter", inner, batch, outputs)
            state.inner = inner + 1
            if runner.stop_signal is not None and state.inner < len(state.train.loader):
                return False
            tick = time.perf_counter()
        state.epoch, state.inner = state.epoch + 1, 0
        return True

    def _step(self, state: TrainState, batch: dict, epoch: int, inner: int) -> dict:
        device = self.runner.ctx.device
        lr = state.optimizer.param_groups[0]["lr"]
        inputs = _inputs_to(batch["inputs"], device)
        targets = _to_device(batch["targets"], device)
        with self._autocast():
            losses = state.model(inputs, targets, batch["meta"], mode="loss")
        total, values = parse_losses(losses)
        if not math.isfinite(values["loss"]):
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            raise PosemixError(f"the training loss became {values['loss']} in epoch "
                               f"{epoch + 1}, iteration {inner + 1} ({shown}); lower the "
                               "learning rate, enable clip_grad, or check the data")
        grad_norm = state.step(total)
        if grad_norm is not None:
            values["grad_norm"] = grad_norm
        state.iteration += 1
        return {"loss": total, "log_vars": values, "lr": lr}

    def after_epoch(self, state: TrainState) -> None:
        """The ``after_train_epoch`` hooks, then validation when due. A validation that
        fails (a val image folder that is wrong, say) still ends with the
        ``after_val_epoch`` hooks, without metrics, so the epoch just trained is
        checkpointed before the error surfaces."""
        runner = self.runner
        runner.call_hook("after_train_epoch")
        if not runner.validates_after(state.epoch):
            return
        val, evaluator = runner.validation
        runner.call_hook("before_val_epoch")
        try:
            state.metrics = evaluate(state.module, val, evaluator, runner.ctx,
                                     progress=runner.logger.bar is not None)
        except Exception:
            runner.call_hook("after_val_epoch", {})
            runner.info(f"validation after epoch {state.epoch} failed; the epoch's training "
                        "is checkpointed: fix the cause and continue with --resume")
            raise
        runner.call_hook("after_val_epoch", state.metrics)

    def _skip_unreadable(self, state: TrainState, skipped: list[tuple[str, str]]) -> None:
        """Count and list (``skipped_images.txt`` in the work dir, one per rank) samples whose
        image could not be read; stop once more than ``train_cfg.max_skip_fraction`` of an
        epoch's samples failed."""
        runner, rank = self.runner, self.runner.ctx.rank
        state.skipped += len(skipped)
        name = SKIPPED_LIST if rank == 0 else f"skipped_images.rank{rank}.txt"
        listing = runner.work_dir / name
        runner.work_dir.mkdir(parents=True, exist_ok=True)
        with open(listing, "a", encoding="utf-8") as f:
            f.writelines(f"{path}\t{error}\n" for path, error in skipped)
        total = len(state.train.sampler)
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in epoch {state.epoch + 1} "
                      f"({state.skipped} of {total} samples so far), listed in {listing}: "
                      f"{skipped[0][1]}", stacklevel=3)
        limit = runner.settings.max_skip_fraction
        if state.skipped > limit * total:
            raise PosemixError(
                f"{state.skipped} of the {total} samples of epoch {state.epoch + 1} had "
                f"unreadable images, more than train_cfg.max_skip_fraction={limit:g}; the "
                f"files are listed in {listing}")
