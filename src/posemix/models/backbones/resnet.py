"""ResNet (SimpleBaseline's backbone) and the residual blocks HRNet reuses.

Module names follow MMPose / torchvision (``conv1``, ``bn1``, ``layer1.0.downsample.0``, ...)
so that torchvision ImageNet weights and MMPose checkpoints load by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from posemix.errors import ConfigError
from posemix.models.init_weights import InitCfg, apply_layer_inits, split_init_cfg
from posemix.registry import MODELS


class SyncBN(nn.BatchNorm2d):
    """``norm_cfg=dict(type='SyncBN')``: a plain BatchNorm2d in one process, as mmengine
    reverts SyncBN there; ``posemix.engine.dist.convert_sync_batchnorm`` turns it into
    ``nn.SyncBatchNorm`` when the model is wrapped for DDP. State-dict keys are the same."""


_NORM_TYPES: dict[str, Callable[..., nn.Module]] = {
    "BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d, "SyncBN": SyncBN,
}
_NORM_OPTIONS = {"eps", "momentum", "affine", "track_running_stats"}


def build_norm(norm_cfg: Mapping[str, Any] | None, num_features: int) -> nn.Module:
    """A batch norm layer from MMPose's ``norm_cfg`` (``dict(type='BN', requires_grad=True)``)."""
    cfg = dict(norm_cfg or {"type": "BN"})
    kind = cfg.pop("type", "BN")
    requires_grad = cfg.pop("requires_grad", True)
    if kind not in _NORM_TYPES:
        raise ConfigError(f"norm_cfg type '{kind}' is not supported; use one of "
                          f"{', '.join(_NORM_TYPES)}")
    unknown = set(cfg) - _NORM_OPTIONS
    if unknown:
        raise ConfigError(f"norm_cfg has unknown option(s) {sorted(unknown)}; valid: "
                          f"type, requires_grad, {', '.join(sorted(_NORM_OPTIONS))}")
    layer = _NORM_TYPES[kind](num_features, **cfg)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer


