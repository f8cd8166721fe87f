"""Models: backbones, heads, losses, the data preprocessor and TopdownPoseEstimator.

Importing this package registers every model type in ``posemix.registry.MODELS``.
"""

from posemix.models.backbones import CSPNeXt, HRNet, ResNet, TinyResFPN
from posemix.models.data_preprocessor import PoseDataPreprocessor
from posemix.models.ema import ExpMomentumEMA, ExponentialMovingAverage
from posemix.models.heads import (
    HeatmapHead,
    MultiSourceHead,
    RTMCCHead,
    flip_heatmaps,
    flip_simcc,
    heatmap_pck_accuracy,
    simcc_pck_accuracy,
)
from posemix.models.init_weights import LoadReport, load_pretrained, read_state_dict
from posemix.models.losses import KeypointMSELoss, KLDiscretLoss
from posemix.models.postprocess import to_image_space
from posemix.models.topdown import TopdownPoseEstimator

__all__ = [
    "CSPNeXt", "ExpMomentumEMA", "ExponentialMovingAverage", "HRNet", "HeatmapHead",
    "KLDiscretLoss", "KeypointMSELoss", "LoadReport",
    "MultiSourceHead", "PoseDataPreprocessor", "RTMCCHead", "ResNet", "TinyResFPN",
    "TopdownPoseEstimator", "flip_heatmaps", "flip_simcc", "heatmap_pck_accuracy",
    "load_pretrained", "read_state_dict", "simcc_pck_accuracy", "to_image_space",
]
