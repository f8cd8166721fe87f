"""Pose heads (their common interface: heads/common.py)."""

from posemix.models.heads.heatmap_head import HeatmapHead, flip_heatmaps, heatmap_pck_accuracy
from posemix.models.heads.multi_source import (
    MultiSourceHead,
    layouts_from_state_dict,
    per_source_head_cfg,
)

__all__ = ["HeatmapHead", "MultiSourceHead", "flip_heatmaps", "heatmap_pck_accuracy",
           "layouts_from_state_dict", "per_source_head_cfg"]
