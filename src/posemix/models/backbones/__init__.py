"""Backbones: HRNet and ResNet with MMPose's names, and TinyResFPN for CPU demos."""

from posemix.models.backbones.hrnet import HRNet
from posemix.models.backbones.resnet import ResNet
from posemix.models.backbones.tiny_resfpn import TinyResFPN

__all__ = ["HRNet", "ResNet", "TinyResFPN"]
