"""Learning-rate schedulers with mmengine's semantics, so MMPose schedules give the same lrs.

Every scheduler is *chainable*: it multiplies the optimizer's **current** lr inside its own
``[begin, end)`` window, so several schedulers compose by multiplication (a warm-up stepped
every iteration and a step decay stepped every epoch). The constructor already steps once
(a warm-up's first iteration trains with ``start_factor · lr``). ``by_epoch`` says which
counter steps it: the runner calls :func:`step_schedulers` after every iteration with
``by_epoch=False`` and after every epoch with ``by_epoch=True``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from posemix.errors import ConfigError
from posemix.registry import SCHEDULERS

INF = math.inf


class ParamScheduler:
    """Base class: the window, the step counters and the chained update of ``lr``."""

    # Arguments counted in scheduler steps, scaled by ``convert_to_iter_based`` with begin/end.
    STEP_ARGS: tuple[str, ...] = ()

    def __init__(self, optimizer: torch.optim.Optimizer, begin: int = 0, end: float = INF,
                 by_epoch: bool = True):
        name = type(self).__name__
        if begin < 0 or not begin < end:
            raise ConfigError(f"{name}: need 0 <= begin < end, got begin={begin}, end={end}")
        self.optimizer = optimizer
        self.begin, self.end, self.by_epoch = begin, end, bool(by_epoch)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_values = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_step = -1  # steps taken inside the window
        self.global_step = -1  # steps taken in all
        self.step()

    def step(self) -> None:
        """Advance one step (iteration or epoch); update ``lr`` while inside the window."""
        self.global_step += 1
        if self.begin <= self.global_step < self.end:
            self.last_step += 1
            for group, value in zip(self.optimizer.param_groups, self.get_values(), strict=True):
                group["lr"] = value

    def get_values(self) -> list[float]:
        """The lr of every param group after the current step (reads the current lr)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "last_step": self.last_step,
                "global_step": self.global_step, "base_values": list(self.base_values)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self.global_step = int(state["global_step"])
        self.base_values = [float(v) for v in state["base_values"]]


