"""Models from configs and checkpoints: ``build_model``, and the one path from a checkpoint
to a model with its weights (``posemix test``, ``infer``, the demo, export)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import nn

from posemix.errors import CheckpointError
from posemix.models.init_weights import load_pretrained, resolve_checkpoint, state_tensors
from posemix.registry import MODELS, accepts, registered_type


def build_model(model_cfg: Mapping[str, Any], num_keypoints: int | None) -> nn.Module:
    """``MODELS.build(model_cfg)``; a model that takes ``num_keypoints`` gets the training
    data's count, which fills ``out_channels=None`` and is checked against an explicit one."""
    cfg = dict(model_cfg)
    if num_keypoints is not None and cfg.get("num_keypoints") is None \
            and accepts(registered_type(MODELS, cfg), "num_keypoints"):
        cfg["num_keypoints"] = num_keypoints
    return MODELS.build(cfg)


def model_from_checkpoint(model_cfg: Mapping[str, Any], checkpoint: str | os.PathLike,
                          saved: Mapping[str, Any] | None = None) -> nn.Module:
    """The model of ``model_cfg`` with the weights of ``checkpoint`` (a posemix or MMPose
    checkpoint, a path or URL). ``saved``, the checkpoint already read (a posemix one,
    which knows how many keypoints its model predicts), spares reading the file again.
    Raises CheckpointError when keys are missing or shapes differ."""
    saved = saved or {}
    module = build_model(model_cfg, saved.get("num_keypoints"))
    path = resolve_checkpoint(checkpoint)
    tensors = state_tensors(saved, path) if saved else None
    report = load_pretrained(module, path, state=tensors)
    if report.missing_keys or report.mismatched_keys:
        raise CheckpointError(
            f"{path}: does not fit the model: {len(report.missing_keys)} missing keys "
            f"{report.missing_keys[:5]}, shape mismatches {report.mismatched_keys[:5]}")
    return module
