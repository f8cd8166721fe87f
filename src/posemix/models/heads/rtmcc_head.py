"""RTMCCHead: RTMPose's SimCC head (7×7 conv → per-keypoint tokens → GAU → x and y bin
logits), with the same interface as HeatmapHead so TopdownPoseEstimator, the runner and
inference treat both alike."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.errors import ConfigError, PosemixError
from posemix.models.heads.accuracy import pck_from_locations
from posemix.models.heads.common import head_targets
from posemix.models.heads.rtmcc_block import RTMCCBlock, ScaleNorm
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.models.postprocess import decode_outputs
from posemix.registry import CODECS, MODELS

SimCC = tuple[torch.Tensor, torch.Tensor]

_GAU = MappingProxyType(dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0,
                             drop_path=0.0, act_fn="ReLU", use_rel_bias=False, pos_enc=False))
_LOSS = MappingProxyType({"type": "KLDiscretLoss", "use_target_weight": True})


def flip_simcc(simcc: SimCC, flip_indices: Sequence[int]) -> SimCC:
    """Bring SimCC logits predicted on a horizontally flipped image back to the original
    frame: swap left/right keypoints and reverse the x bins. As in MMPose there is no
    shift, so the x peak lands one bin (1 / split ratio px) right of the unflipped one."""
    pred_x, pred_y = simcc
    if len(flip_indices) != pred_x.shape[1]:
        raise ConfigError(f"flip_indices has {len(flip_indices)} entries but the model predicts "
                          f"{pred_x.shape[1]} keypoints; give the model the training "
                          f"schema (metainfo) so flip test uses its flip partners")
    index = list(flip_indices)
    return pred_x[:, index].flip(-1), pred_y[:, index]


def simcc_pck_accuracy(pred: SimCC, target: SimCC, split_ratio: float, mask: torch.Tensor,
                       thr: float = 0.05) -> torch.Tensor:
    """MMPose's ``simcc_pck_accuracy``: argmax bins of both axes (-1 where the smaller
    axis maximum is <= 0) / ``split_ratio``, PCK normalised by (H, W) of the input."""
    width = int(pred[0].shape[-1] / split_ratio)
    height = int(pred[1].shape[-1] / split_ratio)

    def locations(simcc: SimCC) -> torch.Tensor:
        (max_x, x), (max_y, y) = simcc[0].max(dim=-1), simcc[1].max(dim=-1)  # first maxima
        xy = torch.stack((x, y), dim=-1).to(simcc[0].dtype)
        xy[torch.minimum(max_x, max_y) <= 0] = -1
        return xy / split_ratio

    norm = torch.tensor([height, width], dtype=pred[0].dtype, device=pred[0].device)
    return pck_from_locations(locations(pred), locations(target), norm, mask, thr)


@MODELS.register()
class RTMCCHead(nn.Module):
    """SimCC head of RTMPose. Input: the last backbone map (B, C, h, w) with
    ``h * w == prod(in_featuremap_size)``; output: ``(pred_x, pred_y)`` logits of shape
    (B, K, int(w_in * r)) and (B, K, int(h_in * r)) for ``input_size = (w_in, h_in)``.

    ``out_channels=None`` leaves the keypoint-dependent layers (``final_layer`` and the
    GAU, whose tokens are the keypoints) to ``set_out_channels``; their state-dict slots
    keep MMPose's order either way.
    """

    DEFAULT_INIT = [dict(type="Normal", layer=["Conv2d"], std=0.001),
                    dict(type="Constant", layer="BatchNorm2d", val=1),
                    dict(type="Normal", layer=["Linear"], std=0.01, bias=0)]
    # names of forward's outputs, in order (an exported graph's output names)
    output_names = ("simcc_x", "simcc_y")
    TARGET_KEYS = ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights")
    TARGET_CODEC = "SimCCLabel"

    def __init__(self, in_channels: int, out_channels: int | None = None, *,
                 input_size: Sequence[int], in_featuremap_size: Sequence[int],
                 simcc_split_ratio: float = 2.0, final_layer_kernel_size: int = 1,
                 gau_cfg: Mapping[str, Any] = _GAU,
                 loss: Mapping[str, Any] | nn.Module = _LOSS,
                 decoder: Mapping[str, Any] | Any = None, init_cfg: InitCfg = None):
        super().__init__()
        unknown = sorted(set(gau_cfg) - set(_GAU))
        missing = sorted(set(_GAU) - set(gau_cfg))
        if unknown or missing:
            raise ConfigError(f"RTMCCHead gau_cfg needs exactly the keys {', '.join(_GAU)}; "
                              f"unknown {unknown}, missing {missing}")
        if len(input_size) != 2 or len(in_featuremap_size) != 2:
            raise ConfigError(f"RTMCCHead input_size {input_size} and in_featuremap_size "
                              f"{in_featuremap_size} must be (width, height) pairs")
        self.in_channels = in_channels
        self.input_size = tuple(input_size)
        self.in_featuremap_size = tuple(in_featuremap_size)
        self.simcc_split_ratio = simcc_split_ratio
        self.final_layer_kernel_size = final_layer_kernel_size
        self.gau_cfg = dict(gau_cfg)
        self.loss_module = MODELS.build(dict(loss) if isinstance(loss, Mapping) else loss)
        self.decoder = CODECS.build(decoder) if decoder is not None else None
        self.out_channels: int | None = None
        flat = math.prod(self.in_featuremap_size)
        hidden = self.gau_cfg["hidden_dims"]
        self.register_module("final_layer", None)
        self.mlp = nn.Sequential(ScaleNorm(flat), nn.Linear(flat, hidden, bias=False))
        self.register_module("gau", None)
        self.cls_x = nn.Linear(hidden, int(self.input_size[0] * simcc_split_ratio), bias=False)
        self.cls_y = nn.Linear(hidden, int(self.input_size[1] * simcc_split_ratio), bias=False)
        self._layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        apply_layer_inits(self, self._layer_inits)
        if out_channels is not None:
            self.set_out_channels(out_channels, "RTMCCHead out_channels")

    def set_out_channels(self, num_keypoints: int, source: str) -> None:
        """Fix the number of keypoints; ``source`` names where it comes from, for the error
        when it disagrees with an already set one."""
        if self.out_channels is not None:
            if self.out_channels != num_keypoints:
                raise ConfigError(f"RTMCCHead predicts {self.out_channels} keypoints but "
                                  f"{source} says {num_keypoints}")
            return
        k = self.final_layer_kernel_size
        self.final_layer = nn.Conv2d(self.in_channels, num_keypoints, k, padding=k // 2)
        cfg = self.gau_cfg
        hidden = cfg["hidden_dims"]
        self.gau = RTMCCBlock(num_keypoints, hidden, hidden, s=cfg["s"],
                              expansion_factor=cfg["expansion_factor"],
                              dropout_rate=cfg["dropout_rate"], drop_path=cfg["drop_path"],
                              attn_type="self-attn", act_fn=cfg["act_fn"],
                              use_rel_bias=cfg["use_rel_bias"], pos_enc=cfg["pos_enc"])
        apply_layer_inits(self.final_layer, self._layer_inits)
        apply_layer_inits(self.gau, self._layer_inits)
        self.out_channels = num_keypoints

    def forward(self, feats: Sequence[torch.Tensor]) -> SimCC:
        """``(pred_x, pred_y)`` SimCC logits from the last backbone output."""
        if self.final_layer is None:
            raise ConfigError("RTMCCHead out_channels is not set: give it out_channels, or "
                              "build it inside a TopdownPoseEstimator with a metainfo")
        x = self.final_layer(feats[-1]).flatten(2)
        if x.shape[-1] != self.mlp[1].in_features:
            raise PosemixError(
                f"RTMCCHead: the backbone's last feature map has {tuple(feats[-1].shape[2:])} "
                f"= {x.shape[-1]} positions but in_featuremap_size {self.in_featuremap_size} "
                f"gives {self.mlp[1].in_features}; set in_featuremap_size to the input size "
                f"divided by the backbone stride, in (width, height) order")
        x = self.gau(self.mlp(x))
        return self.cls_x(x), self.cls_y(x)

    def loss(self, feats: Sequence[torch.Tensor], targets: Mapping[str, torch.Tensor],
             train_cfg: Mapping[str, Any] | None = None,
             metas: Sequence[Mapping[str, Any]] | None = None) -> dict[str, torch.Tensor]:
        """``loss_kpt`` (KLDiscretLoss of the x and y logits against the SimCCLabel labels)
        and, unless ``train_cfg['compute_acc']`` is False, ``acc_pose``; ``metas`` is part of
        the common head signature (heads/common.py) and unused here."""
        pred = self.forward(feats)
        x_labels, y_labels, weights = head_targets(self, targets, pred[0].device)
        gt = (x_labels, y_labels)
        for axis, p, g in zip("xy", pred, gt, strict=True):
            if p.shape != g.shape:
                raise PosemixError(
                    f"SimCC {axis} labels have shape {tuple(g.shape)} but the model predicts "
                    f"{tuple(p.shape)} (batch, keypoints, bins): check that the codec's "
                    f"input_size and simcc_split_ratio match the head's")
        losses = {"loss_kpt": self.loss_module(pred, gt, weights)}
        if (train_cfg or {}).get("compute_acc", True):
            with torch.no_grad():
                losses["acc_pose"] = simcc_pck_accuracy(
                    (pred[0].detach(), pred[1].detach()), gt, self.simcc_split_ratio,
                    weights > 0)
        return losses

    @staticmethod
    def flip(outputs: SimCC, flip_indices: Sequence[int], test_cfg: Mapping[str, Any]) -> SimCC:
        """Outputs of the flipped input in the original frame (see :func:`flip_simcc`).
        Static, so that a backend without the module (ONNX) flips the same way."""
        return flip_simcc(outputs, flip_indices)

    def decode(self, outputs: SimCC) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, K, 2) in input-crop space and scores (B, K), by the head's codec."""
        return decode_outputs(self.decoder, outputs)

    @staticmethod
    def output_heatmaps(outputs: SimCC) -> torch.Tensor:
        """(B, K, Wy, Wx) maps for display: each axis clamped at 0 and divided by its
        maximum where that exceeds 1, then the outer product y ⊗ x (as MMPose's
        ``output_heatmaps``)."""
        def unit(v: torch.Tensor) -> torch.Tensor:
            v = v.clamp(min=0)
            top = v.amax(dim=-1, keepdim=True)
            return torch.where(top > 1, v / top.clamp(min=1), v)

        pred_x, pred_y = (unit(o.detach().float()) for o in outputs)
        return pred_y[..., :, None] * pred_x[..., None, :]
