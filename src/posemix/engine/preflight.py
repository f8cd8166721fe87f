"""The config errors that need no data, found before any annotation file is read: the
model and optimizer types, every ``dict(type=...)``'s arguments, the dataset types and
their files, and the head's size against the training schema."""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from typing import Any

from posemix.engine.optim import parse_optim_wrapper
from posemix.engine.schedulers import constructor_arguments
from posemix.errors import ConfigError
from posemix.keypoints import load_schema
from posemix.registry import DATASETS, MODELS, OPTIMIZERS, check_config_tree, registered_type

# the top-level keys a run reads (MMPose's runtime vocabulary); others are the config's
# own variables (codec, train_pipeline, ...), unless one is a near miss of these
RUN_KEYS = ("model", "optim_wrapper", "param_scheduler", "auto_scale_lr", "train_cfg",
            "val_cfg", "test_cfg", "train_dataloader", "val_dataloader", "test_dataloader",
            "val_evaluator", "test_evaluator", "default_hooks", "custom_hooks", "randomness",
            "env_cfg", "custom_imports", "load_from", "resume", "work_dir")


def warn_near_misses(cfg: Mapping[str, Any]) -> None:
    """A top-level key one typo away from a key the run reads (``optim_wraper``) is
    almost surely meant as that key, which then silently keeps its default."""
    for key in cfg:
        if key not in RUN_KEYS:
            close = difflib.get_close_matches(key, RUN_KEYS, n=1, cutoff=0.85)
            if close:
                warnings.warn(f"config key '{key}' is not read by the run; did you mean "
                              f"'{close[0]}'?", stacklevel=2)


def check_before_data(cfg: Mapping[str, Any]) -> None:
    """The config errors that need no data, found before any annotation is read: the
    model type, the optimizer settings, the dataset types and their files (and a
    warning for a top-level key that looks like a misspelt run key)."""
    warn_near_misses(cfg)
    if not cfg.get("model"):
        raise ConfigError("the config has no model")
    registered_type(MODELS, cfg["model"])
    if "optim_wrapper" not in cfg:
        raise ConfigError("the config has no optim_wrapper")
    optimizer_cfg, _ = parse_optim_wrapper(cfg["optim_wrapper"])
    registered_type(OPTIMIZERS, optimizer_cfg)
    for key in ("model", "train_dataloader", "val_dataloader", "val_evaluator"):
        check_config_tree(cfg.get(key), key)
    check_config_tree(constructor_arguments(cfg.get("param_scheduler")), "param_scheduler")
    check_head_size(cfg["model"], (cfg.get("train_dataloader") or {}).get("dataset"))
    splits = ["train"] + (["val"] if cfg.get("val_cfg", {}) is not None else [])
    for split in splits:
        loader_cfg = cfg.get(f"{split}_dataloader")
        if isinstance(loader_cfg, Mapping) and "dataset" in loader_cfg:
            check_dataset_files(loader_cfg["dataset"], f"{split}_dataloader.dataset")


def check_dataset_files(dataset_cfg: Any, where: str) -> None:
    """Before any annotation file is parsed: every dataset type (CombinedDataset's
    ``datasets`` too) is registered and its ``ann_file`` / ``bbox_file`` exists."""
    if not isinstance(dataset_cfg, Mapping):
        return  # an already built dataset object
    registered_type(DATASETS, dataset_cfg)
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
        spec = getattr(registered_type(DATASETS, dataset_cfg), "METAINFO", None) or None
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
