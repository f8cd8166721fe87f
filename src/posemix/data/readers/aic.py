"""AI Challenger 2017 keypoints in either of their two file formats → InstanceTable.

The original release is a list of images, each ``{image_id: '<hash>',
human_annotations: {humanN: [x1, y1, x2, y2]}, keypoint_annotations: {humanN: 14 x
[x, y, v]}}`` with v = 1 visible, 2 labelled but occluded, 3 not labelled. MMPose
trains on a COCO-layout conversion of it (read by :func:`read_coco`). Both give the
same instances: the native codes become COCO's (1 → 2, 2 → 1, 3 → 0, with the
coordinates of unlabelled keypoints set to 0 as in the converted files), the boxes are
clipped the same way and the area falls back to MMPose's 0.53 · w · h.

The native file has no image sizes. With ``img_dir`` they are read from the image
headers (see :mod:`image_size`); without it width and height stay 0 (unknown) and the
boxes are not clipped. Images get ids 1, 2, ... in file order, instances ids 1, 2, ...
in reading order; the image file is ``image_id + '.jpg'``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from posemix.data.readers.coco import coco_from_data
from posemix.data.readers.common import (
    MISSING_BBOX,
    MISSING_KEYPOINTS,
    ImageColumns,
    RawInstances,
    check_codes,
    expect,
    finish_table,
    load_json,
    numeric_column,
    text,
)
from posemix.data.readers.image_size import image_size
from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError

AIC_NUM_KEYPOINTS = 14
NATIVE_TO_COCO_CODE = np.array([0, 2, 1, 0], dtype=np.uint8)  # index: native v (1, 2, 3)
NATIVE_CODES = {1: "visible", 2: "occluded", 3: "not labelled"}


def read_aic(path: str | os.PathLike, img_dir: str | os.PathLike | None = None,
             strict: bool = False) -> InstanceTable:
    """Read an AIC file in either format, told apart by the top level (list = native)."""
    path = str(path)
    data = load_json(path, skip_segmentation=True)
    if isinstance(data, list):
        return aic_native_from_data(path, data, img_dir, strict)
    return coco_from_data(path, data, AIC_NUM_KEYPOINTS, strict)


def read_aic_native(path: str | os.PathLike, img_dir: str | os.PathLike | None = None,
                    strict: bool = False) -> InstanceTable:
    """Read the original AI Challenger keypoint file (see the module docstring)."""
    path = str(path)
    return aic_native_from_data(path, load_json(path), img_dir, strict)


def aic_native_from_data(path: str, data: Any, img_dir: str | os.PathLike | None = None,
                         strict: bool = False) -> InstanceTable:
    """``read_aic_native`` on already parsed JSON."""
    expect(path, data, list, "a list of images (native AI Challenger format)")
    names, widths, heights = [], [], []
    seen: dict[str, int] = {}
    image_index, boxes, kpts, owners = [], [], [], []
    skipped = {MISSING_BBOX: 0, MISSING_KEYPOINTS: 0}
    for j, entry in enumerate(data):
        record = f"[{j}]"
        expect(path, entry, dict, "an object", record)
        hash_id = text(path, entry, "image_id", record)
        record = f"[{j}] (image_id {hash_id})"
        if hash_id in seen:
            raise AnnotationError(path, f"duplicate image (also record [{seen[hash_id]}])",
                                  record, "image_id")
        seen[hash_id] = j
        humans = _mapping(path, entry, "human_annotations", record)
        keypoints = _mapping(path, entry, "keypoint_annotations", record)
        names.append(hash_id + ".jpg")
        if img_dir is not None:
            width, height = image_size(os.path.join(img_dir, hash_id + ".jpg"))
        else:
            width = height = 0
        widths.append(width)
        heights.append(height)
        for human in list(humans) + [h for h in keypoints if h not in humans]:
            missing = [key for key, table in (("human_annotations", humans),
                                              ("keypoint_annotations", keypoints))
                       if human not in table]
            if missing:
                if strict:
                    raise AnnotationError(path, f"'{human}' is missing (strict mode)", record,
                                          missing[0])
                skipped[MISSING_BBOX if missing[0] == "human_annotations"
                        else MISSING_KEYPOINTS] += 1
                continue
            box, kp = humans[human], keypoints[human]
            if not isinstance(box, list) or len(box) != 4:
                raise AnnotationError(path, f"'{human}' should be [x1, y1, x2, y2]", record,
                                      "human_annotations")
            if not isinstance(kp, list) or len(kp) != 3 * AIC_NUM_KEYPOINTS:
                raise AnnotationError(path, f"'{human}' should hold {3 * AIC_NUM_KEYPOINTS} "
                                      "numbers (x, y, v for 14 keypoints)", record,
                                      "keypoint_annotations")
            image_index.append(j)
            boxes.append(box)
            kpts.append(kp)
            owners.append(f"{record}, {human}")

    def name(row: int) -> str:
        return owners[row]

    bbox = numeric_column(path, boxes, np.float64, "human_annotations", name).reshape(-1, 4)
    if (bbox[:, 2:] < bbox[:, :2]).any():
        row = int(np.argmax((bbox[:, 2:] < bbox[:, :2]).any(axis=1)))
        raise AnnotationError(path, f"box {boxes[row]} has a negative width or height",
                              name(row), "human_annotations")
    xyv = numeric_column(path, kpts, np.float64, "keypoint_annotations", name)
    xyv = xyv.reshape(-1, AIC_NUM_KEYPOINTS, 3)
    codes = xyv[..., 2]
    check_codes(path, codes, NATIVE_CODES, "keypoint_annotations", name)
    visibility = NATIVE_TO_COCO_CODE[codes.astype(np.int64)]
    keypoints = np.where(visibility[..., None] > 0, xyv[..., :2], 0).astype(np.float32)
    n = len(boxes)
    raw = RawInstances(
        image_index=np.array(image_index, dtype=np.int64), ann_id=np.arange(1, n + 1),
        bbox=bbox, keypoints=keypoints, visibility=visibility, area=np.full(n, np.nan),
        category_id=np.ones(n, np.int64), num_keypoints=(visibility > 0).sum(axis=1),
        iscrowd=np.zeros(n, np.uint8), skipped=skipped,
    )
    images = ImageColumns(
        image_id=np.arange(1, len(names) + 1, dtype=np.int64),
        file_name=StringColumn.from_strings(names),
        width=np.array(widths, dtype=np.int32), height=np.array(heights, dtype=np.int32),
    )
    return finish_table(path, images, raw)


def _mapping(path: str, entry: dict, key: str, record: str) -> dict:
    if key not in entry:
        raise AnnotationError(path, "required field is missing", record, key)
    return expect(path, entry[key], dict, "an object {humanN: ...}", record, key)
