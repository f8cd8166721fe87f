"""What every pose head offers, and the flip test written once over it.

A head (HeatmapHead, RTMCCHead, each sub-head of a MultiSourceHead) has:

- ``forward(feats) -> outputs``: a tensor (heatmaps) or a tuple of tensors (SimCC x, y),
  each (B, K, ...), keypoints on axis 1;
- ``loss(feats, targets, train_cfg=None, metas=None) -> dict``: ``targets`` is the packed
  batch's target dict, every entry (B, K, ...) or (B, ...); keys starting with 'loss' are
  summed by the engine;
- ``flip(outputs, flip_indices, test_cfg) -> outputs``: outputs of a horizontally flipped
  image brought back to the original frame (mirror and swap left/right channels);
- ``decode(outputs) -> (keypoints (B, K, 2) in input-crop pixels, scores (B, K))``;
- ``set_out_channels(num_keypoints, source)`` and ``out_channels``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.models.postprocess import Outputs, average


def take_rows(outputs: Outputs, rows: torch.Tensor | np.ndarray | slice) -> Outputs:
    """The outputs of some samples of the batch."""
    if isinstance(rows, np.ndarray):
        rows = torch.as_tensor(rows, dtype=torch.long)
    if isinstance(outputs, torch.Tensor):
        return outputs[rows]
    return tuple(o[rows] for o in outputs)


def predict_outputs(head: nn.Module, feats: Sequence[torch.Tensor],
                    flip_feats: Sequence[torch.Tensor] | None, flip_indices: Sequence[int],
                    test_cfg: Mapping[str, Any]) -> Outputs:
    """The head's outputs, fused with those of the flipped image when there is one."""
    outputs = head(feats)
    if flip_feats is None:
        return outputs
    return average(outputs, head.flip(head(flip_feats), flip_indices, test_cfg))
