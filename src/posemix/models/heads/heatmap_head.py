"""HeatmapHead (SimpleBaseline deconvs or a plain 1x1 conv on HRNet), flip-test fusion and
the training-time PCK accuracy MMPose logs as ``acc_pose``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.errors import ConfigError, PosemixError
from posemix.models.heads.accuracy import pck_from_locations
from posemix.models.heads.common import head_targets
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.models.postprocess import decode_outputs
from posemix.registry import CODECS, MODELS

# kernel size → (padding, output_padding) of a stride-2 transposed conv that doubles the size
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}
_FINAL_LAYER = MappingProxyType({"kernel_size": 1})
_LOSS = MappingProxyType({"type": "KeypointMSELoss", "use_target_weight": True})


def flip_heatmaps(heatmaps: torch.Tensor, flip_indices: Sequence[int],
                  flip_mode: str = "heatmap", shift_heatmap: bool = False) -> torch.Tensor:
    """Bring heatmaps predicted on a horizontally flipped image back to the original frame.

    Flip along x, swap left/right channels by ``flip_indices``; with ``shift_heatmap`` move
    the content one pixel right, replicating column 0 (MMPose's MSRA flip test: it makes up
    for the 0.75 px offset between flipping the image and flipping a stride-4 heatmap).
    """
    if flip_mode != "heatmap":
        raise ConfigError(f"test_cfg flip_mode '{flip_mode}' is not supported; heatmap heads "
                          f"use flip_mode='heatmap'")
    if len(flip_indices) != heatmaps.shape[1]:
        raise ConfigError(f"flip_indices has {len(flip_indices)} entries but the model predicts "
                          f"{heatmaps.shape[1]} keypoints; give the model the training "
                          f"schema (metainfo) so flip test uses its flip partners")
    flipped = heatmaps.flip(-1)[:, list(flip_indices)]
    if shift_heatmap:
        flipped[..., 1:] = flipped[..., :-1].clone()
    return flipped


def _argmax_xy(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) → (B, K, 2) integer (x, y) of the first maximum; -1 where max <= 0."""
    width = heatmaps.shape[-1]
    values, index = heatmaps.flatten(2).max(dim=2)
    xy = torch.stack((index % width, index // width), dim=-1).to(heatmaps.dtype)
    xy[values <= 0] = -1
    return xy


def heatmap_pck_accuracy(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                         thr: float = 0.05) -> torch.Tensor:
    """MMPose's ``pose_pck_accuracy`` as logged in training: PCK of the argmax locations of
    prediction and target, normalised by the heatmap's (H, W)."""
    height, width = pred.shape[-2:]
    norm = torch.tensor([height, width], dtype=pred.dtype, device=pred.device)
    return pck_from_locations(_argmax_xy(pred), _argmax_xy(target), norm, mask, thr)


@MODELS.register()
class HeatmapHead(nn.Module):
    """Optional deconv (x2 each) and conv layers, then a final conv to one heatmap per
    keypoint. ``out_channels=None`` leaves the final layer to be built by
    ``set_out_channels`` once the keypoint schema is known (TopdownPoseEstimator does)."""

    DEFAULT_INIT = [dict(type="Normal", layer=["Conv2d", "ConvTranspose2d"], std=0.001),
                    dict(type="Constant", layer="BatchNorm2d", val=1)]
    # names of forward's outputs, in order (an exported graph's output names)
    output_names = ("heatmaps",)
    TARGET_KEYS = ("heatmaps", "keypoint_weights")
    TARGET_CODEC = "a heatmap codec"

    def __init__(self, in_channels: int, out_channels: int | None = None,
                 deconv_out_channels: Sequence[int] | None = (256, 256, 256),
                 deconv_kernel_sizes: Sequence[int] | None = (4, 4, 4),
                 conv_out_channels: Sequence[int] | None = None,
                 conv_kernel_sizes: Sequence[int] | None = None,
                 final_layer: Mapping[str, Any] | None = _FINAL_LAYER,
                 loss: Mapping[str, Any] | nn.Module = _LOSS,
                 decoder: Mapping[str, Any] | Any = None, init_cfg: InitCfg = None):
        super().__init__()
        self.in_channels = in_channels
        self.loss_module = MODELS.build(dict(loss) if isinstance(loss, Mapping) else loss)
        self.decoder = CODECS.build(decoder) if decoder is not None else None
        channels = in_channels
        self.deconv_layers, channels = self._make_layers(
            "deconv", deconv_out_channels, deconv_kernel_sizes, channels)
        self.conv_layers, channels = self._make_layers(
            "conv", conv_out_channels, conv_kernel_sizes, channels)
        self.feat_channels = channels
        self._final_cfg = dict(final_layer) if final_layer is not None else None
        self._layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        self.out_channels: int | None = None
        self.final_layer: nn.Module | None = None
        if self._final_cfg is None:
            self.final_layer = nn.Identity()
            self.out_channels = channels
        apply_layer_inits(self, self._layer_inits)
        if out_channels is not None:
            self.set_out_channels(out_channels, "HeatmapHead out_channels")

    @staticmethod
    def _make_layers(kind: str, out_channels: Sequence[int] | None,
                     kernel_sizes: Sequence[int] | None, channels: int
                     ) -> tuple[nn.Module, int]:
        if not out_channels:
            return nn.Identity(), channels
        if kernel_sizes is None or len(kernel_sizes) != len(out_channels):
            raise ConfigError(f"HeatmapHead {kind}_out_channels {list(out_channels)} and "
                              f"{kind}_kernel_sizes {kernel_sizes} must have the same length")
        layers: list[nn.Module] = []
        for out, k in zip(out_channels, kernel_sizes, strict=True):
            if kind == "deconv":
                if k not in _DECONV_PADDING:
                    raise ConfigError(f"HeatmapHead deconv kernel size {k} is not supported; "
                                      f"use one of {sorted(_DECONV_PADDING)}")
                pad, out_pad = _DECONV_PADDING[k]
                layers.append(nn.ConvTranspose2d(channels, out, k, stride=2, padding=pad,
                                                 output_padding=out_pad, bias=False))
            else:
                layers.append(nn.Conv2d(channels, out, k, padding=(k - 1) // 2))
            layers += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        return nn.Sequential(*layers), channels

    def set_out_channels(self, num_keypoints: int, source: str) -> None:
        """Fix the number of heatmaps; ``source`` names where the number comes from, for the
        error when it disagrees with an already set one."""
        if self.out_channels is not None:
            if self.out_channels != num_keypoints:
                raise ConfigError(f"HeatmapHead predicts {self.out_channels} keypoints but "
                                  f"{source} says {num_keypoints}")
            return
        cfg = dict(kernel_size=1)
        cfg.update(self._final_cfg)
        try:
            self.final_layer = nn.Conv2d(self.feat_channels, num_keypoints, **cfg)
        except TypeError as exc:
            raise ConfigError(f"HeatmapHead final_layer {self._final_cfg}: {exc}") from exc
        apply_layer_inits(self.final_layer, self._layer_inits)
        self.out_channels = num_keypoints

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Heatmaps (B, K, h, w) from the last (highest-level) backbone output."""
        if self.final_layer is None:
            raise ConfigError("HeatmapHead out_channels is not set: give it out_channels, or "
                              "build it inside a TopdownPoseEstimator with a metainfo")
        x = self.conv_layers(self.deconv_layers(feats[-1]))
        return self.final_layer(x)

    def loss(self, feats: Sequence[torch.Tensor], targets: Mapping[str, torch.Tensor],
             train_cfg: Mapping[str, Any] | None = None,
             metas: Sequence[Mapping[str, Any]] | None = None) -> dict[str, torch.Tensor]:
        """``loss_kpt`` against ``targets['heatmaps']`` (B, K, h, w) weighted by
        ``targets['keypoint_weights']`` (B, K) and, unless ``train_cfg['compute_acc']`` is
        False, ``acc_pose``; ``metas`` is part of the common head signature (heads/common.py)
        and unused here."""
        pred = self.forward(feats)
        heatmaps, keypoint_weights = head_targets(self, targets, pred.device)
        if heatmaps.shape != pred.shape:
            raise PosemixError(
                f"target heatmaps have shape {tuple(heatmaps.shape)} but the model predicts "
                f"{tuple(pred.shape)} (batch, keypoints, height, width): check the codec's "
                f"heatmap_size and that the dataset's keypoint count matches the head")
        losses = {"loss_kpt": self.loss_module(pred, heatmaps, keypoint_weights)}
        if (train_cfg or {}).get("compute_acc", True):
            with torch.no_grad():
                losses["acc_pose"] = heatmap_pck_accuracy(pred.detach(), heatmaps,
                                                          keypoint_weights > 0)
        return losses

    @staticmethod
    def flip(heatmaps: torch.Tensor, flip_indices: Sequence[int],
             test_cfg: Mapping[str, Any]) -> torch.Tensor:
        """Heatmaps of the flipped image back in the original frame (``flip_heatmaps`` with
        ``test_cfg``'s flip_mode and shift_heatmap). Static, so that a backend without the
        module (ONNX) flips the same way."""
        return flip_heatmaps(heatmaps, flip_indices, test_cfg.get("flip_mode", "heatmap"),
                             test_cfg.get("shift_heatmap", False))

    @staticmethod
    def output_heatmaps(outputs: torch.Tensor) -> torch.Tensor:
        """The heatmaps themselves (B, K, h, w), for ``test_cfg.output_heatmaps``."""
        return outputs.detach().float()

    def decode(self, heatmaps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, K, 2) in input-crop space and scores (B, K), by the head's codec."""
        return decode_outputs(self.decoder, (heatmaps,))
