"""Pose heads."""

from posemix.models.heads.heatmap_head import HeatmapHead, flip_heatmaps, heatmap_pck_accuracy

__all__ = ["HeatmapHead", "flip_heatmaps", "heatmap_pck_accuracy"]
