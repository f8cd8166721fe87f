"""Pose heads: heatmaps (HeatmapHead) and SimCC (RTMCCHead), one interface for both."""

from posemix.models.heads.heatmap_head import HeatmapHead, flip_heatmaps, heatmap_pck_accuracy
from posemix.models.heads.rtmcc_block import RTMCCBlock, Scale, ScaleNorm
from posemix.models.heads.rtmcc_head import RTMCCHead, flip_simcc, simcc_pck_accuracy

__all__ = ["HeatmapHead", "RTMCCBlock", "RTMCCHead", "Scale", "ScaleNorm", "flip_heatmaps",
           "flip_simcc", "heatmap_pck_accuracy", "simcc_pck_accuracy"]
