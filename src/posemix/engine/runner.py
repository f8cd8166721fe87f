"""The training and test loops, driven by MMPose's runtime config keys.

``train`` reads ``train_cfg``, ``optim_wrapper``, ``param_scheduler``, ``auto_scale_lr``,
``default_hooks`` (logger interval, checkpoint), ``custom_hooks`` (SyncBuffersHook),
``randomness``, ``env_cfg`` and the ``*_dataloader`` / ``*_evaluator`` keys, and runs the
epoch loop the way mmengine's EpochBasedTrainLoop does: schedulers stepped per iteration
or per epoch, checkpoint after epoch n when due, validation after it, then the best-model
file. ``test`` evaluates one checkpoint.

Reliability: SIGTERM/SIGINT end a single-process run after the step in progress with an
``iter_{n}.pth`` checkpoint that ``--resume`` continues from mid-epoch; samples whose image
cannot be read are skipped, listed in ``skipped_images.txt`` and bounded per epoch by
``train_cfg.max_skip_fraction`` (default 1%); config errors that need no data are raised
before any annotation file is read.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import math
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from posemix.data.workers import pin_mmap_threshold
from posemix.engine import dist
from posemix.engine.checkpoint import (
    CheckpointPolicy,
    CheckpointWriter,
    check_resumable,
    find_resume_checkpoint,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from posemix.engine.logger import RunLogger
from posemix.engine.optim import OptimizerStep, build_optimizer, parse_optim_wrapper, scale_lr
from posemix.engine.schedulers import ParamScheduler, build_schedulers, step_schedulers
from posemix.errors import CheckpointError, ConfigError, PosemixError
from posemix.keypoints import load_schema, schema_to_metainfo
from posemix.registry import DATASETS, MODELS, OPTIMIZERS, SAMPLERS, check_config_tree

_LOADER_KEYS = {"batch_size", "num_workers", "persistent_workers", "drop_last", "pin_memory",
                "sampler", "dataset", "prefetch_factor", "collate_fn"}
_RANDOMNESS_KEYS = {"seed", "deterministic", "diff_rank_seed"}
_BUILTIN_HOOKS = {"timer", "logger", "param_scheduler", "checkpoint", "sampler_seed"}
SKIPPED_LIST = "skipped_images.txt"


# -- set-up helpers -------------------------------------------------------------------------
def import_custom_modules(cfg: Mapping[str, Any]) -> None:
    """mmengine's ``custom_imports=dict(imports=[...], allow_failed_imports=False)``: import
    modules that register user-defined types before anything is built."""
    spec = cfg.get("custom_imports")
    if not spec:
        return
    imports = spec.get("imports", [])
    for name in [imports] if isinstance(imports, str) else imports:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if not spec.get("allow_failed_imports", False):
                raise ConfigError(f"custom_imports: cannot import '{name}': {exc}") from exc
            warnings.warn(f"custom_imports: skipped '{name}': {exc}", stacklevel=2)


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


def seed_worker(worker_id: int, seed: int, rank: int, num_workers: int) -> None:
    """DataLoader ``worker_init_fn``: mmengine's ``num_workers·rank + worker_id + seed`` seeds
    each worker's global generators (per-sample draws come from (seed, epoch, index) anyway),
    and keeps the worker's memory flat (posemix.data.workers)."""
    pin_mmap_threshold()
    worker_seed = num_workers * rank + worker_id + seed
    random.seed(worker_seed)
    np.random.seed(worker_seed % 2**32)
    torch.manual_seed(worker_seed)


def config_text(cfg: Any) -> str:
    """The config as Python source (its repr when it holds objects that have none)."""
    try:
        return cfg.pretty_text
    except (AttributeError, ConfigError):
        return repr(cfg)


def resolve_work_dir(cfg: Mapping[str, Any], work_dir: str | os.PathLike | None) -> Path:
    """``work_dir`` argument, else ``cfg.work_dir``, else ``work_dirs/{config name}``."""
    if work_dir is not None:
        return Path(work_dir)
    if cfg.get("work_dir"):
        return Path(cfg["work_dir"])
    filename = getattr(cfg, "filename", None)
    return Path("work_dirs") / (Path(filename).stem if filename else "run")


def _accepts(target: Any, name: str) -> bool:
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


def _registered(registry: Any, cfg: Mapping[str, Any]) -> Any:
    type_ = cfg.get("type")
    if type_ is None:
        raise ConfigError(f"a {registry.kind} config needs a 'type' key, got keys {sorted(cfg)}")
    return registry.get(type_) if isinstance(type_, str) else type_


