"""COCO-format ground truth for sources whose own files are not COCO json.

The COCO metric reads a COCO keypoint file. The native AI Challenger and MPII files are
lists of records, so for them the ground truth is written from the source's instance
table: same image ids, boxes and keypoints as the samples carry, and no ``area`` (those
formats have none, so OKS is scaled by 0.53·w·h, MMPose's ``use_area=False``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from posemix.keypoints import KeypointSchema


def is_coco_layout(path: str | os.PathLike) -> bool:
    """True when the file is a JSON object (COCO layout), not a list of records."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head[:1] == b"{"


def table_to_coco(table: Any, schema: KeypointSchema, with_area: bool = False) -> dict:
    """A COCO keypoint GT dict of the instances in ``table`` (the source's own layout);
    ``with_area`` writes the table's areas (else the metric derives them from the boxes)."""
    used = np.unique(table.image_index)
    images = [{"id": int(table.image_id[i]), "file_name": table.file_name[int(i)],
               "width": int(table.width[i]), "height": int(table.height[i])} for i in used]
    keypoints = np.concatenate([table.keypoints, table.visibility[..., None]], axis=2)
    xywh = np.concatenate([table.bbox[:, :2], table.bbox[:, 2:] - table.bbox[:, :2]], axis=1)
    annotations = [
        {"id": int(table.ann_id[n]), "image_id": int(table.image_id[table.image_index[n]]),
         "category_id": 1, "bbox": [float(v) for v in xywh[n]], "iscrowd": int(table.iscrowd[n]),
         "num_keypoints": int((table.visibility[n] > 0).sum()),
         "keypoints": [float(v) for v in keypoints[n].reshape(-1)],
         **({"area": float(table.area[n])} if with_area else {})}
        for n in range(len(table))
    ]
    category = {"id": 1, "name": "person", "supercategory": "person",
                "keypoints": list(schema.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in schema.skeleton]}
    return {"images": images, "annotations": annotations, "categories": [category]}


def write_coco_gt(table: Any, schema: KeypointSchema, path: str | os.PathLike,
                  with_area: bool = False) -> Path:
    """Write ``table_to_coco`` to ``path`` (temp file + rename) and return the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(table_to_coco(table, schema, with_area)), encoding="utf-8")
    os.replace(tmp, path)
    return path
