"""Backbones: HRNet, ResNet and CSPNeXt with MMPose's names, and TinyResFPN for CPU demos."""

from posemix.models.backbones.cspnext import CSPNeXt
from posemix.models.backbones.hrnet import HRNet
from posemix.models.backbones.resnet import ResNet
from posemix.models.backbones.tiny_resfpn import TinyResFPN

__all__ = ["CSPNeXt", "HRNet", "ResNet", "TinyResFPN"]
