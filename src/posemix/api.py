"""What the commands, ``browse``, ``demo`` and ``deploy`` share: a config from a file, the
dataset of a split, a trained model from a checkpoint and its test-time pipeline. One
place, so that no library module has to reach up into the command line for them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from posemix.errors import CheckpointError, ConfigError, PosemixError


def load_config(path: str, options: Sequence[str] | None = None) -> Any:
    """A config file with ``--cfg-options`` applied."""
    from posemix.config import Config, parse_cfg_options

    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(parse_cfg_options(options))
    return cfg


def build_dataset(cfg: Any, split: str) -> Any:
    """The dataset of ``{split}_dataloader`` (val/test fall back to each other)."""
    import posemix  # noqa: F401 - registers every type
    from posemix.registry import DATASETS, import_custom_modules

    import_custom_modules(cfg)
    order = [split] + [s for s in ("val", "test") if s != split and split != "train"]
    for name in order:
        loader = cfg.get(f"{name}_dataloader")
        if loader:
            return DATASETS.build(loader["dataset"])
    raise PosemixError(f"the config has no {split}_dataloader")


def inference_pipeline(cfg: Any) -> list[dict]:
    """The config's test-time pipeline: image + box -> packed input crop."""
    return cfg.get("val_pipeline") or cfg["test_dataloader"]["dataset"]["pipeline"]


def output_folder(path: str | os.PathLike, what: str) -> Path:
    """``path`` as the folder a command writes into (created later if missing), refused up
    front when it or a folder above it is a file: otherwise that shows only when the first
    output is written, after the work."""
    folder = Path(path)
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                where = "it" if part == folder else str(part)
                raise PosemixError(f"{what} {folder}: {where} is an existing file, not a "
                                   f"folder")
            break
    return folder


def load_model(checkpoint: str | os.PathLike, config: str | None = None,
               device: str | None = "cpu") -> tuple[torch.nn.Module, Any, Any]:
    """(model in eval mode, config, (schema of the model, schema of its outputs)) from a
    posemix checkpoint; the config is the one stored in it unless ``config`` names a file.
    The stored config is read as data (posemix.literal), never executed. ``device`` is
    checked as ``posemix train --device`` is (None: CUDA where available), before loading.
    """
    import posemix  # noqa: F401 - registers every type
    from posemix.config import Config
    from posemix.engine.checkpoint import load_checkpoint
    from posemix.engine.dist import pick_device
    from posemix.evaluation.per_source import output_schema
    from posemix.keypoints import schema_from_metainfo
    from posemix.literal import literal_assignments
    from posemix.models.builder import model_from_checkpoint

    target = pick_device(device, 0)
    saved = load_checkpoint(checkpoint)
    if config is not None:
        cfg = Config.fromfile(config)
    elif isinstance(saved.get("config"), str):
        cfg = Config(literal_assignments(saved["config"], f"{checkpoint} (stored config)",
                                         ConfigError))
    else:
        raise CheckpointError(f"{checkpoint}: holds no config; pass --config")
    model = model_from_checkpoint(cfg["model"], checkpoint, saved)
    model.to(target).eval()
    schema = getattr(model, "schema", None)
    if schema is None and saved.get("metainfo"):
        schema = schema_from_metainfo(saved["metainfo"], source=f"{checkpoint} (metainfo)")
    if schema is None:
        raise CheckpointError(f"{checkpoint}: holds no keypoint schema and the model has no "
                              f"metainfo; pass a --config whose model sets metainfo")
    indices = (getattr(model, "test_cfg", None) or {}).get("output_keypoint_indices")
    per_head = getattr(getattr(model, "head", None), "output_schemas", None)  # MultiSourceHead
    if per_head is not None:  # test_cfg.output_head's layout
        return model, cfg, (schema, per_head()[model.head.output_head])
    return model, cfg, (schema, output_schema(schema, indices))
