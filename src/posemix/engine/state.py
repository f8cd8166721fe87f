"""What the training loop updates, and what a checkpoint stores of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posemix.data.loader import Loader
from posemix.engine.checkpoint import CheckpointPolicy
from posemix.engine.optim import OptimizerStep
from posemix.engine.schedulers import ParamScheduler
from posemix.errors import CheckpointError, ConfigError
from posemix.keypoints import schema_to_metainfo


def config_text(cfg: Any) -> str:
    """The config as Python source (its repr when it holds objects that have none)."""
    try:
        return cfg.pretty_text
    except (AttributeError, ConfigError):
        return repr(cfg)


@dataclass
class TrainState:
    """Everything the epoch loop updates; ``state_dict`` / ``load_state_dict`` are what a
    checkpoint holds of it."""

    model: nn.Module  # DistributedDataParallel-wrapped when distributed
    module: nn.Module
    optimizer: torch.optim.Optimizer
    schedulers: list[ParamScheduler]
    step: OptimizerStep
    train: Loader
    policy: CheckpointPolicy
    max_epochs: int
    epoch: int = 0  # epochs completed
    iteration: int = 0  # iterations completed
    inner: int = 0  # iterations completed in the unfinished epoch (a run stopped mid-epoch)
    num_keypoints: int | None = None
    schema: Any = None  # the model's keypoint schema, saved so inference can name outputs
    skipped: int = 0  # samples of this epoch whose image could not be read (this rank)
    metrics: dict[str, float] = field(default_factory=dict)
    pending_rng: Mapping[str, Any] | None = None  # a resumed run's generators, set on resume

    def state_dict(self, config: str, rng: Mapping[str, Any] | None,
                   full: bool = True) -> dict[str, Any]:
        """A checkpoint's payload; ``full=False`` (best-model files) leaves out the
        optimizer, schedulers, sampler and generators, as mmengine does."""
        from posemix import __version__

        payload: dict[str, Any] = {
            "state_dict": self.module.state_dict(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "inner": self.inner,
            "best": self.policy.state_dict(),
            "num_keypoints": self.num_keypoints,
            "metainfo": None if self.schema is None else schema_to_metainfo(self.schema),
            "config": config,
            "posemix_version": __version__,
        }
        if full:
            sampler = self.train.sampler
            payload.update(
                optimizer=self.optimizer.state_dict(),
                param_schedulers=[s.state_dict() for s in self.schedulers],
                sampler=sampler.state_dict() if hasattr(sampler, "state_dict") else None,
                amp=self.step.state_dict(),
                rng=rng,
            )
        return payload

    def load_state_dict(self, ckpt: Mapping[str, Any], path: str | Path) -> None:
        """Continue exactly where ``ckpt`` stopped: weights, optimizer, schedulers, sampler,
        loss scaler, best score, counters; its generators wait in ``pending_rng`` for the
        loop to restore them at the right moment."""
        try:
            self.module.load_state_dict(ckpt["state_dict"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: does not fit the model/optimizer of this config: "
                                  f"{exc}") from exc
        saved = ckpt["param_schedulers"]
        types = [s.get("type") for s in saved]
        if types != [type(s).__name__ for s in self.schedulers]:
            raise CheckpointError(f"{path}: its param schedulers {types} differ from the "
                                  f"config's {[type(s).__name__ for s in self.schedulers]}")
        for scheduler, saved_state in zip(self.schedulers, saved, strict=True):
            scheduler.load_state_dict(saved_state)
        if ckpt.get("sampler") and hasattr(self.train.sampler, "load_state_dict"):
            self.train.sampler.load_state_dict(ckpt["sampler"])
        self.step.load_state_dict(ckpt.get("amp") or {})
        self.policy.load_state_dict(ckpt.get("best") or {})
        self.epoch, self.iteration = int(ckpt["epoch"]), int(ckpt["iteration"])
        self.inner = int(ckpt.get("inner", 0))
        self.pending_rng = ckpt.get("rng")