def build_model(model_cfg: Mapping[str, Any], num_keypoints: int | None) -> nn.Module:
    """``MODELS.build(model_cfg)``; a model that takes ``num_keypoints`` gets the training
    data's count, which fills ``out_channels=None`` and is checked against an explicit one."""
    cfg = dict(model_cfg)
    if num_keypoints is not None and cfg.get("num_keypoints") is None \
            and _accepts(_registered(MODELS, cfg), "num_keypoints"):
        cfg["num_keypoints"] = num_keypoints
    return MODELS.build(cfg)


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


# -- data -----------------------------------------------------------------------------------
def collate_training(batch: list[dict]) -> dict[str, Any]:
    """``posemix.transforms.collate`` without the stand-ins of unreadable images, which are
    listed under ``'skipped'`` as (path, error); ``'inputs'`` is None when none is left."""
    from posemix.data.datasets import SKIPPED_IMAGE
    from posemix.transforms import collate

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
    """A dataset, its sampler and the DataLoader over them."""

    dataset: Any
    sampler: Any
    loader: DataLoader
    batch_size: int


def _build_sampler(cfg: Mapping[str, Any], dataset: Any, batch_size: int, seed: int) -> Any:
    cfg = dict(cfg)
    target = _registered(SAMPLERS, cfg)
    defaults: dict[str, Any] = {"dataset": dataset}
    if _accepts(target, "seed") and cfg.get("seed") is None:
        cfg["seed"] = seed
    if _accepts(target, "batch_size"):
        defaults["batch_size"] = batch_size
    sampler = SAMPLERS.build(cfg, **defaults)
    own = getattr(sampler, "batch_size", batch_size)
    if own != batch_size:
        raise ConfigError(f"the sampler's batch_size ({own}) differs from the dataloader's "
                          f"({batch_size}); the batch composition it plans would be cut apart")
    return sampler


def build_loader(loader_cfg: Mapping[str, Any], split: str, seed: int, ctx: dist.DistContext,
                 mp_start_method: str | None = None) -> Loader:
    """Dataset (``DATASETS``), sampler (``SAMPLERS``) and DataLoader of ``{split}_dataloader``.

    The dataset and the sampler get the run's seed unless their config sets one; workers
    are seeded per (seed, rank, worker); batches are built by ``posemix.transforms.collate``.
    """
    from posemix.transforms import collate

    cfg = dict(loader_cfg)
    where = f"{split}_dataloader"
    unknown = sorted(set(cfg) - _LOADER_KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; valid: "
                          f"{', '.join(sorted(_LOADER_KEYS))}")
    if "dataset" not in cfg:
        raise ConfigError(f"{where} needs a dataset")
    if cfg.get("collate_fn") is not None:
        warnings.warn(f"{where}.collate_fn is ignored: posemix batches packed samples with "
                      "posemix.transforms.collate", stacklevel=2)
    batch_size = cfg.get("batch_size", 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"{where}.batch_size must be a positive integer, got {batch_size!r}")
    dataset_cfg = cfg["dataset"]
    dataset = DATASETS.build(dataset_cfg)
    if hasattr(dataset, "seed") and not (isinstance(dataset_cfg, Mapping)
                                         and dataset_cfg.get("seed") is not None):
        dataset.seed = seed
    sampler_cfg = cfg.get("sampler") or {"type": "DefaultSampler", "shuffle": split == "train"}
    sampler = _build_sampler(sampler_cfg, dataset, batch_size, seed)
    num_workers = int(cfg.get("num_workers", 0))
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = bool(cfg.get("persistent_workers", False))
        if cfg.get("prefetch_factor") is not None:
            extra["prefetch_factor"] = int(cfg["prefetch_factor"])
        if mp_start_method:
            extra["multiprocessing_context"] = mp_start_method
    loader = DataLoader(
        dataset, batch_size=batch_size,
        sampler=ResumableSampler(sampler) if split == "train" else sampler,
        num_workers=num_workers,
        collate_fn=collate_training if split == "train" else collate,
        drop_last=bool(cfg.get("drop_last", False)),
        pin_memory=bool(cfg.get("pin_memory", ctx.device.type == "cuda")),
        worker_init_fn=partial(seed_worker, seed=seed, rank=ctx.rank, num_workers=num_workers),
        # evaluation draws its loader seeds from its own generator: validating leaves the
        # training random state untouched (and a resumed run in step with an unbroken one)
        generator=None if split == "train" else torch.Generator().manual_seed(seed),
        **extra)
    return Loader(dataset, sampler, loader, batch_size)


