"""COCO-layout keypoint files → InstanceTable.

Covers COCO itself, AIC as MMPose distributes it (no ``area``, no ``iscrowd``), CrowdPose
(``crowdIndex`` per image), Halpe, OCHuman, PoseTrack18, JHMDB and any custom set in
the same layout. One Python pass over the records collects the values; the numbers
become numpy columns in a few calls at the end.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from posemix.data.readers.common import (
    MISSING_BBOX,
    MISSING_KEYPOINTS,
    ImageColumns,
    RawInstances,
    coco_visibility,
    expect,
    finish_table,
    integer,
    load_json,
    number,
    numeric_column,
    text,
)
from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError


def read_coco(path: str | os.PathLike, num_keypoints: int | None = None, strict: bool = False,
              *, one_based: bool = False) -> InstanceTable:
    """Read a COCO-layout keypoint file, with MMPose's clipping, area fallback and filters.

    ``num_keypoints`` (K) is checked against every record; without it K comes from the
    categories' ``keypoints`` list, else from the first record. Records without ``bbox``
    or ``keypoints`` are skipped and counted (as MMPose does), or an error if ``strict``.
    ``one_based`` reads MATLAB-style coordinates as MMPose's JhmdbDataset does: box corner
    and keypoints shifted by -1 before clipping, ``num_keypoints`` and ``area`` always
    derived.
    """
    path = str(path)
    return coco_from_data(path, load_json(path), num_keypoints, strict, one_based=one_based)


def coco_from_data(path: str, data: Any, num_keypoints: int | None = None, strict: bool = False,
                   *, one_based: bool = False) -> InstanceTable:
    """``read_coco`` on already parsed JSON (``path`` only names the file in errors)."""
    expect(path, data, dict, "a COCO object with 'images' and 'annotations' at the top level")
    for key in ("images", "annotations"):
        if key not in data:
            raise AnnotationError(path, "required top-level field is missing", field=key)
    images = expect(path, data["images"], list, "a list", field_name="images")
    annotations = expect(path, data["annotations"], list, "a list", field_name="annotations")
    categories = expect(path, data.get("categories", []), list, "a list",
                        field_name="categories")
    image_columns, position = _read_images(path, images)
    k = _keypoint_count(path, num_keypoints, categories, annotations)
    raw = _read_annotations(path, annotations, position, k, strict, one_based)
    return finish_table(path, image_columns, raw)


def _read_images(path: str, images: list) -> tuple[ImageColumns, dict[int, int]]:
    ids, names, widths, heights, crowd = [], [], [], [], []
    position: dict[int, int] = {}
    for j, img in enumerate(images):
        record = f"images[{j}]"
        expect(path, img, dict, "an object", record)
        image_id = integer(path, img, "id", record)
        record = f"images[{j}] (id {image_id})"
        if image_id in position:
            raise AnnotationError(path, f"duplicate image id (also images[{position[image_id]}])",
                                  record, "id")
        position[image_id] = j
        ids.append(image_id)
        names.append(text(path, img, "file_name", record))
        for key, out in (("width", widths), ("height", heights)):
            size = number(path, img, key, record)
            if size < 0:
                raise AnnotationError(path, f"is negative ({size})", record, key)
            out.append(size)
        crowd.append(number(path, img, "crowdIndex", record, default=np.nan))
    crowd_index = np.array(crowd, dtype=np.float32)
    columns = ImageColumns(
        image_id=np.array(ids, dtype=np.int64), file_name=StringColumn.from_strings(names),
        width=np.array(widths, dtype=np.float64).astype(np.int32),
        height=np.array(heights, dtype=np.float64).astype(np.int32),
        crowd_index=crowd_index if np.isfinite(crowd_index).any() else None,
    )
    return columns, position


def _keypoint_count(path: str, given: int | None, categories: list, annotations: list) -> int:
    if given is not None:
        return int(given)
    for c, category in enumerate(categories):
        expect(path, category, dict, "an object", f"categories[{c}]")
        if isinstance(category.get("keypoints"), list):
            return len(category["keypoints"])
    for i, ann in enumerate(annotations):
        if isinstance(ann, dict) and isinstance(ann.get("keypoints"), list):
            if len(ann["keypoints"]) % 3:
                raise AnnotationError(path, f"has {len(ann['keypoints'])} values, not a "
                                      "multiple of 3 (x, y, v per keypoint)",
                                      f"annotations[{i}]", "keypoints")
            return len(ann["keypoints"]) // 3
    return 0


def _read_annotations(path: str, annotations: list, position: dict[int, int], k: int,
                      strict: bool, one_based: bool) -> RawInstances:
    kept: list[int] = []  # index into ``annotations`` of each collected record
    image_index, ann_ids, boxes, kpts = [], [], [], []
    areas, counts, categories, crowds = [], [], [], []
    skipped = {MISSING_BBOX: 0, MISSING_KEYPOINTS: 0}
    for i, ann in enumerate(annotations):
        record = f"annotations[{i}]"
        expect(path, ann, dict, "an object", record)
        ann_id = integer(path, ann, "id", record)
        record = f"annotations[{i}] (id {ann_id})"
        if "image_id" not in ann:
            raise AnnotationError(path, "required field is missing", record, "image_id")
        try:
            pos = position[ann["image_id"]]
        except (KeyError, TypeError):
            raise AnnotationError(path, f"refers to unknown image id {ann['image_id']!r}",
                                  record, "image_id") from None
        missing = [key for key in ("bbox", "keypoints") if key not in ann]
        if missing:
            if strict:
                raise AnnotationError(path, "required field is missing (strict mode)", record,
                                      missing[0])
            skipped[MISSING_BBOX if "bbox" in missing else MISSING_KEYPOINTS] += 1
            continue
        bbox, keypoints = ann["bbox"], ann["keypoints"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(path, f"expected a list of 4 numbers [x, y, w, h], got "
                                  f"{_short(bbox)}", record, "bbox")
        if not isinstance(keypoints, list) or len(keypoints) != 3 * k:
            raise AnnotationError(path, f"expected a list of {3 * k} numbers (x, y, v for "
                                  f"{k} keypoints), got {_short(keypoints)}", record, "keypoints")
        kept.append(i)
        image_index.append(pos)
        ann_ids.append(ann_id)
        boxes.append(bbox)
        kpts.append(keypoints)
        areas.append(number(path, ann, "area", record, default=np.nan))
        counts.append(number(path, ann, "num_keypoints", record, default=-1))
        categories.append(integer(path, ann, "category_id", record, default=1))
        crowds.append(ann.get("iscrowd", 0))

    def name(row: int) -> str:
        return f"annotations[{kept[row]}] (id {ann_ids[row]})"

    xywh = numeric_column(path, boxes, np.float64, "bbox", name).reshape(-1, 4)
    if (xywh[:, 2:] < 0).any():
        row = int(np.argmax((xywh[:, 2:] < 0).any(axis=1)))
        raise AnnotationError(path, f"has a negative width or height: {boxes[row]}", name(row),
                              "bbox")
    xyk = numeric_column(path, kpts, np.float64, "keypoints", name).reshape(len(kpts), k, 3)
    crowd = numeric_column(path, crowds, np.float64, "iscrowd", name)
    keypoints = xyk[..., :2].astype(np.float32)
    area = np.array(areas, dtype=np.float64)
    count = np.array(counts, dtype=np.float64)
    if (count >= 0).any() and (count[count >= 0] != np.round(count[count >= 0])).any():
        row = int(np.argmax((count >= 0) & (count != np.round(count))))
        raise AnnotationError(path, f"expected an integer, got {counts[row]}", name(row),
                              "num_keypoints")
    if one_based:
        xywh[:, :2] -= 1
        keypoints -= 1
        area[:] = np.nan
        count[:] = -1
    bbox = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return RawInstances(
        image_index=np.array(image_index, dtype=np.int64), ann_id=np.array(ann_ids, np.int64),
        bbox=bbox, keypoints=keypoints, visibility=coco_visibility(xyk[..., 2]), area=area,
        category_id=np.array(categories, dtype=np.int64), num_keypoints=count.astype(np.int64),
        iscrowd=(crowd != 0).astype(np.uint8), skipped=skipped,
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
