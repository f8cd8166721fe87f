"""Optimizer construction and the optimizer step (MMPose's ``optim_wrapper`` vocabulary).

``optim_wrapper = dict(type='OptimWrapper' | 'AmpOptimWrapper', optimizer=dict(type=...),
clip_grad=dict(max_norm=..., norm_type=2) | dict(type='value', clip_value=...),
paramwise_cfg=dict(norm_decay_mult=..., bias_decay_mult=..., bypass_duplicate=...))``.
Without ``paramwise_cfg`` one param group holds every trainable parameter, as mmengine's
default constructor gives. With it, each parameter's weight decay is scaled as mmengine's
DefaultOptimWrapperConstructor scales it (norm layers' parameters by ``norm_decay_mult``,
other ``bias`` parameters by ``bias_decay_mult``); parameters with equal settings share one
group (mmengine makes a group per parameter: the same update, but slower steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from posemix.config.validation import positive_int, reject_unknown_keys
from posemix.errors import ConfigError
from posemix.registry import OPTIMIZERS

for _optimizer in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
    OPTIMIZERS.register(_optimizer)

_WRAPPER_TYPES = ("OptimWrapper", "AmpOptimWrapper")
_WRAPPER_KEYS = {"type", "optimizer", "clip_grad", "accumulative_counts", "paramwise_cfg",
                 "constructor"}
_AMP_KEYS = {"loss_scale", "dtype"}
_PARAMWISE_KEYS = {"norm_decay_mult", "bias_decay_mult", "bypass_duplicate"}
# mmengine's norm classes for norm_decay_mult (SyncBatchNorm is a _BatchNorm).
_NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class OptimSettings:
    """What ``optim_wrapper`` asks for, besides the optimizer itself."""

    clip_grad: dict[str, Any] | None = None
    amp: bool = False  # AmpOptimWrapper: mixed precision without --amp
    amp_dtype: torch.dtype | None = None  # None: bf16 when the GPU supports it, else fp16
    loss_scale: str | float = "dynamic"
    paramwise: dict[str, Any] | None = None  # checked paramwise_cfg, see build_optimizer


def parse_optim_wrapper(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], OptimSettings]:
    """Split ``optim_wrapper`` into the optimizer config and the step settings, rejecting
    what posemix does not do (gradient accumulation)."""
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
    if cfg.get("constructor", "DefaultOptimWrapperConstructor") != \
            "DefaultOptimWrapperConstructor":
        raise ConfigError(f"optim_wrapper constructor '{cfg['constructor']}' is not supported")
    settings = OptimSettings(clip_grad=_check_clip(cfg.get("clip_grad")),
                             amp=type_ == "AmpOptimWrapper",
                             paramwise=_check_paramwise(cfg.get("paramwise_cfg")))
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


def _check_paramwise(paramwise: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not paramwise:
        return None
    paramwise = dict(paramwise)
    unknown = sorted(set(paramwise) - _PARAMWISE_KEYS)
    if unknown:
        raise ConfigError(f"optim_wrapper.paramwise_cfg has unsupported key(s) {unknown}; "
                          f"posemix supports {', '.join(sorted(_PARAMWISE_KEYS))}")
    for key in ("norm_decay_mult", "bias_decay_mult"):
        value = paramwise.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"optim_wrapper.paramwise_cfg.{key} must be a number >= 0, "
                              f"got {value!r}")
    return paramwise


def decay_multipliers(model: nn.Module, paramwise: Mapping[str, Any]
                      ) -> list[tuple[nn.Parameter, float]]:
    """(parameter, weight-decay multiplier) for every trainable parameter, by mmengine's rule:
    a norm layer's own parameters get ``norm_decay_mult``, any other parameter named ``bias``
    gets ``bias_decay_mult``, everything else 1 (ScaleNorm's ``g`` too: it is no norm class).
    A parameter reached twice (shared) counts once; ``bypass_duplicate=False`` refuses that."""
    norm_mult = float(paramwise.get("norm_decay_mult", 1.0))
    bias_mult = float(paramwise.get("bias_decay_mult", 1.0))
    seen: set[int] = set()
    out = []
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if id(param) in seen:
                if not paramwise.get("bypass_duplicate", False):
                    raise ConfigError(
                        f"parameter {module_name}.{name} is shared with another module; set "
                        f"optim_wrapper.paramwise_cfg.bypass_duplicate=True to count it once")
                continue
            seen.add(id(param))
            if isinstance(module, _NORM_TYPES):
                mult = norm_mult
            elif name == "bias":
                mult = bias_mult
            else:
                mult = 1.0
            out.append((param, mult))
    return out


def build_optimizer(model: nn.Module, optimizer_cfg: Mapping[str, Any],
                    paramwise: Mapping[str, Any] | None = None) -> torch.optim.Optimizer:
    """The optimizer over the model's trainable parameters: one param group, or with
    ``paramwise`` one group per distinct weight decay (see :func:`decay_multipliers`)."""
    if paramwise is None:
        params: list[Any] = [p for p in model.parameters() if p.requires_grad]
    else:
        decay = float(optimizer_cfg.get("weight_decay", 0.0))
        groups: dict[float, list[nn.Parameter]] = {}
        for param, mult in decay_multipliers(model, paramwise):
            groups.setdefault(mult, []).append(param)
        params = [{"params": ps, "weight_decay": decay * mult} for mult, ps in groups.items()]
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

