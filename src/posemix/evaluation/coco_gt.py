"""COCO-format ground truth for the COCO metric: read (and checked), or written.

Reading: every field faster-coco-eval uses is checked first (ids are integers, keypoints
and boxes finite numbers, ...), so that a bad file is an AnnotationError naming the file,
record and field, never a TypeError from inside the evaluator. Files without ``area`` /
``iscrowd`` (AIC, CrowdPose) load; a missing area (or any area when ``use_area=False``)
becomes ``0.53 * w * h`` of the GT box, which is what xtcocotools uses both for the OKS
scale and for the medium/large split. A GT is ignored when none of its keypoints is
labelled (xtcocotools counts ``v > 0``; faster-coco-eval reads ``num_keypoints``, so that
field is recomputed).

Writing: the native AI Challenger and MPII files are lists of records, so for them the
ground truth is written from the source's instance table: same image ids, boxes and
keypoints as the samples carry, and no ``area`` (those formats have none, so OKS is
scaled by 0.53·w·h, MMPose's ``use_area=False``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from faster_coco_eval import COCO

from posemix.errors import AnnotationError
from posemix.keypoints import KeypointSchema

logger = logging.getLogger(__name__)

# xtcocotools' stand-in for a GT's area when the file has none (or use_area=False).
AREA_FROM_BOX = 0.53
ID_RANGE = 2 ** 63  # ids go to int64 in the evaluator


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -ID_RANGE <= value < ID_RANGE


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float64
        return False


def _numbers(value: Any) -> np.ndarray | None:
    """A list of finite numbers as float64, else None."""
    if not isinstance(value, list) or not all(map(_is_number, value)):
        return None
    return np.asarray(value, dtype=np.float64).reshape(-1)


def load_coco_gt(path: str | os.PathLike, use_area: bool) -> tuple[COCO, int]:
    """Load and check a COCO-format keypoint annotation file for evaluation.

    Returns the faster-coco-eval COCO object and the number of keypoints per annotation.
    Fills ``iscrowd`` (0), ``area`` (``0.53 * w * h`` when missing or not ``use_area``)
    and ``num_keypoints`` (labelled count), as explained in the module docstring.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(path, f"cannot be read as JSON ({exc})") from None
    except RecursionError:
        raise AnnotationError(path, "cannot be read as JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise AnnotationError(path, "is not a COCO json object")
    for field in ("annotations", "images", "categories"):
        if not isinstance(data.get(field), list):
            raise AnnotationError(path, f"has no '{field}' list", field=field)
    for field in ("images", "categories"):
        for index, item in enumerate(data[field]):
            if not isinstance(item, dict) or not _is_id(item.get("id")):
                raise AnnotationError(path, f"{field} entries need an integer 'id'",
                                      record=f"{field}[{index}]", field="id")
    sizes = {_check_annotation(path, index, ann, use_area)
             for index, ann in enumerate(data["annotations"])}
    if len(sizes) > 1:
        raise AnnotationError(path, f"annotations have different keypoint counts {sorted(sizes)}",
                              field="keypoints")
    num_keypoints = sizes.pop() if sizes else 0
    return COCO(data, print_function=logger.debug), num_keypoints


def _check_annotation(path: Path, index: int, ann: Any, use_area: bool) -> int:
    """Check one annotation and fill its derived fields in place; its keypoint count."""
    if not isinstance(ann, dict):
        raise AnnotationError(path, "annotation is not an object", record=f"#{index}")
    record = ann["id"] if _is_id(ann.get("id")) else f"#{index}"
    for field in ("id", "image_id", "category_id"):
        if not _is_id(ann.get(field)):
            raise AnnotationError(path, "must be an integer", record=record, field=field)
    kpts = _numbers(ann.get("keypoints"))
    if kpts is None or kpts.size % 3:
        raise AnnotationError(path, "must be a flat list of x, y, v triples (finite numbers)",
                              record=record, field="keypoints")
    box = _numbers(ann.get("bbox"))
    if box is None or box.shape != (4,) or (box[2:] < 0).any():
        raise AnnotationError(path, "must be [x, y, w, h] (finite numbers, w and h >= 0)",
                              record=record, field="bbox")
    if ann.setdefault("iscrowd", 0) not in (0, 1) or isinstance(ann["iscrowd"], float):
        raise AnnotationError(path, "must be 0 or 1", record=record, field="iscrowd")
    if use_area and "area" in ann:
        if not _is_number(ann["area"]) or ann["area"] < 0:
            raise AnnotationError(path, "must be a finite number >= 0", record=record,
                                  field="area")
        ann["area"] = float(ann["area"])
    else:
        with np.errstate(over="ignore"):
            ann["area"] = float(box[2] * box[3] * AREA_FROM_BOX)
        if not math.isfinite(ann["area"]):
            raise AnnotationError(path, "the box is too large for an area", record=record,
                                  field="bbox")
    # as floats: a huge integer would make the evaluator's arrays of Python objects
    ann["keypoints"], ann["bbox"] = kpts.tolist(), box.tolist()
    ann["num_keypoints"] = int(np.count_nonzero(kpts[2::3] > 0))
    return kpts.size // 3


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
