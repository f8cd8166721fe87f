"""From raw head outputs to per-person keypoints in image space: flip-test fusion, decoding
by the codec, image-space conversion and ``output_keypoint_indices``.

One function for every backend: TopdownPoseEstimator calls it with the outputs of its
PyTorch head, the ONNX runtime (posemix.deploy) with the outputs of the exported graph,
so both decode the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from posemix.errors import ConfigError, PosemixError

_META_KEYS = ("input_size", "input_center", "input_scale")

# A head's outputs as its forward returns them: a tensor (heatmaps) or a tuple (SimCC x, y).
Outputs = torch.Tensor | tuple[torch.Tensor, ...]


class FlipsOutputs(Protocol):
    """What a head type offers for the flip test (a static method, no instance needed)."""

    @staticmethod
    def flip(outputs: Outputs, flip_indices: Sequence[int],
             test_cfg: Mapping[str, Any]) -> Outputs: ...

    @staticmethod
    def output_heatmaps(outputs: Outputs) -> torch.Tensor: ...


def as_outputs(raw: Outputs | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A head's forward result as a tuple: (heatmaps,) or (simcc_x, simcc_y)."""
    return (raw,) if isinstance(raw, torch.Tensor) else tuple(raw)


def as_raw(outputs: Outputs | Sequence[torch.Tensor]) -> Outputs:
    """Outputs in the head's own form (what its forward returns): the tensor of a one-output
    head, else the tuple; a graph's output list becomes what the head's ``flip`` takes."""
    outputs = as_outputs(outputs)
    return outputs[0] if len(outputs) == 1 else outputs


def average(a: Outputs, b: Outputs) -> Outputs:
    """The flip-test fusion: the mean of two head outputs, tuple entries one by one."""
    if isinstance(a, torch.Tensor):
        return (a + b) * 0.5
    return tuple((x + y) * 0.5 for x, y in zip(a, b, strict=True))


def check_metas(metas: Sequence[Mapping[str, Any]], batch: int) -> None:
    """Each sample's meta must say how its crop maps back to the image."""
    if len(metas) != batch:
        raise PosemixError(f"predict got {batch} images but {len(metas)} metas")
    for i, meta in enumerate(metas):
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise PosemixError(f"predict: meta of sample {i} lacks {', '.join(missing)}")


def to_image_space(keypoints: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """Input-crop keypoints (..., 2) → image space:
    ``kp / input_size * input_scale + input_center - 0.5 * input_scale`` (float64 maths,
    rotation ignored as there is none at test time)."""
    size, center, scale = (np.asarray(meta[k], dtype=np.float64) for k in _META_KEYS)
    out = keypoints.astype(np.float64) / size * scale + center - 0.5 * scale
    return out.astype(keypoints.dtype)


def decode_outputs(decoder: Any, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (B, K, 2) in input-crop space and scores (B, K): ``decoder.decode`` of each
    sample's outputs (``decode(heatmaps)`` or ``decode(simcc_x, simcc_y)``)."""
    if decoder is None:
        raise ConfigError("the head has no decoder: set head.decoder to the codec (e.g. "
                          "dict(type='MSRAHeatmap', ...)) to predict keypoints")
    arrays = [o.detach().float().cpu().numpy() for o in as_outputs(outputs)]
    decoded = [decoder.decode(*(a[i] for a in arrays)) for i in range(len(arrays[0]))]
    keypoints = np.concatenate([k for k, _ in decoded], axis=0)
    # a codec that also decodes visibility (SimCCLabel decode_visibility) gives (scores, vis)
    scores = np.concatenate([s[0] if isinstance(s, tuple) else s for _, s in decoded], axis=0)
    return keypoints, scores


def predictions(outputs: Outputs, flipped: Outputs | None, head_type: FlipsOutputs,
                decoder: Any, metas: Sequence[Mapping[str, Any]],
                test_cfg: Mapping[str, Any], flip_indices: Sequence[int] | None
                ) -> list[dict[str, np.ndarray]]:
    """Per sample ``keypoints`` (1, K', 2) in image space and ``keypoint_scores`` (1, K')
    (plus ``heatmaps`` (K', h, w) with ``test_cfg.output_heatmaps``).

    ``outputs`` in the head's form or as the graph's list of outputs; ``flipped`` are the
    head's outputs on the horizontally flipped batch (or None): they are brought back by
    ``head_type.flip`` and averaged with ``outputs``.
    """
    outputs = as_raw(outputs)
    if flipped is not None:
        outputs = average(outputs, head_type.flip(as_raw(flipped), flip_indices, test_cfg))
    keypoints, scores = decode_outputs(decoder, outputs)
    heatmaps = (head_type.output_heatmaps(outputs).cpu().numpy()
                if test_cfg.get("output_heatmaps", False) else None)
    select = test_cfg.get("output_keypoint_indices")
    select = slice(None) if select is None else [int(i) for i in select]
    results = []
    for i, meta in enumerate(metas):
        result = {"keypoints": to_image_space(keypoints[i:i + 1], meta)[:, select],
                  "keypoint_scores": scores[i:i + 1, select]}
        if heatmaps is not None:
            result["heatmaps"] = heatmaps[i, select]
        results.append(result)
    return results
