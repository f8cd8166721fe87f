"""Pose heads: heatmaps (HeatmapHead), SimCC (RTMCCHead) and one head per source
(MultiSourceHead); their common interface is in heads/common.py."""

from posemix.models.heads.heatmap_head import HeatmapHead, flip_heatmaps, heatmap_pck_accuracy
from posemix.models.heads.multi_source import (
    MultiSourceHead,
    layouts_from_state_dict,
    per_source_head_cfg,
)
from posemix.models.heads.rtmcc_block import RTMCCBlock, Scale, ScaleNorm
from posemix.models.heads.rtmcc_head import RTMCCHead, flip_simcc, simcc_pck_accuracy

__all__ = ["HeatmapHead", "MultiSourceHead", "RTMCCBlock", "RTMCCHead", "Scale", "ScaleNorm",
           "flip_heatmaps", "flip_simcc", "heatmap_pck_accuracy", "layouts_from_state_dict",
           "per_source_head_cfg", "simcc_pck_accuracy"]
