"""TinyResFPN: a small, CPU-friendly backbone for demos and smoke training.

Why this design: the demo must train in minutes on a laptop CPU at 128x96 or 160x128.
Measured on 2 CPU cores (batch 32, 128x96, one Adam step), a MobileNetV2-style net of
0.25M parameters took 0.28 s, the golden tiny HRNet 0.16 s and this net (0.7M parameters)
0.11 s: depthwise convs are memory-bound on CPU and HRNet's many small branch and fuse ops
cost more than their FLOPs, while a few dense 3x3 convs run at full oneDNN speed. So this
is a narrow ResNet (BasicBlocks at strides 4, 8, 16) with an FPN top-down path (1x1
laterals + nearest upsampling) that brings stride-16 context back to the stride-4 map the
heatmap head needs. ``out_stride=2`` adds one more merge with the stem's stride-2 map
(a 1x1 lateral, summed with the upsampled stride-4 map): heatmaps at half the input size
place the peaks twice as finely in input pixels, which tight OKS sigmas (AIC's are 3-5x
tighter than COCO's) need. It returns ``(features,)`` like HRNet, so
``HeatmapHead(in_channels=out_channels, deconv_out_channels=None)`` sits on top unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from posemix.errors import ConfigError
from posemix.models.backbones.resnet import (
    BasicBlock,
    build_norm,
    make_res_layer,
    zero_init_last_norms,
)
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.registry import MODELS


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
                         build_norm(None, out_ch), nn.ReLU(inplace=True))


@MODELS.register()
class TinyResFPN(nn.Module):
    """Stride-4 stem, three BasicBlock stages (strides 4, 8, 16; ``widths`` channels,
    ``num_blocks`` blocks) and a top-down merge to ``out_channels`` at ``out_stride``
    (4, or 2 with the stem's first map)."""

    DEFAULT_INIT = [dict(type="Kaiming", layer=["Conv2d"]),
                    dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (32, 64, 128),
                 num_blocks: Sequence[int] = (1, 2, 2), out_channels: int = 32,
                 out_stride: int = 4, init_cfg: InitCfg = None):
        super().__init__()
        if len(widths) != 3 or len(num_blocks) != 3:
            raise ConfigError(f"TinyResFPN needs 3 widths and 3 num_blocks (strides 4, 8, 16), "
                              f"got {list(widths)} and {list(num_blocks)}")
        if min(*widths, *num_blocks, out_channels) <= 0:
            raise ConfigError(f"TinyResFPN widths {list(widths)}, num_blocks "
                              f"{list(num_blocks)} and out_channels {out_channels} must be > 0")
        if out_stride not in (2, 4):
            raise ConfigError(f"TinyResFPN out_stride must be 4 or 2, got {out_stride!r}")
        self.stem = nn.Sequential(_conv_bn_relu(in_channels, 16, 2),
                                  _conv_bn_relu(16, widths[0], 2))
        channels = widths[0]
        for i, (width, blocks) in enumerate(zip(widths, num_blocks, strict=True)):
            self.add_module(f"layer{i + 1}", make_res_layer(
                BasicBlock, blocks, channels, width, stride=1 if i == 0 else 2))
            channels = width
        self.laterals = nn.ModuleList(nn.Conv2d(w, out_channels, 1) for w in widths)
        self.refine = _conv_bn_relu(out_channels, out_channels)
        # stride 2 joins by a 1x1 lateral only: a 3x3 conv there cost 1.3x the step and
        # gained less than spending that time on more updates
        self.lateral2 = nn.Conv2d(16, out_channels, 1) if out_stride == 2 else None
        layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        apply_layer_inits(self, layer_inits)
        if self.pretrained_cfg is None:
            zero_init_last_norms(self)  # each residual block starts as identity

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c2 = self.stem[0](x)
        c4 = self.layer1(self.stem[1](c2))
        c8 = self.layer2(c4)
        c16 = self.layer3(c8)
        out = self.laterals[2](c16)
        for lateral, feat in ((self.laterals[1], c8), (self.laterals[0], c4)):
            out = lateral(feat) + F.interpolate(out, size=feat.shape[-2:], mode="nearest")
        out = self.refine(out)
        if self.lateral2 is not None:
            out = F.relu(self.lateral2(c2) + F.interpolate(out, size=c2.shape[-2:],
                                                           mode="nearest"))
        return (out,)
