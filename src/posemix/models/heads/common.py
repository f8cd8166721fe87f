"""What every pose head offers, and the flip test written once over it.

A head (HeatmapHead, RTMCCHead, each sub-head of a MultiSourceHead) has:

- ``forward(feats) -> outputs``: a tensor (heatmaps) or a tuple of tensors (SimCC x, y),
  each (B, K, ...), keypoints on axis 1;
- ``loss(feats, targets, train_cfg=None, metas=None) -> dict``: ``targets`` is the packed
  batch's target dict, every entry (B, K, ...) or (B, ...); keys starting with 'loss' are
  summed by the engine;
- ``flip(outputs, flip_indices, test_cfg) -> outputs`` (static, so a backend without the
  module, ONNX, flips the same way): outputs of a horizontally flipped image brought back to
  the original frame (mirror and swap left/right channels);
- ``output_heatmaps(outputs)`` (static): maps to show for ``test_cfg.output_heatmaps``;
- ``output_names``: forward's outputs by name (an exported graph's outputs);
- ``TARGET_KEYS`` / ``TARGET_CODEC``: the targets ``loss`` reads, and the codec making them;
- ``decode(outputs) -> (keypoints (B, K, 2) in input-crop pixels, scores (B, K))``;
- ``set_out_channels(num_keypoints, source)`` and ``out_channels``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.errors import PosemixError
from posemix.models.postprocess import Outputs, average


def head_targets(head: nn.Module, targets: Mapping[str, torch.Tensor],
                 device: torch.device) -> list[torch.Tensor]:
    """The head's ``TARGET_KEYS`` entries of the batch's targets, on ``device``; a clear error
    naming the codec the head needs when the pipeline made other targets."""
    missing = [k for k in head.TARGET_KEYS if k not in targets]
    if missing:
        raise PosemixError(f"training targets lack {', '.join(missing)}; a "
                           f"{type(head).__name__} needs GenerateTarget with "
                           f"{head.TARGET_CODEC} in the pipeline")
    return [targets[k].to(device, non_blocking=True) for k in head.TARGET_KEYS]


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
