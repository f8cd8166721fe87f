"""Optimizer construction and the optimizer step (MMPose's ``optim_wrapper`` vocabulary).

``optim_wrapper = dict(type='OptimWrapper' | 'AmpOptimWrapper', optimizer=dict(type=...),
clip_grad=dict(max_norm=..., norm_type=2) | dict(type='value', clip_value=...))``.
One param group holds every trainable parameter, as mmengine's default constructor gives
without ``paramwise_cfg``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from posemix.config.validation import positive_int, reject_unknown_keys
from posemix.errors import ConfigError
from posemix.registry import OPTIMIZERS

for _optimizer in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
    OPTIMIZERS.register(_optimizer)

_WRAPPER_TYPES = ("OptimWrapper", "AmpOptimWrapper")
_WRAPPER_KEYS = {"type", "optimizer", "clip_grad", "accumulative_counts", "paramwise_cfg",
                 "constructor"}
_AMP_KEYS = {"loss_scale", "dtype"}
_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class OptimSettings:
    """What ``optim_wrapper`` asks for, besides the optimizer itself."""

    clip_grad: dict[str, Any] | None = None
    amp: bool = False  # AmpOptimWrapper: mixed precision without --amp
    amp_dtype: torch.dtype | None = None  # None: bf16 when the GPU supports it, else fp16
    loss_scale: str | float = "dynamic"


def parse_optim_wrapper(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], OptimSettings]:
    """Split ``optim_wrapper`` into the optimizer config and the step settings, rejecting
    what posemix does not do (gradient accumulation) and warning about what it ignores."""
    cfg = dict(cfg)
    type_ = cfg.get("type", "OptimWrapper")
    if type_ not in _WRAPPER_TYPES:
        raise ConfigError(f"optim_wrapper type '{type_}' is not supported; use one of "
                          f"{', '.join(_WRAPPER_TYPES)}")
    valid = _WRAPPER_KEYS | (_AMP_KEYS if type_ == "AmpOptimWrapper" else set())
    reject_unknown_keys(cfg, valid, f"optim_wrapper ({type_})")
    if "optimizer" not in cfg:
        raise ConfigError("optim_wrapper needs an optimizer, e.g. "
                          "optimizer=dict(type='Adam', lr=5e-4)")
    if cfg.get("accumulative_counts", 1) != 1:
        raise ConfigError("optim_wrapper accumulative_counts > 1 (gradient accumulation) is "
                          "not supported; raise the batch size or the number of GPUs instead")
    if cfg.get("paramwise_cfg"):
        warnings.warn("optim_wrapper.paramwise_cfg is ignored: posemix puts every parameter "
                      "in one group with the optimizer's lr and weight_decay", stacklevel=2)
    if cfg.get("constructor", "DefaultOptimWrapperConstructor") != \
            "DefaultOptimWrapperConstructor":
        raise ConfigError(f"optim_wrapper constructor '{cfg['constructor']}' is not supported")
    settings = OptimSettings(clip_grad=_check_clip(cfg.get("clip_grad")),
                             amp=type_ == "AmpOptimWrapper")
    if settings.amp:
        dtype = cfg.get("dtype")
        if dtype is not None and dtype not in _AMP_DTYPES:
            raise ConfigError(f"AmpOptimWrapper dtype must be one of {sorted(_AMP_DTYPES)}, "
                              f"got {dtype!r}")
        settings.amp_dtype = _AMP_DTYPES.get(dtype) if dtype else None
        loss_scale = cfg.get("loss_scale", "dynamic")
        if loss_scale != "dynamic" and not (isinstance(loss_scale, (int, float))
                                            and loss_scale > 0):
            raise ConfigError(f"AmpOptimWrapper loss_scale must be 'dynamic' or a positive "
                              f"number, got {loss_scale!r}")
        settings.loss_scale = loss_scale
    return dict(cfg["optimizer"]), settings


def _check_clip(clip: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not clip:
        return None
    clip = dict(clip)
    kind = clip.pop("type", "norm")
    if kind == "norm":
        if "max_norm" not in clip or set(clip) - {"max_norm", "norm_type",
                                                   "error_if_nonfinite"}:
            raise ConfigError(f"clip_grad by norm takes max_norm (and norm_type), got {clip}")
    elif kind == "value":
        if set(clip) != {"clip_value"}:
            raise ConfigError(f"clip_grad type='value' takes clip_value only, got {clip}")
    else:
        raise ConfigError(f"clip_grad type must be 'norm' or 'value', got {kind!r}")
    return {"type": kind, **clip}


def build_optimizer(model: nn.Module, optimizer_cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """The optimizer over the model's trainable parameters (one param group)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    return OPTIMIZERS.build(dict(optimizer_cfg), params=params)


def scale_lr(optimizer: torch.optim.Optimizer, auto_scale_lr: Mapping[str, Any] | None,
             total_batch_size: int) -> float | None:
    """mmengine's ``auto_scale_lr``: only when ``enable=True``, multiply every lr by
    ``total_batch_size / base_batch_size``. Returns the factor, or None when not enabled."""
    if not auto_scale_lr or not auto_scale_lr.get("enable", False):
        return None
    base = positive_int(auto_scale_lr.get("base_batch_size"), "auto_scale_lr.base_batch_size")
    factor = total_batch_size / base
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor
    return factor


class OptimizerStep:
    """backward → (unscale) → clip → step → zero_grad, with an optional fp16 GradScaler.

    A fixed ``loss_scale`` keeps the scaler at that value (mmengine's static loss scale).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, clip_grad: dict[str, Any] | None,
                 scaler: torch.amp.GradScaler | None = None,
                 loss_scale: str | float = "dynamic"):
        self.optimizer = optimizer
        self.clip_grad = clip_grad
        self.scaler = scaler
        self.loss_scale = loss_scale

    def __call__(self, loss: torch.Tensor) -> float | None:
        """Update the parameters from ``loss``; returns the gradient norm when clipping by norm."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        grad_norm = self._clip()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update(None if self.loss_scale == "dynamic" else float(self.loss_scale))
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _clip(self) -> float | None:
        if self.clip_grad is None:
            return None
        params = [p for g in self.optimizer.param_groups for p in g["params"]
                  if p.grad is not None]
        if not params:
            return None
        args = {k: v for k, v in self.clip_grad.items() if k != "type"}
        if self.clip_grad["type"] == "value":
            torch.nn.utils.clip_grad_value_(params, **args)
            return None
        return float(torch.nn.utils.clip_grad_norm_(params, **args))

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

