"""TopdownPoseEstimator: data preprocessor → backbone → head, with flip test, image-space
conversion and ``output_keypoint_indices`` at predict time.

Any head plugs in through one interface (HeatmapHead, RTMCCHead, MultiSourceHead; see
heads/common.py); decoding runs in models/postprocess.py, which the ONNX backend shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.config.validation import reject_unknown_keys
from posemix.errors import ConfigError, PosemixError
from posemix.models.data_preprocessor import PoseDataPreprocessor
from posemix.models.init_weights import (
    InitCfg,
    LoadReport,
    apply_layer_inits,
    load_pretrained,
    split_init_cfg,
)
from posemix.models.postprocess import check_metas, predictions, to_image_space
from posemix.registry import MODELS

_TEST_CFG_KEYS = {"flip_test", "flip_mode", "shift_heatmap", "output_keypoint_indices",
                  "output_heatmaps", "output_head"}
_TRAIN_CFG_KEYS = {"compute_acc"}


_TEST_CFG_SWITCHES = ("flip_test", "shift_heatmap", "output_heatmaps")


def _check_keys(cfg: Mapping[str, Any] | None, valid: set[str], what: str) -> dict[str, Any]:
    cfg = dict(cfg or {})
    reject_unknown_keys(cfg, valid, f"TopdownPoseEstimator {what}")
    for key in _TEST_CFG_SWITCHES:
        if key in cfg and not isinstance(cfg[key], bool):
            raise ConfigError(f"TopdownPoseEstimator {what}.{key} must be True or False, "
                              f"got {cfg[key]!r}")
    return cfg


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
        self._bind_sources()
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

    def _bind_sources(self) -> None:
        """A MultiSourceHead (one head per source) learns where each source's keypoints lie
        in the model's schema; ``test_cfg.output_head`` names one of its heads."""
        output_head = self.test_cfg.get("output_head")
        if not hasattr(self.head, "bind_union"):
            if output_head is not None:
                raise ConfigError(f"test_cfg output_head='{output_head}' needs a "
                                  f"MultiSourceHead; this model has a {type(self.head).__name__}")
            return
        if self.schema is None:
            raise ConfigError("a MultiSourceHead needs the model's schema (the union of the "
                              "sources): set model.metainfo, e.g. to the CombinedDataset's")
        if self.test_cfg.get("output_keypoint_indices") is not None:
            raise ConfigError("test_cfg output_keypoint_indices does not apply to a "
                              "MultiSourceHead: choose its output with test_cfg.output_head")
        self.head.bind_union(self.schema)
        self.head.check_output_head(output_head)

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
            return self.loss(inputs, targets, metas)
        if mode == "predict":
            if metas is None:
                raise PosemixError("forward(mode='predict') needs metas")
            return self.predict(inputs, metas)
        if mode == "tensor":
            return self.head(self.extract_feat(self.data_preprocessor(inputs)))
        raise PosemixError(f"unknown forward mode '{mode}'; use 'loss', 'predict' or 'tensor'")

    def loss(self, inputs: torch.Tensor, targets: Mapping[str, torch.Tensor],
             metas: Sequence[Mapping[str, Any]] | None = None) -> dict[str, torch.Tensor]:
        """``inputs`` uint8 (B, 3, H, W); ``targets`` the batch's targets (for a heatmap head
        ``heatmaps`` (B, K, h, w) and ``keypoint_weights`` (B, K)); ``metas`` the samples'
        metas (a MultiSourceHead routes each sample to its source's head by them)."""
        x = self.data_preprocessor(inputs)
        return self.head.loss(self.extract_feat(x), targets, self.train_cfg, metas)

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
        check_metas(metas, inputs.shape[0])
        x = self.data_preprocessor(inputs)
        feats = self.extract_feat(x)
        flip_feats = (self.extract_feat(x.flip(-1)) if self.test_cfg.get("flip_test", False)
                      else None)
        if hasattr(self.head, "predict_sources"):
            return self._predict_sources(feats, flip_feats, metas)
        flipped = None if flip_feats is None else self.head(flip_feats)
        return predictions(self.head(feats), flipped, type(self.head), self.head.decoder, metas,
                           self.test_cfg, None if flipped is None else self._flip_indices(metas))

    def _predict_sources(self, feats: Sequence[torch.Tensor],
                         flip_feats: Sequence[torch.Tensor] | None,
                         metas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """A MultiSourceHead's predictions: ``keypoints``/``keypoint_scores`` from the
        ``output_head``, and under ``heads`` each sample's own source's head (by its meta's
        ``dataset_name``) and the union head, for per-source evaluation."""
        per_head = self.head.predict_sources(feats, flip_feats, metas, self.test_cfg)
        results = []
        for i, meta in enumerate(metas):
            heads = {name: {"keypoints": to_image_space(kp[None], meta),
                            "keypoint_scores": sc[None]}
                     for name, (kp, sc) in per_head[i].items()}
            primary = heads[self.head.output_head]
            results.append({**primary, "heads": heads})
        return results

