"""Packing a finished sample for the model, and batching packed samples.

A packed sample is ``{'inputs', 'targets', 'meta'}`` (docs/contracts.md): the crop as a
uint8 CHW BGR tensor (normalised later, on the device: 4× less to move), training
targets as tensors with the instance axis dropped, and plain metadata for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from posemix.errors import PosemixError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require

DEFAULT_META_KEYS = (
    "id", "img_id", "img_path", "dataset_name", "source_index", "input_size", "input_center",
    "input_scale", "flip", "flip_direction", "flip_indices", "ori_shape", "bbox", "bbox_score",
    "area", "keypoints", "keypoints_visible",
)
# Per-instance values (leading axis of length 1 in a top-down sample): packed without it.
INSTANCE_KEYS = frozenset({
    "bbox", "bbox_score", "bbox_center", "bbox_scale", "bbox_rotation", "keypoints",
    "keypoints_visible", "keypoints_occluded", "keypoints_defined", "transformed_keypoints",
    "area", "category_id", "num_keypoints", "iscrowd",
})
# Targets that are maps over the crop (no instance axis) and per-instance labels.
TARGET_FIELD_KEYS = ("heatmaps", "instance_heatmaps", "heatmap_mask", "heatmap_weights",
                     "displacements", "displacement_weights")
TARGET_LABEL_KEYS = ("keypoint_weights", "keypoints_defined", "keypoint_x_labels",
                     "keypoint_y_labels", "keypoint_labels", "keypoints_visible_weights")


def _without_instance_axis(value: Any) -> Any:
    """A (1, ...) array without its instance axis; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == 1:
        return value[0]
    return value


def _plain(value: Any) -> Any:
    """A meta value: no instance axis, single numbers as Python scalars."""
    value = _without_instance_axis(value)
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def _to_tensor(value: Any, drop_instance_axis: bool) -> torch.Tensor | list[torch.Tensor]:
    if isinstance(value, list):  # one entry per encoder (GenerateTarget with a list)
        return [_to_tensor(v, drop_instance_axis) for v in value]
    array = np.asarray(value)
    if drop_instance_axis:
        array = _without_instance_axis(array)
    return torch.from_numpy(np.ascontiguousarray(array))


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) image → contiguous (C, H, W) tensor, same dtype and channel order."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@TRANSFORMS.register()
class PackPoseInputs(BaseTransform):
    """``results`` → ``{'inputs': (3, H, W) uint8 tensor, 'targets': {...}, 'meta': {...}}``.

    ``meta`` holds the ``meta_keys`` present in ``results`` (instance values lose their
    length-1 instance axis: ``bbox`` (4,), ``keypoints`` (K, 2), ``bbox_score`` a float);
    ``pack_transformed=True`` adds ``transformed_keypoints`` (K, 2) to it.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 pack_transformed: bool = False):
        self.meta_keys = tuple(meta_keys)
        self.pack_transformed = pack_transformed

    def __call__(self, results: dict) -> dict:
        targets = {key: _to_tensor(results[key], drop_instance_axis=False)
                   for key in TARGET_FIELD_KEYS if results.get(key) is not None}
        targets.update({key: _to_tensor(results[key], drop_instance_axis=True)
                        for key in TARGET_LABEL_KEYS if results.get(key) is not None})
        meta_keys = self.meta_keys + (("transformed_keypoints",) if self.pack_transformed else ())
        meta = {
            key: _plain(results[key]) if key in INSTANCE_KEYS else results[key]
            for key in meta_keys if key in results
        }
        inputs = image_to_tensor(require(results, "img", "PackPoseInputs"))
        return {"inputs": inputs, "targets": targets, "meta": meta}


def _stack(values: list, key: str) -> torch.Tensor | list[torch.Tensor]:
    if isinstance(values[0], list):  # per-encoder lists: stack each level
        return [torch.stack(level) for level in zip(*values, strict=True)]
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) > 1:
        raise PosemixError(f"collate: target '{key}' has different shapes in one batch: "
                           f"{sorted(shapes)}; all samples need the same pipeline and codec")
    return torch.stack(values)


def collate(batch: Sequence[dict]) -> dict:
    """Packed samples → ``{'inputs': (B, 3, H, W), 'targets': {key: (B, ...)}, 'meta': [...]}``.

    The ``collate_fn`` for ``torch.utils.data.DataLoader``. Every sample must carry the
    same target keys (one pipeline for all sources of a mixed dataset).
    """
    if not batch:
        raise PosemixError("collate: the batch is empty")
    keys = list(batch[0]["targets"])
    for sample in batch[1:]:
        if list(sample["targets"]) != keys:
            raise PosemixError(
                f"collate: samples in one batch carry different targets ({keys} vs "
                f"{list(sample['targets'])}); every source needs the same pipeline"
            )
    shapes = {tuple(s["inputs"].shape) for s in batch}
    if len(shapes) > 1:
        raise PosemixError(f"collate: inputs of different shapes in one batch: {sorted(shapes)}")
    return {
        "inputs": torch.stack([s["inputs"] for s in batch]),
        "targets": {key: _stack([s["targets"][key] for s in batch], key) for key in keys},
        "meta": [s["meta"] for s in batch],
    }