@SCHEDULERS.register()
class LinearLR(ParamScheduler):
    """Linear ramp of the lr factor from ``start_factor`` to ``end_factor`` over the window
    (``end − begin − 1`` steps): step k of the window trains with
    ``lr · (start + (end_f − start) · k / (end − begin − 1))``."""

    def __init__(self, optimizer: torch.optim.Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, begin: int = 0, end: float = INF,
                 by_epoch: bool = True):
        if not 0 < start_factor <= 1:
            raise ConfigError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ConfigError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)
        self.total_iters = end - begin - 1
        super().__init__(optimizer, begin, end, by_epoch)

    def get_values(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [g["lr"] * self.start_factor for g in groups]
        span = self.end_factor - self.start_factor
        ratio = 1.0 + span / (self.total_iters * self.start_factor + (self.last_step - 1) * span)
        return [g["lr"] * ratio for g in groups]


@SCHEDULERS.register()
class MultiStepLR(ParamScheduler):
    """Multiply the lr by ``gamma`` each time the window's step count reaches a milestone."""

    STEP_ARGS = ("milestones",)

    def __init__(self, optimizer: torch.optim.Optimizer, milestones: Sequence[int],
                 gamma: float = 0.1, begin: int = 0, end: float = INF, by_epoch: bool = True):
        if isinstance(milestones, (int, float)) or not all(
                isinstance(m, int) and not isinstance(m, bool) for m in milestones):
            raise ConfigError(f"MultiStepLR: milestones must be a list of integers, "
                              f"got {milestones!r}")
        self.milestones = Counter(milestones)
        self.gamma = float(gamma)
        super().__init__(optimizer, begin, end, by_epoch)

    def get_values(self) -> list[float]:
        factor = self.gamma ** self.milestones.get(self.last_step, 0)
        return [g["lr"] * factor for g in self.optimizer.param_groups]


@SCHEDULERS.register()
class CosineAnnealingLR(ParamScheduler):
    """Cosine decay from the lr to ``eta_min`` (or ``eta_min_ratio · initial lr``) over
    ``T_max`` steps (default: the window's length), in mmengine's chained form."""

    STEP_ARGS = ("T_max",)

    def __init__(self, optimizer: torch.optim.Optimizer, T_max: int | None = None,  # noqa: N803
                 eta_min: float | None = None, begin: int = 0, end: float = INF,
                 by_epoch: bool = True, eta_min_ratio: float | None = None):
        if eta_min is not None and eta_min_ratio is not None:
            raise ConfigError("CosineAnnealingLR: give eta_min or eta_min_ratio, not both")
        if T_max is None:
            if end == INF:
                raise ConfigError("CosineAnnealingLR needs T_max or a finite end")
            T_max = end - begin  # noqa: N806
        if T_max <= 0:
            raise ConfigError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = 0.0 if eta_min is None and eta_min_ratio is None else eta_min
        self.eta_min_ratio = eta_min_ratio
        super().__init__(optimizer, begin, end, by_epoch)

    def _floor(self, base: float) -> float:
        return base * self.eta_min_ratio if self.eta_min_ratio is not None else self.eta_min

    def get_values(self) -> list[float]:
        groups = self.optimizer.param_groups
        k, t = self.last_step, self.T_max
        if k == 0:
            return [g["lr"] for g in groups]
        if (k - 1 - t) % (2 * t) == 0:
            return [g["lr"] + (base - self._floor(base)) * (1 - math.cos(math.pi / t)) / 2
                    for base, g in zip(self.base_values, groups, strict=True)]
        ratio = (1 + math.cos(math.pi * k / t)) / (1 + math.cos(math.pi * (k - 1) / t))
        return [ratio * (g["lr"] - self._floor(base)) + self._floor(base)
                for base, g in zip(self.base_values, groups, strict=True)]


def _scaled(value: Any, factor: int) -> Any:
    if isinstance(value, (list, tuple)):
        return [v * factor for v in value]
    return value if value == INF else value * factor


def constructor_arguments(cfgs: Any) -> Any:
    """``param_scheduler`` without the keys :func:`build_schedulers` reads itself
    (``convert_to_iter_based``): what each scheduler class is called with, for the
    config check before any data is read."""
    if isinstance(cfgs, Mapping):
        return {k: v for k, v in cfgs.items() if k != "convert_to_iter_based"}
    if isinstance(cfgs, (list, tuple)):
        return [constructor_arguments(c) for c in cfgs]
    return cfgs


def build_schedulers(cfgs: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
                     optimizer: torch.optim.Optimizer, epoch_length: int,
                     max_epochs: int) -> list[ParamScheduler]:
    """Build ``param_scheduler`` (one dict or a list) as mmengine's runner does.

    A scheduler without ``end`` ends with training (``max_epochs``, or the total number of
    iterations when ``by_epoch=False``). ``convert_to_iter_based=True`` turns an epoch-based
    scheduler into an iteration-based one by multiplying its step counts by ``epoch_length``.
    """
    if cfgs is None:
        return []
    if isinstance(cfgs, Mapping):
        cfgs = [cfgs]
    schedulers = []
    for raw in cfgs:
        cfg = dict(raw)
        cls = SCHEDULERS.get(cfg["type"]) if isinstance(cfg.get("type"), str) else cfg.get("type")
        if cls is None:
            raise ConfigError(f"a param_scheduler config needs a 'type' key, got {sorted(cfg)}")
        by_epoch = cfg.get("by_epoch", True)
        cfg.setdefault("end", max_epochs if by_epoch else max_epochs * epoch_length)
        if cfg.pop("convert_to_iter_based", False) and by_epoch:
            for key in ("begin", "end", *getattr(cls, "STEP_ARGS", ())):
                if cfg.get(key) is not None:
                    cfg[key] = _scaled(cfg[key], epoch_length)
            cfg["by_epoch"] = False
        schedulers.append(SCHEDULERS.build(cfg, optimizer=optimizer))
    return schedulers


def step_schedulers(schedulers: Sequence[ParamScheduler], by_epoch: bool) -> None:
    """Step, in config order, the schedulers driven by epochs (or by iterations)."""
    for scheduler in schedulers:
        if scheduler.by_epoch == by_epoch:
            scheduler.step()
