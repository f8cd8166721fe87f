"""The DataLoader of a ``{split}_dataloader`` config: dataset, sampler, workers, batches.

Training batches skip the stand-ins of unreadable images (listed under ``'skipped'``), and
the training sampler can start its next pass mid-epoch, so that a stopped run resumes at
the next batch.
"""

from __future__ import annotations

import itertools
import random
import signal
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from posemix.config.validation import positive_int, reject_unknown_keys
from posemix.data.datasets import SKIPPED_IMAGE
from posemix.data.workers import pin_mmap_threshold
from posemix.errors import ConfigError
from posemix.registry import DATASETS, SAMPLERS, accepts, registered_type
from posemix.transforms.formatting import collate

LOADER_KEYS = {"batch_size", "num_workers", "persistent_workers", "drop_last", "pin_memory",
               "sampler", "dataset", "prefetch_factor", "collate_fn"}


def seed_worker(worker_id: int, seed: int, rank: int, num_workers: int) -> None:
    """DataLoader ``worker_init_fn``: mmengine's ``num_workers·rank + worker_id + seed`` seeds
    each worker's global generators (per-sample draws come from (seed, epoch, index) anyway),
    and keeps the worker's memory flat (posemix.data.workers). Workers ignore SIGTERM: a
    scheduler (or ``timeout``) signals the whole process group, and a worker dying of it
    would abort the step that the main process is finishing before its checkpoint; the
    main process shuts the workers down when it exits."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pin_mmap_threshold()
    worker_seed = num_workers * rank + worker_id + seed
    random.seed(worker_seed)
    np.random.seed(worker_seed % 2**32)
    torch.manual_seed(worker_seed)


def collate_training(batch: list[dict]) -> dict[str, Any]:
    """``posemix.transforms.collate`` without the stand-ins of unreadable images, which are
    listed under ``'skipped'`` as (path, error); ``'inputs'`` is None when none is left."""
    kept = [s for s in batch if SKIPPED_IMAGE not in s]
    out = collate(kept) if kept else {"inputs": None, "targets": {}, "meta": []}
    out["skipped"] = [(s[SKIPPED_IMAGE], s["error"]) for s in batch if SKIPPED_IMAGE in s]
    return out


class ResumableSampler:
    """What the training DataLoader draws from: the configured sampler, whose next pass can
    start ``skip`` samples in, so that a run stopped mid-epoch resumes at the next batch."""

    def __init__(self, sampler: Any):
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Any:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


@dataclass
class Loader:
    """A dataset, its sampler and the DataLoader over them (built with ``options``)."""

    dataset: Any
    sampler: Any
    loader: DataLoader
    batch_size: int
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    def restart(self) -> None:
        """A new DataLoader over the same dataset and sampler. Persistent workers keep the
        copy of the dataset they started with; a change to it (PipelineSwitchHook's new
        pipeline) reaches new workers only. The old workers stop with the old loader."""
        self.loader = DataLoader(self.dataset, **self.options)


def _build_sampler(cfg: Mapping[str, Any], dataset: Any, batch_size: int, seed: int) -> Any:
    cfg = dict(cfg)
    target = registered_type(SAMPLERS, cfg)
    defaults: dict[str, Any] = {"dataset": dataset}
    if accepts(target, "seed") and cfg.get("seed") is None:
        cfg["seed"] = seed
    if accepts(target, "batch_size"):
        defaults["batch_size"] = batch_size
    sampler = SAMPLERS.build(cfg, **defaults)
    own = getattr(sampler, "batch_size", batch_size)
    if own != batch_size:
        raise ConfigError(f"the sampler's batch_size ({own}) differs from the dataloader's "
                          f"({batch_size}); the batch composition it plans would be cut apart")
    return sampler


def build_loader(loader_cfg: Mapping[str, Any], split: str, seed: int, rank: int = 0,
                 pin_memory: bool = False, mp_start_method: str | None = None) -> Loader:
    """Dataset (``DATASETS``), sampler (``SAMPLERS``) and DataLoader of ``{split}_dataloader``.

    The dataset and the sampler get the run's seed unless their config sets one; workers
    are seeded per (seed, rank, worker); batches are built by ``posemix.transforms.collate``.
    ``pin_memory`` is the default when the config does not say (True for CUDA runs).
    """
    cfg = dict(loader_cfg)
    where = f"{split}_dataloader"
    reject_unknown_keys(cfg, LOADER_KEYS, where)
    if "dataset" not in cfg:
        raise ConfigError(f"{where} needs a dataset")
    if cfg.get("collate_fn") is not None:
        warnings.warn(f"{where}.collate_fn is ignored: posemix batches packed samples with "
                      "posemix.transforms.collate", stacklevel=2)
    batch_size = positive_int(cfg.get("batch_size", 1), f"{where}.batch_size")
    dataset_cfg = cfg["dataset"]
    dataset = DATASETS.build(dataset_cfg)
    if hasattr(dataset, "seed") and not (isinstance(dataset_cfg, Mapping)
                                         and dataset_cfg.get("seed") is not None):
        dataset.seed = seed
    sampler_cfg = cfg.get("sampler") or {"type": "DefaultSampler", "shuffle": split == "train"}
    sampler = _build_sampler(sampler_cfg, dataset, batch_size, seed)
    num_workers = cfg.get("num_workers", 0)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"{where}.num_workers must be 0 (load in the main process) or more, "
                          f"got {num_workers!r}")
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = bool(cfg.get("persistent_workers", False))
        if cfg.get("prefetch_factor") is not None:
            extra["prefetch_factor"] = int(cfg["prefetch_factor"])
        if mp_start_method:
            extra["multiprocessing_context"] = mp_start_method
    options = dict(
        batch_size=batch_size,
        sampler=ResumableSampler(sampler) if split == "train" else sampler,
        num_workers=num_workers,
        collate_fn=collate_training if split == "train" else collate,
        drop_last=bool(cfg.get("drop_last", False)),
        pin_memory=bool(cfg.get("pin_memory", pin_memory)),
        worker_init_fn=partial(seed_worker, seed=seed, rank=rank, num_workers=num_workers),
        # evaluation draws its loader seeds from its own generator: validating leaves the
        # training random state untouched (and a resumed run in step with an unbroken one)
        generator=None if split == "train" else torch.Generator().manual_seed(seed),
        **extra)
    return Loader(dataset, sampler, DataLoader(dataset, **options), batch_size, options)
