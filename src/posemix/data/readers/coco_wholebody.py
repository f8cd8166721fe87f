"""COCO-WholeBody keypoint files → InstanceTable (133 keypoints).

A COCO-WholeBody annotation splits a person's keypoints over five fields; MMPose's
CocoWholeBodyDataset concatenates them in this order: ``keypoints`` (body 17),
``foot_kpts`` (6), ``face_kpts`` (68), ``lefthand_kpts`` (21), ``righthand_kpts`` (21).
Everything else (boxes, clipping, filters, ``num_keypoints`` of the body) is COCO's, so
the parts are joined per record and the result is read as a 133-keypoint COCO file.
"""

from __future__ import annotations

import os

from posemix.data.readers.coco import coco_from_data
from posemix.data.readers.common import expect, load_json
from posemix.data.table import InstanceTable
from posemix.errors import AnnotationError

# (field, keypoint count) in MMPose's order
PARTS = (("keypoints", 17), ("foot_kpts", 6), ("face_kpts", 68), ("lefthand_kpts", 21),
         ("righthand_kpts", 21))
NUM_KEYPOINTS = sum(n for _, n in PARTS)


def read_coco_wholebody(path: str | os.PathLike, strict: bool = False) -> InstanceTable:
    """Read a COCO-WholeBody file; a record missing one of the parts is an error naming it
    (a record without ``bbox`` or body ``keypoints`` is skipped, as in COCO)."""
    path = str(path)
    data = load_json(path, skip_segmentation=True)
    expect(path, data, dict, "a COCO object with 'images' and 'annotations' at the top level")
    annotations = expect(path, data.get("annotations", []), list, "a list",
                         field_name="annotations")
    joined = []
    for i, ann in enumerate(annotations):
        record = f"annotations[{i}]"
        expect(path, ann, dict, "an object", record)
        if "keypoints" not in ann:
            joined.append(ann)  # the COCO reader skips (or, strict, rejects) it
            continue
        keypoints: list = []
        for field, count in PARTS:
            part = ann.get(field)
            if not isinstance(part, list) or len(part) != 3 * count:
                got = "missing" if part is None else f"{type(part).__name__} of " \
                    f"{len(part) if isinstance(part, list) else '?'} values"
                raise AnnotationError(path, f"expected a list of {3 * count} numbers (x, y, v "
                                      f"for {count} keypoints), got {got}",
                                      f"{record} (id {ann.get('id')})", field)
            keypoints.extend(part)
        joined.append({**ann, "keypoints": keypoints})
    return coco_from_data(path, {**data, "annotations": joined}, NUM_KEYPOINTS, strict)
