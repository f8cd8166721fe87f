"""CSPNeXt (RTMDet/RTMPose's backbone) with mmdet's arguments and state-dict keys
(``stem.0.conv.weight``, ``stage4.2.blocks.0.conv2.depthwise_conv.bn.weight``, ...).

MMPose configs build it from mmdet's scope (``_scope_='mmdet'``); posemix has one
registry, so that dict and ``type='mmdet.CSPNeXt'`` both land here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from posemix.errors import ConfigError
from posemix.models.backbones.csp_layers import (
    ConvModule,
    CSPLayer,
    SPPBottleneck,
    conv_module,
)
from posemix.models.backbones.resnet import freeze, set_norm_eval
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.registry import MODELS

_MMDET_NORM = MappingProxyType({"type": "BN", "momentum": 0.03, "eps": 0.001})
_SILU = MappingProxyType({"type": "SiLU"})


@MODELS.register()
class CSPNeXt(nn.Module):
    """Stem (three 3×3 convs, stride 2) and four stages (stride-2 conv, SPP in the last,
    CSPLayer); returns the outputs of ``out_indices`` in ``(stem, stage1, ..., stage4)``.

    Widths scale by ``widen_factor`` (``int``), block counts by ``deepen_factor``
    (``max(round(n * f), 1)``). mmdet's default ``norm_cfg`` (eps 1e-3, momentum 0.03)
    applies only when none is given: RTMPose's ``dict(type='SyncBN')`` means eps 1e-5 and
    momentum 0.1.
    """

    # per stage: in channels, out channels, blocks, add_identity, use_spp
    ARCH = {"P5": ((64, 128, 3, True, False), (128, 256, 6, True, False),
                   (256, 512, 6, True, False), (512, 1024, 3, False, True))}
    DEFAULT_INIT = [dict(type="Kaiming", layer="Conv2d", a=math.sqrt(5),
                         distribution="uniform", mode="fan_in", nonlinearity="leaky_relu")]

    def __init__(self, arch: str = "P5", deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 use_depthwise: bool = False, expand_ratio: float = 0.5,
                 arch_ovewrite: Sequence[Sequence[Any]] | None = None,
                 spp_kernel_sizes: Sequence[int] = (5, 9, 13),
                 channel_attention: bool = True, conv_cfg: Mapping[str, Any] | None = None,
                 norm_cfg: Mapping[str, Any] | None = _MMDET_NORM,
                 act_cfg: Mapping[str, Any] | None = _SILU, norm_eval: bool = False,
                 init_cfg: InitCfg = None):
        super().__init__()
        if arch not in self.ARCH:
            raise ConfigError(f"CSPNeXt arch must be one of {', '.join(self.ARCH)}, "
                              f"got {arch!r}")
        if conv_cfg is not None:
            raise ConfigError(f"CSPNeXt conv_cfg {dict(conv_cfg)} is not supported; only "
                              f"plain convolutions (conv_cfg=None)")
        stages = [tuple(row) for row in (arch_ovewrite or self.ARCH[arch])]
        if any(len(row) != 5 for row in stages):
            raise ConfigError("CSPNeXt arch_ovewrite rows must be [in_channels, out_channels, "
                              "num_blocks, add_identity, use_spp]")
        self.layers = ["stem"] + [f"stage{i + 1}" for i in range(len(stages))]
        if not all(0 <= i < len(self.layers) for i in out_indices):
            raise ConfigError(f"CSPNeXt out_indices {list(out_indices)} must lie in "
                              f"0..{len(self.layers) - 1} (stem, stage1, ...)")
        if not -1 <= frozen_stages < len(self.layers):
            raise ConfigError(f"CSPNeXt frozen_stages={frozen_stages} must lie in "
                              f"-1..{len(self.layers) - 1}")
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        norm = dict(norm_cfg) if norm_cfg is not None else None
        act = dict(act_cfg) if act_cfg is not None else None
        stem = int(stages[0][0] * widen_factor)
        half = int(stages[0][0] * widen_factor // 2)
        self.stem = nn.Sequential(
            ConvModule(3, half, 3, 2, 1, norm_cfg=norm, act_cfg=act),
            ConvModule(half, half, 3, 1, 1, norm_cfg=norm, act_cfg=act),
            ConvModule(half, stem, 3, 1, 1, norm_cfg=norm, act_cfg=act))
        for i, (in_ch, out_ch, blocks, add_identity, use_spp) in enumerate(stages):
            in_ch, out_ch = int(in_ch * widen_factor), int(out_ch * widen_factor)
            layers: list[nn.Module] = [conv_module(use_depthwise, in_ch, out_ch, 3, 2, norm, act)]
            if use_spp:
                layers.append(SPPBottleneck(out_ch, out_ch, spp_kernel_sizes, norm, act))
            layers.append(CSPLayer(out_ch, out_ch, expand_ratio,
                                   max(round(blocks * deepen_factor), 1), add_identity,
                                   use_depthwise, channel_attention, norm, act))
            self.add_module(self.layers[i + 1], nn.Sequential(*layers))
        layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        apply_layer_inits(self, layer_inits)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        freeze([getattr(self, name) for name in self.layers[:self.frozen_stages + 1]])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> CSPNeXt:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            set_norm_eval(self)
        return self