def check_dataset_files(dataset_cfg: Any, where: str) -> None:
    """Before any annotation file is parsed: every dataset type (CombinedDataset's
    ``datasets`` too) is registered and its ``ann_file`` / ``bbox_file`` exists."""
    if not isinstance(dataset_cfg, Mapping):
        return  # an already built dataset object
    _registered(DATASETS, dataset_cfg)
    for key in ("ann_file", "bbox_file"):
        name = dataset_cfg.get(key)
        if isinstance(name, str) and name:
            root = dataset_cfg.get("data_root")
            path = os.path.join(root, name) if root and not os.path.isabs(name) else name
            if not os.path.isfile(path):
                raise ConfigError(f"{where}.{key}: file not found: {path}")
    for i, sub in enumerate(dataset_cfg.get("datasets") or []):
        check_dataset_files(sub, f"{where}.datasets[{i}]")


def check_head_size(model_cfg: Mapping[str, Any], dataset_cfg: Any) -> None:
    """An explicit ``head.out_channels`` must equal the training schema's keypoint count;
    the schema is read from the config (metainfo files or built-in names), no data needed."""
    out_channels = (model_cfg.get("head") or {}).get("out_channels")
    if not isinstance(out_channels, int) or not isinstance(dataset_cfg, Mapping):
        return
    spec = dataset_cfg.get("metainfo")
    if spec is None:
        spec = getattr(_registered(DATASETS, dataset_cfg), "METAINFO", None) or None
    if spec is None or (isinstance(spec, Mapping) and spec.get("union_of") == "datasets"):
        return  # known only once the sub-datasets are read; checked when the model is built
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metainfo warnings are shown when the data loads
        schema = load_schema(spec)
    if schema.num_keypoints != out_channels:
        raise ConfigError(
            f"model.head.out_channels={out_channels} disagrees with the training schema "
            f"'{schema.name}' ({schema.num_keypoints} keypoints); set it to "
            f"{schema.num_keypoints} or leave it out (None) to take it from the schema")


# -- evaluation -----------------------------------------------------------------------------
def build_evaluator(evaluator_cfg: Any, dataset: Any, module: nn.Module,
                    fallback_schema: Any) -> Any:
    """The lead's per-source evaluator for ``dataset``, in the model's output layout."""
    from posemix.evaluation.per_source import build_evaluator as build_per_source

    schema = getattr(module, "schema", None) or fallback_schema
    if schema is None:
        raise ConfigError("evaluation needs the model's keypoint schema: give the model a "
                          "metainfo, or use a dataset with a schema")
    indices = (getattr(module, "test_cfg", None) or {}).get("output_keypoint_indices")
    per_head = getattr(getattr(module, "head", None), "output_schemas", None)  # MultiSourceHead
    return build_per_source(evaluator_cfg, dataset, schema, indices,
                            per_head() if per_head is not None else None)


def _inputs_to(inputs: torch.Tensor, device: torch.device) -> torch.Tensor:
    inputs = inputs.to(device, non_blocking=True)
    if inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def evaluate(module: nn.Module, loader: Loader, evaluator: Any,
             ctx: dist.DistContext) -> dict[str, float]:
    """Predict every sample of ``loader`` on every rank, evaluate on rank 0 (predictions
    gathered in dataset order, sampler padding dropped) and return the metrics on all
    ranks. ``evaluator`` is only needed on rank 0."""
    module.eval()
    local: list[tuple[dict, dict]] = []
    with torch.no_grad():
        for batch in loader.loader:
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


# -- the runner -----------------------------------------------------------------------------
@dataclass
class TrainState:
    """Everything the epoch loop updates, and what a checkpoint stores of it."""

    model: nn.Module  # DistributedDataParallel-wrapped when distributed
    module: nn.Module
    optimizer: torch.optim.Optimizer
    schedulers: list[ParamScheduler]
    step: OptimizerStep
    train: Loader
    policy: CheckpointPolicy
    max_epochs: int
    val_interval: int = 1
    val_begin: int = 1
    epoch: int = 0  # epochs completed
    iteration: int = 0  # iterations completed
    inner: int = 0  # iterations completed in the unfinished epoch (a run stopped mid-epoch)
    num_keypoints: int | None = None
    schema: Any = None  # the model's keypoint schema, saved so inference can name outputs
    sync_buffers: bool = False
    skipped: int = 0  # samples of this epoch whose image could not be read (this rank)
    metrics: dict[str, float] = field(default_factory=dict)


