"""The building blocks of mmdet's CSPNeXt under their mmcv/mmdet names (``conv``, ``bn``,
``activate``, ``main_conv``, ``blocks``, ``attention``, ...), so that RTMPose checkpoints
load by key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from posemix.errors import ConfigError
from posemix.models.backbones.resnet import build_norm

# activation type -> (class, whether mmcv's ConvModule runs it in place)
_ACTIVATIONS: dict[str, tuple[type[nn.Module], bool]] = {
    "SiLU": (nn.SiLU, True), "Swish": (nn.SiLU, False), "ReLU": (nn.ReLU, True),
    "LeakyReLU": (nn.LeakyReLU, True), "GELU": (nn.GELU, False),
}


def build_activation(act_cfg: Mapping[str, Any] | None) -> nn.Module:
    """``dict(type='SiLU')`` → ``nn.SiLU(inplace=True)`` (mmcv's ConvModule default);
    None → no activation."""
    if act_cfg is None:
        return nn.Identity()
    cfg = dict(act_cfg)
    kind = cfg.pop("type", None)
    if kind not in _ACTIVATIONS:
        raise ConfigError(f"act_cfg type {kind!r} is not supported; use one of "
                          f"{', '.join(_ACTIVATIONS)}")
    cls, inplace = _ACTIVATIONS[kind]
    if inplace:
        cfg.setdefault("inplace", True)
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise ConfigError(f"act_cfg {dict(act_cfg)}: {exc}") from None


class ConvModule(nn.Module):
    """conv → norm → activation. The conv has no bias (every CSPNeXt conv is normalised)
    and starts Kaiming-normal (fan_out, relu) as mmcv initialises it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, groups: int = 1,
                 norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=False)
        self.bn = build_norm(norm_cfg, out_channels)
        self.activate = build_activation(act_cfg)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """A depthwise k×k ConvModule, then a pointwise 1×1 ConvModule."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, padding: int = 0,
                 norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = None):
        super().__init__()
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride,
                                         padding, groups=in_channels, norm_cfg=norm_cfg,
                                         act_cfg=act_cfg)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg,
                                         act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


def conv_module(depthwise: bool, in_channels: int, out_channels: int, kernel_size: int,
                stride: int, norm_cfg: Mapping[str, Any] | None,
                act_cfg: Mapping[str, Any] | None) -> nn.Module:
    """A 'same'-padded ConvModule, or its depthwise-separable form (``use_depthwise``)."""
    cls = DepthwiseSeparableConvModule if depthwise else ConvModule
    return cls(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
               norm_cfg=norm_cfg, act_cfg=act_cfg)


class ChannelAttention(nn.Module):
    """Squeeze-excite without reduction: ``x * hardsigmoid(fc(mean over H, W))``. The
    pooling runs in float32 under autocast, as in mmdet."""

    def __init__(self, channels: int):
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            pooled = self.global_avgpool(x.float()).to(x.dtype)
        return x * self.act(self.fc(pooled))


class CSPNeXtBlock(nn.Module):
    """3×3 conv (depthwise-separable with ``use_depthwise``), then a depthwise-separable
    ``kernel_size`` conv; residual when ``add_identity`` and the widths agree."""

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 0.5,
                 add_identity: bool = True, use_depthwise: bool = False, kernel_size: int = 5,
                 norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = None):
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv1 = conv_module(use_depthwise, in_channels, hidden, 3, 1, norm_cfg, act_cfg)
        self.conv2 = DepthwiseSeparableConvModule(hidden, out_channels, kernel_size, 1,
                                                  kernel_size // 2, norm_cfg, act_cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross-stage partial layer: a 1×1 'main' branch through the blocks and a 1×1
    'short' branch, concatenated (main first), channel attention, a final 1×1 conv."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 0.5,
                 num_blocks: int = 1, add_identity: bool = True, use_depthwise: bool = False,
                 channel_attention: bool = True,
                 norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = None):
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.main_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, out_channels, 1, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
        self.blocks = nn.Sequential(*[
            CSPNeXtBlock(mid, mid, 1.0, add_identity, use_depthwise, norm_cfg=norm_cfg,
                         act_cfg=act_cfg) for _ in range(num_blocks)])
        self.attention = ChannelAttention(2 * mid) if channel_attention else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        if self.attention is not None:
            y = self.attention(y)
        return self.final_conv(y)


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling (parallel, not SPPF): 1×1 conv to half the width, the
    input beside its stride-1 max pools of each kernel size, a 1×1 conv back."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_sizes: Sequence[int] = (5, 9, 13),
                 norm_cfg: Mapping[str, Any] | None = None,
                 act_cfg: Mapping[str, Any] | None = None):
        super().__init__()
        mid = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2)
                                      for k in kernel_sizes)
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), out_channels, 1,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))
