"""Hooks: how behaviour joins the training loop without an ``if`` in it, in MMPose's
(mmengine's) vocabulary.

A hook subclasses :class:`Hook`, overrides the points it needs and registers itself in
``posemix.registry.HOOKS``; configs list it in ``custom_hooks=[dict(type=..., priority=...)]``
or under a name in ``default_hooks``. At each point the runner calls every hook in order
of priority (a name from :data:`PRIORITIES` or an int, lower first; ties keep config order).

What a hook sees is the runner: ``runner.cfg``, ``runner.work_dir``, ``runner.ctx`` (rank,
world size, device), ``runner.logger``, ``runner.info(text)`` and, while training,
``runner.state`` (:class:`~posemix.engine.state.TrainState`: ``model`` (DDP-wrapped when
distributed), ``module``, ``optimizer``, ``schedulers``, ``train`` (the training
:class:`~posemix.data.loader.Loader`: ``dataset``, ``sampler``, ``loader``), ``policy``,
``epoch`` (completed), ``iteration``, ``metrics``), ``runner.settings`` (the frozen
``train_cfg``), ``runner.validates_after(epoch)`` and ``runner.checkpoint(rng, full)`` (a
checkpoint's payload).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from posemix.errors import ConfigError
from posemix.registry import HOOKS

PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}
# the default_hooks names and the hook each stands for when its config gives no type
DEFAULT_HOOKS = {"timer": "IterTimerHook", "logger": "LoggerHook",
                 "param_scheduler": "ParamSchedulerHook", "checkpoint": "CheckpointHook",
                 "sampler_seed": "DistSamplerSeedHook"}


class Hook:
    """Every point of a run a hook can act at; each does nothing unless overridden.

    ``data_batch`` is the collated batch; ``outputs`` after an iteration holds ``loss``
    (the total, a tensor), ``log_vars`` (every loss term and ``grad_norm`` as floats),
    ``lr`` (the lr the step used), ``data_time`` and ``iter_start`` (perf_counter seconds).
    ``checkpoint`` is the payload dict about to be written (a hook may add its own keys
    or replace ``state_dict``) or, on resume, the one just read, before the training state
    is loaded from it (a hook may edit it, as EMAHook does). ``before_run`` comes before
    that, once the model, optimizer and data are built.
    """

    priority: int | str = "NORMAL"

    def before_run(self, runner: Any) -> None: ...
    def before_train(self, runner: Any) -> None: ...
    def before_train_epoch(self, runner: Any) -> None: ...
    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: dict) -> None: ...
    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: dict,
                         outputs: dict) -> None: ...
    def after_train_epoch(self, runner: Any) -> None: ...
    def before_val_epoch(self, runner: Any) -> None: ...
    def after_val_epoch(self, runner: Any, metrics: Mapping[str, float]) -> None: ...
    def after_train(self, runner: Any) -> None: ...
    def after_run(self, runner: Any) -> None: ...
    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None: ...
    def after_load_checkpoint(self, runner: Any, checkpoint: Mapping[str, Any]) -> None: ...


def priority_value(priority: int | str, where: str = "hook") -> int:
    """An int priority from a name ('VERY_HIGH' ... 'VERY_LOW') or an int."""
    if isinstance(priority, str) and priority.upper() in PRIORITIES:
        return PRIORITIES[priority.upper()]
    if isinstance(priority, int) and not isinstance(priority, bool):
        return priority
    raise ConfigError(f"{where}: priority must be an int or one of {', '.join(PRIORITIES)}, "
                      f"got {priority!r}")


def _build(cfg: Mapping[str, Any], where: str) -> Hook:
    cfg = dict(cfg)
    priority = cfg.pop("priority", None)
    hook = HOOKS.build(cfg)
    if not isinstance(hook, Hook):
        raise ConfigError(f"{where} ({cfg['type']}) is not a posemix Hook")
    if priority is not None:
        hook.priority = priority
    priority_value(hook.priority, where)
    return hook


def build_hooks(default_hooks: Mapping[str, Any] | None,
                custom_hooks: Sequence[Mapping[str, Any]] | None) -> list[Hook]:
    """The hooks of ``default_hooks`` (each name in :data:`DEFAULT_HOOKS` is there even when
    the config leaves it out or sets it to None) and ``custom_hooks``, by priority. An
    entry with ``enable=False`` is left out. The built-in hooks are registered by
    :mod:`posemix.engine.default_hooks`."""
    given = dict(default_hooks or {})
    entries = []
    for name in {**DEFAULT_HOOKS, **given}:
        cfg = dict(given.get(name) or {})
        if not cfg.pop("enable", True):
            continue
        if "type" not in cfg:
            if name not in DEFAULT_HOOKS:
                raise ConfigError(f"default_hooks.{name} needs a type")
            cfg["type"] = DEFAULT_HOOKS[name]
        entries.append((cfg, f"default_hooks.{name}"))
    for i, cfg in enumerate(custom_hooks or []):
        cfg = dict(cfg)
        if cfg.pop("enable", True):
            entries.append((cfg, f"custom_hooks[{i}]"))
    hooks = [_build(cfg, where) for cfg, where in entries]
    return sorted(hooks, key=lambda h: priority_value(h.priority))


def find_hook(hooks: Sequence[Hook], kind: type) -> Any:
    """The first hook of type ``kind``, or None."""
    return next((h for h in hooks if isinstance(h, kind)), None)