class Runner:
    """One run of ``posemix train`` or ``posemix test`` in one process (one per GPU under
    torchrun). Builds what the config describes and owns the process group it started."""

    def __init__(self, cfg: Any, work_dir: str | os.PathLike | None = None,
                 device: str | None = None, amp: bool = False,
                 progress_bar: bool | None = None):
        import posemix  # noqa: F401 - registers every config type

        self.cfg = cfg
        import_custom_modules(cfg)
        randomness = dict(cfg.get("randomness") or {})
        unknown = sorted(set(randomness) - _RANDOMNESS_KEYS)
        if unknown:
            raise ConfigError(f"randomness has unknown key(s) {unknown}; valid: "
                              f"{', '.join(sorted(_RANDOMNESS_KEYS))}")
        env = dict(cfg.get("env_cfg") or {})
        dist_cfg = env.get("dist_cfg") or {}
        self.ctx = dist.setup(device, dist_cfg.get("backend"), dist_cfg.get("timeout"))
        self.mp_start_method = self._apply_env(env)
        self.seed = int(randomness.get("seed") if randomness.get("seed") is not None else 0)
        seed_everything(self.seed + (self.ctx.rank if randomness.get("diff_rank_seed") else 0),
                        bool(randomness.get("deterministic", False)))
        self.work_dir = resolve_work_dir(cfg, work_dir)
        self.amp_requested = amp
        self.progress_bar = progress_bar
        self.logger: RunLogger | None = None
        self.state: TrainState | None = None
        self.validation: tuple[Loader, Any] | None = None
        self.autocast_dtype: torch.dtype | None = None
        self._pending_rng: Mapping[str, Any] | None = None
        self.stop_signal: int | None = None  # SIGTERM/SIGINT received during training
        self.max_skip_fraction = 0.01  # train_cfg.max_skip_fraction

    def _apply_env(self, env: Mapping[str, Any]) -> str | None:
        """``env_cfg``: cudnn benchmark, OpenCV threads; returns the DataLoader start method."""
        if env.get("cudnn_benchmark"):
            torch.backends.cudnn.benchmark = True
        mp_cfg = env.get("mp_cfg") or {}
        if mp_cfg.get("opencv_num_threads") is not None:
            import cv2

            cv2.setNumThreads(int(mp_cfg["opencv_num_threads"]))
        return mp_cfg.get("mp_start_method")

    def close(self, synchronize: bool = False) -> None:
        """Close the logs (drawing the curves) and leave the process group; after a clean
        finish (``synchronize``) every rank leaves together, so that no rank tears down
        while another still talks to the group's store."""
        if self.logger is not None:
            self.logger.close()
            self.logger = None
        dist.teardown(self.ctx, synchronize)

    def _amp_dtype(self, requested: bool, dtype: torch.dtype | None) -> torch.dtype | None:
        if not requested:
            return None
        if self.ctx.device.type != "cuda":
            warnings.warn("mixed precision (--amp / AmpOptimWrapper) needs CUDA; training in "
                          "float32 on the CPU", stacklevel=3)
            return None
        if dtype is None:
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return dtype

    def _prepare_model(self, model: nn.Module) -> nn.Module:
        """On the device, in channels_last: faster convolutions on CUDA and on CPU alike
        (on CPU: 1.15-1.3x for HRNet-W32 in benchmarks/bench_step.py, 1.3x for the demo's
        TinyResFPN)."""
        return model.to(self.ctx.device, memory_format=torch.channels_last)

    # -- training ---------------------------------------------------------------------------
    def _loop_settings(self) -> tuple[int, int, int]:
        cfg = dict(self.cfg.get("train_cfg") or {})
        loop = cfg.pop("type", "EpochBasedTrainLoop")
        if loop != "EpochBasedTrainLoop" or not cfg.pop("by_epoch", True):
            raise ConfigError("train_cfg: only epoch-based training is supported "
                              "(by_epoch=True, max_epochs=...)")
        max_epochs = cfg.pop("max_epochs", None)
        self.max_skip_fraction = cfg.pop("max_skip_fraction", 0.01)
        if isinstance(self.max_skip_fraction, bool) \
                or not isinstance(self.max_skip_fraction, (int, float)) \
                or not 0 <= self.max_skip_fraction <= 1:
            raise ConfigError("train_cfg.max_skip_fraction must be a number in [0, 1], got "
                              f"{self.max_skip_fraction!r}")
        val_interval = cfg.pop("val_interval", 1)
        val_begin = cfg.pop("val_begin", 1)
        if cfg:
            raise ConfigError(f"train_cfg has unsupported key(s) {sorted(cfg)}; valid: "
                              "by_epoch, max_epochs, val_interval, val_begin, "
                              "max_skip_fraction")
        for name, value in (("max_epochs", max_epochs), ("val_interval", val_interval),
                            ("val_begin", val_begin)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"train_cfg.{name} must be a positive integer, got {value!r}")
        return max_epochs, val_interval, val_begin

    def _hooks(self) -> tuple[int, CheckpointPolicy, bool]:
        """Logger interval, checkpoint policy and whether to average buffers every epoch."""
        hooks = dict(self.cfg.get("default_hooks") or {})
        for name, hook in hooks.items():
            if name not in _BUILTIN_HOOKS and hook and dict(hook).get("enable", True):
                warnings.warn(f"default_hooks.{name} ({dict(hook).get('type', '?')}) is not "
                              "supported and is ignored", stacklevel=3)
        interval = int(dict(hooks.get("logger") or {}).get("interval", 50))
        policy = CheckpointPolicy.from_cfg(hooks.get("checkpoint"))
        if policy.ignored:
            warnings.warn(f"default_hooks.checkpoint options {policy.ignored} are ignored",
                          stacklevel=3)
        sync = False
        for hook in self.cfg.get("custom_hooks") or []:
            if dict(hook).get("type") == "SyncBuffersHook":
                sync = True
            else:
                warnings.warn(f"custom hook {dict(hook).get('type', hook)} is not supported "
                              "and is ignored", stacklevel=3)
        return interval, policy, sync

    def _check_before_data(self) -> None:
        """The config errors that need no data, found before any annotation is read: the
        model type, the optimizer settings, the dataset types and their files."""
        cfg = self.cfg
        if not cfg.get("model"):
            raise ConfigError("the config has no model")
        _registered(MODELS, cfg["model"])
        if "optim_wrapper" not in cfg:
            raise ConfigError("the config has no optim_wrapper")
        optimizer_cfg, _ = parse_optim_wrapper(cfg["optim_wrapper"])
        _registered(OPTIMIZERS, optimizer_cfg)
        for key in ("model", "train_dataloader", "val_dataloader", "val_evaluator",
                    "param_scheduler"):
            check_config_tree(cfg.get(key), key)
        check_head_size(cfg["model"], (cfg.get("train_dataloader") or {}).get("dataset"))
        splits = ["train"] + (["val"] if cfg.get("val_cfg", {}) is not None else [])
        for split in splits:
            loader_cfg = cfg.get(f"{split}_dataloader")
            if isinstance(loader_cfg, Mapping) and "dataset" in loader_cfg:
                check_dataset_files(loader_cfg["dataset"], f"{split}_dataloader.dataset")

    def _validation(self, module: nn.Module, train_schema: Any) -> tuple[Loader, Any] | None:
        cfg = self.cfg
        loader_cfg, evaluator_cfg = cfg.get("val_dataloader"), cfg.get("val_evaluator")
        if not loader_cfg or cfg.get("val_cfg", {}) is None:
            return None
        if not evaluator_cfg:
            raise ConfigError("val_dataloader is set but val_evaluator is not; set both, or "
                              "val_dataloader=None to train without validation")
        val = build_loader(loader_cfg, "val", self.seed, self.ctx, self.mp_start_method)
        evaluator = (build_evaluator(evaluator_cfg, val.dataset, module, train_schema)
                     if self.ctx.is_main else None)
        return val, evaluator

    def _init_weights(self, module: nn.Module) -> None:
        """Pretrained weights from the config (``init_cfg``, then ``load_from``)."""
        from posemix.models import load_pretrained

        for report in (module.init_weights() or []) if hasattr(module, "init_weights") else []:
            self._info(f"initialised from {report.checkpoint}"
                       + ("" if report.clean else " (with differences, see warnings)"))
        if self.cfg.get("load_from"):
            load_pretrained(module, self.cfg["load_from"])
            self._info(f"loaded weights from {self.cfg['load_from']}")

    def _info(self, text: str) -> None:
        if self.logger is not None:
            self.logger.info(text)
        elif self.ctx.is_main:
            print(text, flush=True)

    def _resume_source(self, resume: str | bool | None
                       ) -> tuple[Path, dict[str, Any]] | None:
        if not resume:
            return None
        if resume is True:
            found = find_resume_checkpoint(self.work_dir)
            if found is None:
                warnings.warn(f"--resume: no checkpoint in {self.work_dir}; training from "
                              "scratch", stacklevel=3)
            return found
        path = Path(resume)
        ckpt = load_checkpoint(path)
        check_resumable(ckpt, path)
        return path, ckpt

    def build_training(self, resume: str | bool | None = None) -> TrainState:
        """Build data, model, optimizer, schedulers and checkpoint policy; resume if asked.

        Every config error surfaces here, before the first iteration.
        """
        cfg = self.cfg
        if not cfg.get("train_dataloader"):
            raise ConfigError("the config has no train_dataloader")
        max_epochs, val_interval, val_begin = self._loop_settings()
        interval, policy, sync = self._hooks()
        self._check_before_data()
        train = build_loader(cfg["train_dataloader"], "train", self.seed, self.ctx,
                             self.mp_start_method)
        if len(train.loader) == 0:
            raise ConfigError(f"the training set ({len(train.dataset)} samples) gives no batch "
                              f"of {train.batch_size} (drop_last?)")
        schema = getattr(train.dataset, "schema", None)
        module = build_model(cfg["model"], schema.num_keypoints if schema is not None else None)
        source = self._resume_source(resume)
        if source is None and self.ctx.is_main:  # DDP copies rank 0's weights to the others
            self._init_weights(module)
        if "optim_wrapper" not in cfg:
            raise ConfigError("the config has no optim_wrapper")
        optimizer_cfg, settings = parse_optim_wrapper(cfg["optim_wrapper"])
        amp_dtype = self._amp_dtype(self.amp_requested or settings.amp, settings.amp_dtype)
        self.autocast_dtype = amp_dtype
        module = dist.convert_sync_batchnorm(module, self.ctx, bool(cfg.get("sync_bn")))
        self._prepare_model(module)
        optimizer = build_optimizer(module, optimizer_cfg, settings.paramwise)
        factor = scale_lr(optimizer, cfg.get("auto_scale_lr"),
                          self.ctx.world_size * train.batch_size)
        schedulers = build_schedulers(cfg.get("param_scheduler"), optimizer, len(train.loader),
                                      max_epochs)
        scaler = None
        if amp_dtype == torch.float16:
            init = settings.loss_scale if settings.loss_scale != "dynamic" else 2.0**16
            scaler = torch.amp.GradScaler("cuda", init_scale=float(init))
        wrapper = dict(cfg.get("model_wrapper_cfg") or {})
        model = dist.wrap_model(
            module, self.ctx,
            find_unused_parameters=bool(wrapper.get("find_unused_parameters",
                                                    cfg.get("find_unused_parameters", False))),
            broadcast_buffers=bool(wrapper.get("broadcast_buffers", False)))
        state = TrainState(model, module, optimizer, schedulers,
                           OptimizerStep(optimizer, settings.clip_grad, scaler,
                                         settings.loss_scale),
                           train, policy, max_epochs, val_interval, val_begin,
                           num_keypoints=getattr(module, "num_keypoints", None),
                           schema=getattr(module, "schema", None) or schema,
                           sync_buffers=sync)
        self.validation = self._validation(module, schema)
        if source is not None:
            self._restore(state, *source)
        self.logger = RunLogger(self.work_dir, self.ctx.is_main, interval, max_epochs,
                                len(train.loader), state.iteration, self.progress_bar)
        lr = optimizer.param_groups[0]["lr"]
        self._info(f"training {len(train.dataset)} samples for {max_epochs} epochs of "
                   f"{len(train.loader)} iterations on {self.ctx.device} (world size "
                   f"{self.ctx.world_size}); work dir {self.work_dir}"
                   + (f"; lr scaled by {factor:g}" if factor is not None else ""))
        if source is not None:
            self._info(f"resumed from {source[0]} after epoch {state.epoch} "
                       f"(iteration {state.iteration}, lr {lr:.6g})")
        self.state = state
        return state

    def _restore(self, state: TrainState, path: Path, ckpt: Mapping[str, Any]) -> None:
        """Continue exactly where ``ckpt`` stopped: weights, optimizer, schedulers, sampler,
        loss scaler, best score, counters and random generators."""
        try:
            state.module.load_state_dict(ckpt["state_dict"])
            state.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: does not fit the model/optimizer of this config: "
                                  f"{exc}") from exc
        saved = ckpt["param_schedulers"]
        types = [s.get("type") for s in saved]
        if types != [type(s).__name__ for s in state.schedulers]:
            raise CheckpointError(f"{path}: its param schedulers {types} differ from the "
                                  f"config's {[type(s).__name__ for s in state.schedulers]}")
        for scheduler, saved_state in zip(state.schedulers, saved, strict=True):
            scheduler.load_state_dict(saved_state)
        if ckpt.get("sampler") and hasattr(state.train.sampler, "load_state_dict"):
            state.train.sampler.load_state_dict(ckpt["sampler"])
        state.step.load_state_dict(ckpt.get("amp") or {})
        state.policy.load_state_dict(ckpt.get("best") or {})
        state.epoch, state.iteration = int(ckpt["epoch"]), int(ckpt["iteration"])
        state.inner = int(ckpt.get("inner", 0))
        self._pending_rng = ckpt.get("rng")

    def _payload(self, state: TrainState, rng: Mapping[str, Any] | None,
                 full: bool = True) -> dict[str, Any]:
        """What a checkpoint holds; ``full=False`` (best-model files) leaves out the
        optimizer, schedulers, sampler and generators, as mmengine does."""
        from posemix import __version__

        payload: dict[str, Any] = {
            "state_dict": state.module.state_dict(),
            "epoch": state.epoch,
            "iteration": state.iteration,
            "inner": state.inner,
            "best": state.policy.state_dict(),
            "num_keypoints": state.num_keypoints,
            "metainfo": None if state.schema is None else schema_to_metainfo(state.schema),
            "config": config_text(self.cfg),
            "posemix_version": __version__,
        }
        if full:
            sampler = state.train.sampler
            payload.update(
                optimizer=state.optimizer.state_dict(),
                param_schedulers=[s.state_dict() for s in state.schedulers],
                sampler=sampler.state_dict() if hasattr(sampler, "state_dict") else None,
                amp=state.step.state_dict(),
                rng=rng,
            )
        return payload

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.ctx.device.type, dtype=self.autocast_dtype)

    def train_epoch(self, state: TrainState) -> bool:
        """One pass over the training data (the rest of it, after a mid-epoch stop);
        iteration schedulers step after every update. Returns False when a stop signal
        ended the epoch early, after the step in progress."""
        assert self.logger is not None
        epoch, start = state.epoch, state.inner
        state.train.sampler.set_epoch(epoch)
        if hasattr(state.train.dataset, "set_epoch"):
            state.train.dataset.set_epoch(epoch)
        state.model.train()
        state.train.loader.sampler.skip = start * state.train.batch_size
        # an epoch-end checkpoint's generators are as before the loader draws its seed; a
        # mid-epoch one's as after the step it stopped at, when the loader had drawn it
        self._restore_rng(start == 0)
        batches = iter(state.train.loader)
        self._restore_rng(True)
        state.skipped = 0
        tick = time.perf_counter()
        for inner, batch in enumerate(batches, start):
            data_time = time.perf_counter() - tick
            if batch["skipped"]:
                self._skip_unreadable(state, batch["skipped"])
            if batch["inputs"] is None:  # every image of the batch was unreadable
                state.inner = inner + 1
                continue
            lr = state.optimizer.param_groups[0]["lr"]
            inputs = _inputs_to(batch["inputs"], self.ctx.device)
            targets = _to_device(batch["targets"], self.ctx.device)
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
            step_schedulers(state.schedulers, by_epoch=False)
            self.logger.train_iter(epoch, inner, state.iteration, lr, values,
                                   time.perf_counter() - tick, data_time)
            state.inner = inner + 1
            if self.stop_signal is not None and state.inner < len(state.train.loader):
                return False
            tick = time.perf_counter()
        step_schedulers(state.schedulers, by_epoch=True)
        if state.sync_buffers:
            dist.sync_buffers(state.model)
        state.epoch, state.inner = state.epoch + 1, 0
        return True

    def _skip_unreadable(self, state: TrainState, skipped: list[tuple[str, str]]) -> None:
        """Count and list (``skipped_images.txt`` in the work dir, one per rank) samples whose
        image could not be read; stop once more than ``train_cfg.max_skip_fraction`` of an
        epoch's samples failed."""
        state.skipped += len(skipped)
        name = SKIPPED_LIST if self.ctx.rank == 0 else f"skipped_images.rank{self.ctx.rank}.txt"
        listing = self.work_dir / name
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(listing, "a", encoding="utf-8") as f:
            f.writelines(f"{path}\t{error}\n" for path, error in skipped)
        total = len(state.train.sampler)
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in epoch {state.epoch + 1} "
                      f"({state.skipped} of {total} samples so far), listed in {listing}: "
                      f"{skipped[0][1]}", stacklevel=2)
        if state.skipped > self.max_skip_fraction * total:
            raise PosemixError(
                f"{state.skipped} of the {total} samples of epoch {state.epoch + 1} had "
                f"unreadable images, more than train_cfg.max_skip_fraction="
                f"{self.max_skip_fraction:g}; the files are listed in {listing}")

    def _restore_rng(self, now: bool) -> None:
        if now and self._pending_rng:
            set_rng_state(self._pending_rng)
            self._pending_rng = None

    def _save_interrupted(self, state: TrainState) -> None:
        """The checkpoint of a run stopped mid-epoch: ``iter_{n}.pth``, which
        ``last_checkpoint`` points to, so ``--resume`` continues with the next batch."""
        if self.ctx.is_main:
            path = CheckpointWriter(self.work_dir, state.policy).save_interrupted(
                state.iteration, self._payload(state, rng_state()))
            self._info(f"stopped by signal {self.stop_signal} after iteration "
                       f"{state.iteration} (epoch {state.epoch + 1}); saved {path}; continue "
                       "with --resume")

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Any:
        """SIGTERM (cluster pre-emption) and SIGINT (Ctrl-C) end training after the step in
        progress, with a checkpoint. Single-process runs only: ranks stopping at different
        steps would leave the others waiting in a collective."""
        if self.ctx.distributed or threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: Any) -> None:
            self.stop_signal = signum

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _after_epoch(self, state: TrainState) -> None:
        """Validate when due (then the best-model file), then the epoch checkpoint when due.

        The epoch checkpoint comes last, so it records the validation's best: a run killed
        before it is written resumes from the previous one and redoes the epoch and its
        validation exactly (written first, a kill during validation skipped it on resume).
        """
        assert self.logger is not None
        done, main = state.epoch, self.ctx.is_main
        writer = CheckpointWriter(self.work_dir, state.policy)
        saved = state.policy.due(done, state.max_epochs)
        rng = rng_state() if saved else None  # as at the end of the epoch, before validation
        val_due = done >= state.val_begin and (done % state.val_interval == 0
                                               or done == state.max_epochs)
        if self.validation is not None and val_due:
            val, evaluator = self.validation
            state.metrics = evaluate(state.module, val, evaluator, self.ctx)
            self.logger.evaluation("val", done, state.iteration, state.metrics)
            metric = state.policy.best_improved(state.metrics)
            if metric is not None and main:
                path = writer.save_best(done, metric, self._payload(state, None, full=False))
                self._info(f"new best {metric} = {state.policy.best_score:.4f}: {path.name}")
        if saved and main:
            writer.save_epoch(done, self._payload(state, rng))

    def train(self, resume: str | bool | None = None) -> dict[str, float]:
        """Train until ``max_epochs``; returns the last validation metrics."""
        state = self.state or self.build_training(resume)
        if state.epoch >= state.max_epochs:
            self._info(f"nothing to do: training already reached epoch {state.epoch} of "
                       f"{state.max_epochs}")
            return state.metrics
        if self.ctx.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._dump_config()
        with self._stop_on_signals():
            while state.epoch < state.max_epochs:
                if not self.train_epoch(state):
                    self._save_interrupted(state)
                    return state.metrics
                self._after_epoch(state)
                if self.stop_signal is not None and state.epoch < state.max_epochs:
                    self._info(f"stopped by signal {self.stop_signal} after epoch "
                               f"{state.epoch}; continue with --resume")
                    if not state.policy.due(state.epoch, state.max_epochs):
                        self._save_interrupted(state)
                    return state.metrics
        dist.barrier(self.ctx)
        return state.metrics

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
        from posemix.models import load_pretrained
        from posemix.models.init_weights import resolve_checkpoint

        cfg = self.cfg
        loader_cfg = cfg.get("test_dataloader") or cfg.get("val_dataloader")
        evaluator_cfg = cfg.get("test_evaluator") or cfg.get("val_evaluator")
        if not loader_cfg or not evaluator_cfg:
            raise ConfigError("testing needs test_dataloader and test_evaluator (or the val_ "
                              "ones) in the config")
        path = resolve_checkpoint(checkpoint)
        try:  # a posemix checkpoint knows how many keypoints its model predicts
            saved = load_checkpoint(path)
        except CheckpointError:
            saved = {}
        module = build_model(cfg["model"], saved.get("num_keypoints"))
        report = load_pretrained(module, path)
        if report.missing_keys or report.mismatched_keys:
            raise CheckpointError(
                f"{path}: does not fit the model: {len(report.missing_keys)} missing keys "
                f"{report.missing_keys[:5]}, shape mismatches {report.mismatched_keys[:5]}")
        self._prepare_model(module)
        loader = build_loader(loader_cfg, "test", self.seed, self.ctx, self.mp_start_method)
        evaluator = (build_evaluator(evaluator_cfg, loader.dataset, module,
                                     getattr(loader.dataset, "schema", None))
                     if self.ctx.is_main else None)
        self.logger = RunLogger(self.work_dir if write_logs else None, self.ctx.is_main,
                                progress_bar=False)
        metrics = evaluate(module, loader, evaluator, self.ctx)
        self.logger.evaluation("test", int(saved.get("epoch", 0)),
                               int(saved.get("iteration", 0)), metrics)
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

