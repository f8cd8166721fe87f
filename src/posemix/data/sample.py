"""The sample dict of one table row: what enters the shared top-down pipeline.

Datasets and CombinedDataset both build samples here, so a sample looks the same
whichever of them produced it (keys and dtypes of docs/contracts.md, MMPose's names).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from posemix.data.table import InstanceTable
from posemix.keypoints import KeypointSchema


def sample_from_table(table: InstanceTable, i: int, img_prefix: str,
                      schema: KeypointSchema) -> dict[str, Any]:
    """Row ``i`` of ``table`` as a fresh sample dict (every array is a copy).

    Keypoint layout keys (``keypoints``, visibility, ``keypoints_defined``) follow the
    table; the metainfo keys (flip indices, body ids, joint weights, skeleton, name)
    follow ``schema``, so the two must describe the same layout.
    """
    image = int(table.image_index[i])
    visibility = table.visibility[i][None]
    sample: dict[str, Any] = {
        "img_path": os.path.join(img_prefix, table.file_name[image]),
        "img_id": int(table.image_id[image]),
        "id": int(table.ann_id[i]),
        "ori_shape": (int(table.height[image]), int(table.width[image])),
        "bbox": table.bbox[i][None].copy(),
        "bbox_score": table.bbox_score[i][None].copy(),
        "keypoints": table.keypoints[i][None].copy(),
        "keypoints_visible": (visibility > 0).astype(np.float32),
        "keypoints_occluded": visibility == 1,
        "keypoints_defined": table.defined[None].astype(np.float32),
        "area": np.float32(table.area[i]),
        "category_id": int(table.category_id[i]),
        "num_keypoints": int(table.num_keypoints[i]),
        "iscrowd": int(table.iscrowd[i]),
        "flip_indices": list(schema.flip_indices),
        "upper_body_ids": list(schema.upper_body_ids),
        "lower_body_ids": list(schema.lower_body_ids),
        "dataset_keypoint_weights": schema.joint_weights.copy(),
        "skeleton_links": list(schema.skeleton),
        "dataset_name": schema.name,
        "sample_idx": int(i),
    }
    if table.crowd_index is not None:
        sample["crowd_index"] = float(table.crowd_index[image])
    if table.bbox_center is not None:
        sample["bbox_center"] = table.bbox_center[i][None].copy()
        sample["bbox_scale"] = table.bbox_scale[i][None].copy()
    return sample
