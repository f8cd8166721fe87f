"""Person detections (a COCO results file) → InstanceTable, for top-down testing.

As MMPose's ``_load_detection_results``: a list of ``{image_id, category_id, bbox: [x, y,
w, h], score}``; entries whose ``category_id`` is not 1 are skipped (counted); the box
becomes xyxy without clipping; keypoints are dummies (0, 0) marked labelled; instance ids
count 0, 1, 2, ... over the kept detections. The images come from the ground-truth table.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from posemix.data.readers.common import (
    AREA_FACTOR,
    expect,
    integer,
    load_json,
    numeric_column,
)
from posemix.data.table import InstanceTable
from posemix.errors import AnnotationError

NOT_PERSON = "category_not_person"


def read_detections(bbox_file: str | os.PathLike, images: InstanceTable,
                    num_keypoints: int | None = None) -> InstanceTable:
    """Detections of ``bbox_file`` on the images of ``images`` (a ground-truth table).

    ``num_keypoints`` sets K of the dummy keypoints (default: the ground-truth table's K).
    """
    path = str(bbox_file)
    data = expect(path, load_json(path), list, "a list of detections")
    position = {int(image_id): j for j, image_id in enumerate(images.image_id)}
    image_index, boxes, scores, records = [], [], [], []
    skipped = 0
    for i, det in enumerate(data):
        record = f"[{i}]"
        expect(path, det, dict, "an object", record)
        if integer(path, det, "category_id", record) != 1:
            skipped += 1
            continue
        image_id = integer(path, det, "image_id", record)
        if image_id not in position:
            raise AnnotationError(path, f"refers to image id {image_id}, which is not in "
                                  f"{images.source_file or 'the ground-truth file'}", record,
                                  "image_id")
        bbox = det.get("bbox")
        if not isinstance(bbox, list) or len(bbox) < 4:
            raise AnnotationError(path, "expected [x, y, w, h]", record, "bbox")
        if "score" not in det:
            raise AnnotationError(path, "required field is missing", record, "score")
        image_index.append(position[image_id])
        boxes.append(bbox[:4])
        scores.append(det["score"])
        records.append(record)

    def name(row: int) -> str:
        return records[row]

    xywh = numeric_column(path, boxes, np.float32, "bbox", name).reshape(-1, 4)
    score = numeric_column(path, scores, np.float32, "score", name)
    negative = (xywh[:, 2:] < 0).any(axis=1)
    if negative.any():
        row = int(np.argmax(negative))
        raise AnnotationError(path, f"has a negative width or height: {boxes[row]}", name(row),
                              "bbox")
    bbox = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    n, k = len(boxes), images.keypoint_count if num_keypoints is None else num_keypoints
    area = np.maximum(xywh[:, 2].astype(np.float64) * xywh[:, 3] * AREA_FACTOR, 1.0)
    return dataclasses.replace(
        images, image_index=np.array(image_index, dtype=np.int32), ann_id=np.arange(n),
        bbox=bbox, bbox_score=score, keypoints=np.zeros((n, k, 2), np.float32),
        visibility=np.full((n, k), 2, np.uint8), area=area, category_id=np.ones(n),
        num_keypoints=np.zeros(n), iscrowd=np.zeros(n), defined=np.ones(k, bool),
        bbox_center=None, bbox_scale=None, source_file=path,
        filter_report={NOT_PERSON: skipped},
    )
