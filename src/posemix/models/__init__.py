"""Models: backbones, heads, losses, the data preprocessor and TopdownPoseEstimator.

Importing this package registers every model type in ``posemix.registry.MODELS``.
"""

from posemix.models.backbones import HRNet, ResNet, TinyResFPN
from posemix.models.data_preprocessor import PoseDataPreprocessor
from posemix.models.heads import (
    HeatmapHead,
    MultiSourceHead,
    flip_heatmaps,
    heatmap_pck_accuracy,
)
from posemix.models.init_weights import LoadReport, load_pretrained, read_state_dict
from posemix.models.losses import KeypointMSELoss
from posemix.models.postprocess import to_image_space
from posemix.models.topdown import TopdownPoseEstimator

__all__ = [
    "HRNet", "HeatmapHead", "KeypointMSELoss", "LoadReport", "MultiSourceHead",
    "PoseDataPreprocessor", "ResNet", "TinyResFPN", "TopdownPoseEstimator", "flip_heatmaps",
    "heatmap_pck_accuracy", "load_pretrained", "read_state_dict", "to_image_space",
]