class _ResidualBlock(nn.Module):
    """Shared forward of the residual blocks: body + identity, ReLU, optional checkpointing
    (``with_cp`` trades compute for activation memory)."""

    expansion = 1

    downsample: nn.Module | None

    def __init__(self, with_cp: bool):
        super().__init__()
        self.with_cp = with_cp
        self.relu = nn.ReLU(inplace=True)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def last_norm(self) -> nn.Module:
        raise NotImplementedError

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.body(x) + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        return self.relu(out)


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=dilation, dilation=dilation,
                     bias=False)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs (ResNet-18/34, HRNet branches)."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch",
                 with_cp: bool = False, norm_cfg: Mapping[str, Any] | None = None):
        super().__init__(with_cp)
        self.conv1 = _conv3x3(in_channels, out_channels, stride, dilation)
        self.bn1 = build_norm(norm_cfg, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = build_norm(norm_cfg, out_channels)
        self.downsample = downsample  # registered last, as in MMPose (state_dict order)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def last_norm(self) -> nn.Module:
        return self.bn2


class Bottleneck(_ResidualBlock):
    """1x1 → 3x3 → 1x1 with a 4x wider output; ``style='pytorch'`` strides on the 3x3,
    ``'caffe'`` on the first 1x1."""

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch",
                 with_cp: bool = False, norm_cfg: Mapping[str, Any] | None = None):
        super().__init__(with_cp)
        if style not in ("pytorch", "caffe"):
            raise ConfigError(f"ResNet style must be 'pytorch' or 'caffe', got '{style}'")
        mid = out_channels // self.expansion
        stride1, stride2 = (1, stride) if style == "pytorch" else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, stride=stride1, bias=False)
        self.bn1 = build_norm(norm_cfg, mid)
        self.conv2 = _conv3x3(mid, mid, stride2, dilation)
        self.bn2 = build_norm(norm_cfg, mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn3 = build_norm(norm_cfg, out_channels)
        self.downsample = downsample

    def body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def last_norm(self) -> nn.Module:
        return self.bn3


BLOCKS: dict[str, type[_ResidualBlock]] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def make_res_layer(block: type[_ResidualBlock], num_blocks: int, in_channels: int,
                   out_channels: int, stride: int = 1, dilation: int = 1,
                   style: str = "pytorch", with_cp: bool = False,
                   norm_cfg: Mapping[str, Any] | None = None) -> nn.Sequential:
    """``num_blocks`` blocks; the first gets a 1x1 conv + BN shortcut when the shape changes."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            build_norm(norm_cfg, out_channels))
    common = dict(dilation=dilation, style=style, with_cp=with_cp, norm_cfg=norm_cfg)
    layers = [block(in_channels, out_channels, stride=stride, downsample=downsample, **common)]
    layers += [block(out_channels, out_channels, **common) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


@torch.no_grad()
def zero_init_last_norms(module: nn.Module) -> None:
    """Zero the last BN scale of every residual block, so each block starts as identity."""
    for sub in module.modules():
        if isinstance(sub, _ResidualBlock):
            nn.init.zeros_(sub.last_norm().weight)


def set_norm_eval(module: nn.Module) -> None:
    """Put every batch norm in eval mode (``norm_eval``: keep ImageNet statistics frozen)."""
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.eval()


def freeze(modules: Sequence[nn.Module | None]) -> None:
    """Eval mode and no gradients for ``modules`` (``frozen_stages``)."""
    for module in modules:
        if module is None:
            continue
        module.eval()
        for param in module.parameters():
            param.requires_grad = False


@MODELS.register()
class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 with MMPose's arguments; returns a tuple of the stage
    outputs named by ``out_indices`` (default: the last, stride 32)."""

    ARCH: dict[int, tuple[type[_ResidualBlock], tuple[int, ...]]] = {
        18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }
    DEFAULT_INIT = [dict(type="Kaiming", layer=["Conv2d"]),
                    dict(type="Constant", val=1, layer=["_BatchNorm", "GroupNorm"])]

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (3,), style: str = "pytorch",
                 frozen_stages: int = -1, norm_cfg: Mapping[str, Any] | None = None,
                 norm_eval: bool = False, with_cp: bool = False,
                 zero_init_residual: bool = True, init_cfg: InitCfg = None):
        super().__init__()
        if depth not in self.ARCH:
            raise ConfigError(f"ResNet depth must be one of {sorted(self.ARCH)}, got {depth}")
        if not 1 <= num_stages <= 4 or len(strides) < num_stages or len(dilations) < num_stages:
            raise ConfigError(f"ResNet num_stages={num_stages} needs 1..4 stages and as many "
                              f"strides ({len(strides)}) and dilations ({len(dilations)})")
        if frozen_stages > num_stages:
            raise ConfigError(f"ResNet frozen_stages={frozen_stages} exceeds num_stages="
                              f"{num_stages}")
        if not all(0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"ResNet out_indices {list(out_indices)} must lie in "
                              f"0..{num_stages - 1}")
        block, stage_blocks = self.ARCH[depth]
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = build_norm(norm_cfg, stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer_names = []
        channels = stem_channels
        for i in range(num_stages):
            out = base_channels * 2 ** i * block.expansion
            layer = make_res_layer(block, stage_blocks[i], channels, out, strides[i],
                                   dilations[i], style, with_cp, norm_cfg)
            self.add_module(f"layer{i + 1}", layer)
            self.layer_names.append(f"layer{i + 1}")
            channels = out
        layer_inits, self.pretrained_cfg = split_init_cfg(init_cfg, self.DEFAULT_INIT)
        apply_layer_inits(self, layer_inits)
        if zero_init_residual and self.pretrained_cfg is None:
            zero_init_last_norms(self)
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.conv1, self.bn1])
        freeze([getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.layer_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> ResNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            set_norm_eval(self)
        return self
