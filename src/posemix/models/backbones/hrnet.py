"""HRNet (Sun et al. 2019) as configured by MMPose's ``extra`` dict.

Module and parameter names are MMPose's (``transition1.1.0.0``, ``stage3.2.fuse_layers.2.0.1.0``,
...), so MMPose checkpoints and the ImageNet ``hrnet_w32`` weights load by key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from posemix.errors import ConfigError
from posemix.models.backbones.resnet import (
    BLOCKS,
    _ResidualBlock,
    build_norm,
    freeze,
    make_res_layer,
    set_norm_eval,
    zero_init_last_norms,
)
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.registry import MODELS

_STAGE_KEYS = ("num_modules", "num_branches", "block", "num_blocks", "num_channels")


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int, norm_cfg: Mapping | None,
             relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
              build_norm(norm_cfg, out_ch)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """Parallel branches at 1/2^i resolution, then every output sums all (resampled) inputs.

    With ``multiscale_output=False`` only the highest-resolution output is fused.
    """

    def __init__(self, num_branches: int, block: type[_ResidualBlock], num_blocks: Sequence[int],
                 in_channels: Sequence[int], num_channels: Sequence[int],
                 multiscale_output: bool, with_cp: bool, norm_cfg: Mapping | None,
                 upsample_cfg: Mapping[str, Any]):
        super().__init__()
        lengths = (len(num_blocks), len(in_channels), len(num_channels))
        if any(n != num_branches for n in lengths):
            raise ConfigError(f"HRNet stage with num_branches={num_branches} has "
                              f"{lengths[0]} num_blocks, {lengths[2]} num_channels and "
                              f"{lengths[1]} input branches; they must all match")
        self.num_branches = num_branches
        self.in_channels = list(in_channels)
        branches = []
        for i in range(num_branches):
            out = num_channels[i] * block.expansion
            branches.append(make_res_layer(block, num_blocks[i], self.in_channels[i], out,
                                           with_cp=with_cp, norm_cfg=norm_cfg))
            self.in_channels[i] = out
        self.branches = nn.ModuleList(branches)
        num_out = num_branches if multiscale_output else 1
        self.fuse_layers = (self._make_fuse_layers(num_out, norm_cfg, upsample_cfg)
                            if num_branches > 1 else None)
        self.relu = nn.ReLU()

    def _make_fuse_layers(self, num_out: int, norm_cfg: Mapping | None,
                          upsample_cfg: Mapping[str, Any]) -> nn.ModuleList:
        ch = self.in_channels
        fuse = nn.ModuleList()
        for i in range(num_out):
            row = nn.ModuleList()
            for j in range(self.num_branches):
                if j > i:  # lower resolution: 1x1 conv at low resolution, then upsample
                    row.append(nn.Sequential(
                        nn.Conv2d(ch[j], ch[i], 1, bias=False), build_norm(norm_cfg, ch[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode=upsample_cfg["mode"],
                                    align_corners=upsample_cfg.get("align_corners"))))
                elif j == i:
                    row.append(None)
                else:  # higher resolution: i-j stride-2 3x3 convs, no ReLU after the last
                    steps = [_conv_bn(ch[j], ch[j], 3, 2, norm_cfg, relu=True)
                             for _ in range(i - j - 1)]
                    steps.append(_conv_bn(ch[j], ch[i], 3, 2, norm_cfg, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse.append(row)
        return fuse

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x = [branch(t) for branch, t in zip(self.branches, x, strict=True)]
        if self.fuse_layers is None:
            return x
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else row[j](x[j]))
            out.append(self.relu(y))
        return out


def _transition(pre: Sequence[int], cur: Sequence[int], norm_cfg: Mapping | None
                ) -> nn.ModuleList:
    """Adapt the previous stage's branches to the next: a 3x3 conv where the width changes,
    nothing where it does not, and a chain of stride-2 convs from the lowest-resolution branch
    for each new branch."""
    layers = nn.ModuleList()
    for i, out in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], out, 3, 1, norm_cfg, relu=True)
                          if pre[i] != out else None)
        else:
            steps = i + 1 - len(pre)
            layers.append(nn.Sequential(*[
                _conv_bn(pre[-1], out if k == steps - 1 else pre[-1], 3, 2, norm_cfg, relu=True)
                for k in range(steps)]))
    return layers


def _stage_cfg(extra: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if name not in extra:
        raise ConfigError(f"HRNet extra has no '{name}' (it needs stage1..stage4)")
    cfg = extra[name]
    missing = [k for k in _STAGE_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"HRNet extra['{name}'] lacks {', '.join(missing)}")
    if cfg["block"] not in BLOCKS:
        raise ConfigError(f"HRNet extra['{name}'] block '{cfg['block']}' is not one of "
                          f"{', '.join(BLOCKS)}")
    return cfg


@MODELS.register()
class HRNet(nn.Module):
    """High-resolution network: a stride-4 stem and bottleneck stage, then three stages of
    parallel multi-resolution branches. Returns a tuple of branch outputs (the 1/4-resolution
    map alone when the last stage has ``multiscale_output=False``, MMPose's default)."""

    DEFAULT_INIT = [dict(type="Normal", std=0.001, layer=["Conv2d"]),
                    dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]

    def __init__(self, extra: Mapping[str, Any], in_channels: int = 3,
                 norm_cfg: Mapping[str, Any] | None = None, norm_eval: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = False,
                 frozen_stages: int = -1, init_cfg: InitCfg = None):
        super().__init__()
        if frozen_stages > 4:
            raise ConfigError(f"HRNet frozen_stages={frozen_stages} exceeds its 4 stages")
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        upsample_cfg = extra.get("upsample", {"mode": "nearest", "align_corners": None})
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = build_norm(norm_cfg, 64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = build_norm(norm_cfg, 64)
        self.relu = nn.ReLU(inplace=True)

        cfg = _stage_cfg(extra, "stage1")
        block = BLOCKS[cfg["block"]]
        channels = [cfg["num_channels"][0] * block.expansion]
        self.layer1 = make_res_layer(block, cfg["num_blocks"][0], 64, channels[0],
                                     with_cp=with_cp, norm_cfg=norm_cfg)
        for s in (2, 3, 4):
            cfg = _stage_cfg(extra, f"stage{s}")
            block = BLOCKS[cfg["block"]]
            wanted = [c * block.expansion for c in cfg["num_channels"]]
            self.add_module(f"transition{s - 1}", _transition(channels, wanted, norm_cfg))
            multiscale = cfg.get("multiscale_output", False) if s == 4 else True
            modules = []
            for m in range(cfg["num_modules"]):
                last = m == cfg["num_modules"] - 1
                modules.append(HRModule(
                    cfg["num_branches"], block, cfg["num_blocks"], wanted, cfg["num_channels"],
                    multiscale or not last, with_cp, norm_cfg, upsample_cfg))
                wanted = modules[-1].in_channels
            self.add_module(f"stage{s}", nn.Sequential(*modules))
            channels = wanted

        layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        apply_layer_inits(self, layer_inits)
        if zero_init_residual and self.pretrained_cfg is None:
            zero_init_last_norms(self)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.conv1, self.bn1, self.conv2, self.bn2])
        for i in range(1, self.frozen_stages + 1):
            freeze([self.layer1 if i == 1 else getattr(self, f"stage{i}")])
            if i < 4:
                freeze([getattr(self, f"transition{i}")])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        y_list = [self.layer1(x)]
        for s in (2, 3, 4):
            x_list = []
            for i, layer in enumerate(getattr(self, f"transition{s - 1}")):
                # new branches grow from the lowest-resolution output of the previous stage
                src = y_list[i] if i < len(y_list) else y_list[-1]
                x_list.append(src if layer is None else layer(src))
            y_list = getattr(self, f"stage{s}")(x_list)
        return tuple(y_list)

    def train(self, mode: bool = True) -> HRNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            set_norm_eval(self)
        return self
