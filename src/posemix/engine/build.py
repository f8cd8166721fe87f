"""The training state of a config: data, model (with its initial or resumed weights),
optimizer step, lr schedulers and checkpoint policy, on this process's device."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import posemix.engine.dist as dist
from posemix.data.loader import Loader
from posemix.engine.checkpoint import (
    CheckpointPolicy,
    check_resumable,
    find_resume_checkpoint,
    load_checkpoint,
    read_pointer,
)
from posemix.engine.default_hooks import CheckpointHook
from posemix.engine.hooks import find_hook
from posemix.engine.loops import evaluator_for_model
from posemix.engine.optim import OptimizerStep, build_optimizer, parse_optim_wrapper, scale_lr
from posemix.engine.preflight import check_before_data
from posemix.engine.schedulers import build_schedulers
from posemix.engine.state import TrainState
from posemix.errors import ConfigError
from posemix.models.builder import build_model

Resumed = tuple[Path, dict[str, Any]]


def resolve_work_dir(cfg: Mapping[str, Any], work_dir: str | os.PathLike | None) -> Path:
    """``work_dir`` argument, else ``cfg.work_dir``, else ``work_dirs/{config name}``."""
    if work_dir is not None:
        return Path(work_dir)
    if cfg.get("work_dir"):
        return Path(cfg["work_dir"])
    filename = getattr(cfg, "filename", None)
    return Path("work_dirs") / (Path(filename).stem if filename else "run")


def resume_source(resume: str | bool | None, work_dir: Path) -> Resumed | None:
    """The checkpoint to resume from (read and checked): ``resume`` as a path, or the
    newest usable one in ``work_dir`` when it is True. A fresh run refuses a work dir that
    holds another run's checkpoints: its stale ``best_*`` / ``epoch_*`` files would sit
    beside the new ones (and be picked by a later resume or best-checkpoint lookup)."""
    if not resume:
        previous = sorted(p.name for p in work_dir.glob("*.pth"))
        if previous or read_pointer(work_dir) is not None:
            shown = ", ".join(previous[:3]) + (", ..." if len(previous) > 3 else "")
            raise ConfigError(f"{work_dir} holds a previous run ({shown or 'last_checkpoint'});"
                              f" continue it with --resume, or train into a new --work-dir")
        return None
    if resume is True:
        found = find_resume_checkpoint(work_dir)
        if found is None:
            warnings.warn(f"--resume: no checkpoint in {work_dir}; training from scratch",
                          stacklevel=4)
        return found
    path = Path(resume)
    ckpt = load_checkpoint(path)
    check_resumable(ckpt, path)
    return path, ckpt


def init_weights(module: nn.Module, cfg: Mapping[str, Any], info: Any) -> None:
    """Pretrained weights from the config (``init_cfg``, then ``load_from``)."""
    from posemix.models import load_pretrained

    for report in (module.init_weights() or []) if hasattr(module, "init_weights") else []:
        info(f"initialised from {report.checkpoint}"
             + ("" if report.clean else " (with differences, see warnings)"))
    if cfg.get("load_from"):
        load_pretrained(module, cfg["load_from"])
        info(f"loaded weights from {cfg['load_from']}")


def amp_dtype(requested: bool, dtype: torch.dtype | None,
              device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a mixed-precision run (None: float32)."""
    if not requested:
        return None
    if device.type != "cuda":
        warnings.warn("mixed precision (--amp / AmpOptimWrapper) needs CUDA; training in "
                      "float32 on the CPU", stacklevel=4)
        return None
    if dtype is None:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dtype


def build_training_state(runner: Any, resume: str | bool | None
                         ) -> tuple[TrainState, Resumed | None, float | None, Any]:
    """(state, the checkpoint to resume from, the auto_scale_lr factor, the training
    data's schema) for ``runner`` (its config, settings, hooks, device and seed)."""
    cfg, ctx, max_epochs = runner.cfg, runner.ctx, runner.settings.max_epochs
    check_before_data(cfg)
    train = runner.loader(cfg["train_dataloader"], "train")
    if len(train.loader) == 0:
        raise ConfigError(f"the training set ({len(train.dataset)} samples) gives no batch "
                          f"of {train.batch_size} (drop_last?)")
    schema = getattr(train.dataset, "schema", None)
    module = build_model(cfg["model"], schema.num_keypoints if schema is not None else None)
    source = resume_source(resume, runner.work_dir)
    if source is None and ctx.is_main:  # DDP copies rank 0's weights to the others
        init_weights(module, cfg, runner.info)
    optimizer_cfg, settings = parse_optim_wrapper(cfg["optim_wrapper"])
    runner.autocast_dtype = amp_dtype(runner.amp_requested or settings.amp, settings.amp_dtype,
                                      ctx.device)
    module = dist.convert_sync_batchnorm(module, ctx, bool(cfg.get("sync_bn")))
    runner.prepare_model(module)
    optimizer = build_optimizer(module, optimizer_cfg, settings.paramwise)
    factor = scale_lr(optimizer, cfg.get("auto_scale_lr"), ctx.world_size * train.batch_size)
    schedulers = build_schedulers(cfg.get("param_scheduler"), optimizer, len(train.loader),
                                  max_epochs)
    scaler = None
    if runner.autocast_dtype == torch.float16:
        init = settings.loss_scale if settings.loss_scale != "dynamic" else 2.0**16
        scaler = torch.amp.GradScaler("cuda", init_scale=float(init))
    wrapper = dict(cfg.get("model_wrapper_cfg") or {})
    model = dist.wrap_model(
        module, ctx,
        find_unused_parameters=bool(wrapper.get("find_unused_parameters",
                                                cfg.get("find_unused_parameters", False))),
        broadcast_buffers=bool(wrapper.get("broadcast_buffers", False)))
    checkpoint_hook = find_hook(runner.hooks, CheckpointHook)
    state = TrainState(model, module, optimizer, schedulers,
                       OptimizerStep(optimizer, settings.clip_grad, scaler, settings.loss_scale),
                       train, checkpoint_hook.policy if checkpoint_hook else CheckpointPolicy(),
                       max_epochs, num_keypoints=getattr(module, "num_keypoints", None),
                       schema=getattr(module, "schema", None) or schema)
    return state, source, factor, schema


def build_validation(runner: Any, module: nn.Module, train_schema: Any
                     ) -> tuple[Loader, Any] | None:
    """The validation loader and (on rank 0) evaluator, or None without validation."""
    cfg = runner.cfg
    loader_cfg, evaluator_cfg = cfg.get("val_dataloader"), cfg.get("val_evaluator")
    if not loader_cfg or cfg.get("val_cfg", {}) is None:
        return None
    if not evaluator_cfg:
        raise ConfigError("val_dataloader is set but val_evaluator is not; set both, or "
                          "val_dataloader=None to train without validation")
    val = runner.loader(loader_cfg, "val")
    evaluator = (evaluator_for_model(evaluator_cfg, val.dataset, module, train_schema)
                 if runner.ctx.is_main else None)
    return val, evaluator
