"""TopdownPoseEstimator: data preprocessor → backbone → head, with flip test, image-space
conversion and ``output_keypoint_indices`` at predict time.

Any head plugs in through one interface (HeatmapHead, RTMCCHead): ``out_channels`` and
``set_out_channels``, ``TARGET_KEYS`` (what ``loss`` reads from the batch targets) and
``TARGET_CODEC`` (for the error when they are missing), ``forward(feats)`` → outputs (a
tensor or a tuple of tensors), ``loss(feats, targets, train_cfg)``, ``flip_back(outputs,
flip_indices, test_cfg)``, ``decode(outputs)`` → input-space keypoints and scores, and
``output_heatmaps(outputs)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.errors import ConfigError, PosemixError
from posemix.models.data_preprocessor import PoseDataPreprocessor
from posemix.models.init_weights import (
    InitCfg,
    LoadReport,
    apply_layer_inits,
    load_pretrained,
    split_init_cfg,
)
from posemix.registry import MODELS

_TEST_CFG_KEYS = {"flip_test", "flip_mode", "shift_heatmap", "output_keypoint_indices",
                  "output_heatmaps"}
_TRAIN_CFG_KEYS = {"compute_acc"}
_META_KEYS = ("input_size", "input_center", "input_scale")


def _check_keys(cfg: Mapping[str, Any] | None, valid: set[str], what: str) -> dict[str, Any]:
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise ConfigError(f"TopdownPoseEstimator {what} has unknown key(s) {unknown}; valid: "
                          f"{', '.join(sorted(valid))}")
    return cfg


def to_image_space(keypoints: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """Input-crop keypoints (..., 2) → image space:
    ``kp / input_size * input_scale + input_center - 0.5 * input_scale`` (float64 maths,
    rotation ignored as there is none at test time)."""
    size, center, scale = (np.asarray(meta[k], dtype=np.float64) for k in _META_KEYS)
    out = keypoints.astype(np.float64) / size * scale + center - 0.5 * scale
    return out.astype(keypoints.dtype)


@MODELS.register()
class TopdownPoseEstimator(nn.Module):
    """A top-down pose model (heatmap or SimCC head) with MMPose's configuration vocabulary.

    The number of keypoints comes from the keypoint schema: ``metainfo`` (anything
    ``posemix.keypoints.load_schema`` accepts) or ``num_keypoints`` (what the engine passes
    from the training data) fills a head built with ``out_channels=None`` and is checked
    against an explicit ``out_channels``. The schema's flip partners drive the flip test;
    without one they come from ``metas[0]['flip_indices']``.
    """

    def __init__(self, backbone: Mapping[str, Any] | nn.Module,
                 head: Mapping[str, Any] | nn.Module,
                 data_preprocessor: Mapping[str, Any] | nn.Module | None = None,
                 test_cfg: Mapping[str, Any] | None = None,
                 train_cfg: Mapping[str, Any] | None = None,
                 metainfo: Any = None, init_cfg: InitCfg = None,
                 num_keypoints: int | None = None):
        super().__init__()
        self.data_preprocessor = (MODELS.build(data_preprocessor)
                                  if data_preprocessor is not None else PoseDataPreprocessor())
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.test_cfg = _check_keys(test_cfg, _TEST_CFG_KEYS, "test_cfg")
        self.train_cfg = _check_keys(train_cfg, _TRAIN_CFG_KEYS, "train_cfg")
        self.schema = self._load_schema(metainfo) if metainfo is not None else None
        self._set_num_keypoints(num_keypoints)
        indices = self.test_cfg.get("output_keypoint_indices")
        k = self.head.out_channels
        if indices is not None and not all(0 <= int(i) < k for i in indices):
            raise ConfigError(f"test_cfg output_keypoint_indices {list(indices)} must lie in "
                              f"0..{k - 1} (the model predicts {k} keypoints)")
        layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, None)
        apply_layer_inits(self, layer_inits)

    @staticmethod
    def _load_schema(metainfo: Any) -> Any:
        from posemix.keypoints import load_schema  # lazy: keypoints is a sibling package

        return load_schema(metainfo)

    def _set_num_keypoints(self, num_keypoints: int | None) -> None:
        schema_k = self.schema.num_keypoints if self.schema is not None else None
        if schema_k is not None and num_keypoints is not None and schema_k != num_keypoints:
            raise ConfigError(f"the model's metainfo '{self.schema.name}' has {schema_k} "
                              f"keypoints but num_keypoints={num_keypoints} was given")
        if schema_k is not None:
            self.head.set_out_channels(
                schema_k, f"the model's metainfo '{self.schema.name}' ({schema_k} keypoints)")
        elif num_keypoints is not None:
            self.head.set_out_channels(num_keypoints,
                                       f"the training data ({num_keypoints} keypoints)")
        elif self.head.out_channels is None:
            raise ConfigError("head out_channels is not set and the model has no metainfo or "
                              "num_keypoints to take it from")

    @property
    def num_keypoints(self) -> int:
        return self.head.out_channels

    def init_weights(self) -> list[LoadReport]:
        """Load every ``Pretrained`` init_cfg (backbone's, head's, then the whole model's, so
        a full checkpoint wins); returns one report per checkpoint."""
        reports = []
        for module in (self.backbone, self.head, self):
            cfg = getattr(module, "pretrained_cfg", None)
            if cfg is not None:
                reports.append(load_pretrained(module, cfg["checkpoint"], cfg.get("prefix")))
        return reports

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Backbone features of an already preprocessed (float) batch."""
        return self.backbone(inputs)

    def forward(self, inputs: torch.Tensor, targets: Mapping[str, torch.Tensor] | None = None,
                metas: Sequence[Mapping[str, Any]] | None = None, mode: str = "tensor") -> Any:
        """One entry point for DistributedDataParallel: ``mode='loss'`` → ``loss(inputs,
        targets)``, ``'predict'`` → ``predict(inputs, metas)``, ``'tensor'`` → the head's
        raw outputs."""
        if mode == "loss":
            if targets is None:
                raise PosemixError("forward(mode='loss') needs targets")
            return self.loss(inputs, targets)
        if mode == "predict":
            if metas is None:
                raise PosemixError("forward(mode='predict') needs metas")
            return self.predict(inputs, metas)
        if mode == "tensor":
            return self.head(self.extract_feat(self.data_preprocessor(inputs)))
        raise PosemixError(f"unknown forward mode '{mode}'; use 'loss', 'predict' or 'tensor'")

    def loss(self, inputs: torch.Tensor, targets: Mapping[str, torch.Tensor]
             ) -> dict[str, torch.Tensor]:
        """``inputs`` uint8 (B, 3, H, W); ``targets`` the head's ``TARGET_KEYS`` (heatmaps
        or SimCC labels, and ``keypoint_weights`` (B, K)). Returns ``loss_kpt`` (and
        ``acc_pose``)."""
        keys = self.head.TARGET_KEYS
        missing = [k for k in keys if k not in targets]
        if missing:
            raise PosemixError(f"training targets lack {', '.join(missing)}; a "
                               f"{type(self.head).__name__} model needs GenerateTarget with "
                               f"{self.head.TARGET_CODEC} in the pipeline")
        x = self.data_preprocessor(inputs)
        moved = {k: targets[k].to(x.device, non_blocking=True) for k in keys}
        return self.head.loss(self.extract_feat(x), moved, self.train_cfg)

    def _flip_indices(self, metas: Sequence[Mapping[str, Any]]) -> list[int]:
        if self.schema is not None:
            return list(self.schema.flip_indices)
        if "flip_indices" not in metas[0]:
            raise ConfigError("flip test needs flip_indices: give the model a metainfo, or "
                              "put 'flip_indices' in the sample metas")
        return [int(i) for i in metas[0]["flip_indices"]]

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, metas: Sequence[Mapping[str, Any]]
                ) -> list[dict[str, np.ndarray]]:
        """Per sample ``keypoints`` (1, K', 2) in image space and ``keypoint_scores`` (1, K')
        (plus ``heatmaps`` (K', h, w) with ``test_cfg.output_heatmaps``), after flip test and
        ``output_keypoint_indices``; each meta needs input_size, input_center, input_scale.
        Call ``eval()`` first, as for any model with batch norm."""
        if len(metas) != inputs.shape[0]:
            raise PosemixError(f"predict got {inputs.shape[0]} images but {len(metas)} metas")
        for i, meta in enumerate(metas):
            missing = [k for k in _META_KEYS if k not in meta]
            if missing:
                raise PosemixError(f"predict: meta of sample {i} lacks {', '.join(missing)}")
        x = self.data_preprocessor(inputs)
        outputs = self.head(self.extract_feat(x))
        cfg = self.test_cfg
        if cfg.get("flip_test", False):
            flipped = self.head.flip_back(self.head(self.extract_feat(x.flip(-1))),
                                          self._flip_indices(metas), cfg)
            outputs = _average(outputs, flipped)
        keypoints, scores = self.head.decode(outputs)
        select = cfg.get("output_keypoint_indices")
        select = slice(None) if select is None else [int(i) for i in select]
        heatmaps = (self.head.output_heatmaps(outputs).cpu().numpy()
                    if cfg.get("output_heatmaps", False) else None)
        results = []
        for i, meta in enumerate(metas):
            result = {"keypoints": to_image_space(keypoints[i:i + 1], meta)[:, select],
                      "keypoint_scores": scores[i:i + 1, select]}
            if heatmaps is not None:
                result["heatmaps"] = heatmaps[i, select]
            results.append(result)
        return results


def _average(outputs: Any, flipped: Any) -> Any:
    """``(outputs + flipped) * 0.5`` for a head's output tensor or tuple of tensors."""
    if isinstance(outputs, torch.Tensor):
        return (outputs + flipped) * 0.5
    return type(outputs)((a + b) * 0.5 for a, b in zip(outputs, flipped, strict=True))
