"""The run settings of a config, read and validated in one place before anything is built:
``randomness``, ``env_cfg`` and ``train_cfg``. Frozen: the loop only reads them."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from posemix.config.validation import fraction, positive_int, reject_unknown_keys
from posemix.errors import ConfigError

RANDOMNESS_KEYS = {"seed", "deterministic", "diff_rank_seed"}
TRAIN_CFG_KEYS = {"by_epoch", "max_epochs", "val_interval", "val_begin", "max_skip_fraction"}
MAX_SKIP_FRACTION = 0.01  # of an epoch's samples whose image may be unreadable


@dataclass(frozen=True)
class Randomness:
    """``randomness``: the run's seed (0 when unset), deterministic kernels, and whether each
    rank seeds itself with seed + rank."""

    seed: int = 0
    deterministic: bool = False
    diff_rank_seed: bool = False

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> Randomness:
        section = dict(cfg.get("randomness") or {})
        reject_unknown_keys(section, RANDOMNESS_KEYS, "randomness")
        seed = section.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or seed < 0):
            raise ConfigError(f"randomness.seed must be a non-negative integer, got {seed!r}")
        flags = {key: section.get(key, False) for key in ("deterministic", "diff_rank_seed")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise ConfigError(f"randomness.{key} must be True or False, got {value!r}")
        return cls(seed or 0, **flags)

    def apply(self, rank: int) -> None:
        """Seed Python, numpy and torch for ``rank``."""
        seed_everything(self.seed + (rank if self.diff_rank_seed else 0), self.deterministic)


@dataclass(frozen=True)
class Environment:
    """``env_cfg``: cudnn benchmark, OpenCV threads, the DataLoader start method and the
    process group's backend and timeout."""

    cudnn_benchmark: bool = False
    opencv_num_threads: int | None = None
    mp_start_method: str | None = None
    backend: str | None = None
    timeout: float | None = None

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> Environment:
        env = dict(cfg.get("env_cfg") or {})
        dist_cfg = env.get("dist_cfg") or {}
        mp_cfg = env.get("mp_cfg") or {}
        threads = mp_cfg.get("opencv_num_threads")
        return cls(bool(env.get("cudnn_benchmark")), None if threads is None else int(threads),
                   mp_cfg.get("mp_start_method"), dist_cfg.get("backend"),
                   dist_cfg.get("timeout"))

    def apply(self) -> None:
        if self.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        if self.opencv_num_threads is not None:
            import cv2

            cv2.setNumThreads(self.opencv_num_threads)


@dataclass(frozen=True)
class LoopSettings:
    """``train_cfg`` (mmengine's EpochBasedTrainLoop): epochs, when to validate, and the
    share of an epoch's samples that may have unreadable images."""

    max_epochs: int
    val_interval: int = 1
    val_begin: int = 1
    max_skip_fraction: float = MAX_SKIP_FRACTION

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> LoopSettings:
        section = dict(cfg.get("train_cfg") or {})
        loop = section.pop("type", "EpochBasedTrainLoop")
        if loop != "EpochBasedTrainLoop" or not section.get("by_epoch", True):
            raise ConfigError("train_cfg: only epoch-based training is supported "
                              "(by_epoch=True, max_epochs=...)")
        reject_unknown_keys(section, TRAIN_CFG_KEYS, "train_cfg", word="unsupported")
        skip = fraction(section.get("max_skip_fraction", MAX_SKIP_FRACTION),
                        "train_cfg.max_skip_fraction")
        return cls(*(positive_int(section.get(name, default), f"train_cfg.{name}")
                     for name, default in (("max_epochs", None), ("val_interval", 1),
                                           ("val_begin", 1))), max_skip_fraction=skip)

    def val_due(self, epoch: int) -> bool:
        """Whether to validate after 1-based epoch ``epoch``."""
        return epoch >= self.val_begin and (epoch % self.val_interval == 0
                                            or epoch == self.max_epochs)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy and torch (all devices); optionally ask for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
