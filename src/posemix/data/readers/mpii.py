"""MPII Human Pose json (as MMPose distributes it) → InstanceTable.

Each record is ``{image, center: [x, y], scale, joints: K x [x, y], joints_vis: K x 0/1}``.
As MMPose 1.x's MpiiDataset does: the box size is ``scale * 200`` square; the centre
moves down by ``15 / 200 * size`` (unless ``center[0] == -1``) and then by -1 on both
axes (MATLAB 1-based → 0-based); the box is ``centre ± size / 2``, not clipped. The
centre and size are also kept as the ``bbox_center`` / ``bbox_scale`` columns, because
MMPose hands them to the pipeline as they are (``GetBBoxCenterScale`` then only pads).
``joints_vis`` 1 becomes COCO code 2, 0 becomes 0. The file has no image sizes (0 in
the table), areas (0.53 · w · h is used, as for COCO files without ``area``), crowd
flags or categories (1). Image ids are the file names' numbers; instance ids 0, 1, ...
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from posemix.data.readers.common import (
    ImageColumns,
    RawInstances,
    expect,
    finish_table,
    load_json,
    number,
    numeric_column,
    text,
)
from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError

PIXEL_STD = 200.0
CENTER_SHIFT = 15.0  # MMPose moves the centre down by 15/200 of the box size


def read_mpii(path: str | os.PathLike, num_keypoints: int | None = None) -> InstanceTable:
    """Read an MPII json file; K comes from ``num_keypoints`` or the first record."""
    path = str(path)
    data = expect(path, load_json(path), list, "a list of MPII records")
    image_pos: dict[str, int] = {}
    image_ids: list[int] = []
    image_index, centers, scales, joints, vis = [], [], [], [], []
    k = num_keypoints
    for i, rec in enumerate(data):
        record = f"[{i}]"
        expect(path, rec, dict, "an object", record)
        image = text(path, rec, "image", record)
        record = f"[{i}] (image {image})"
        if image not in image_pos:
            try:
                image_ids.append(int(Path(image).stem))
            except ValueError:
                raise AnnotationError(path, f"image name '{image}' has no numeric id (MPII "
                                      "names are like 015601864.jpg)", record, "image") from None
            image_pos[image] = len(image_pos)
        image_index.append(image_pos[image])
        for key in ("center", "joints", "joints_vis"):
            if key not in rec:
                raise AnnotationError(path, "required field is missing", record, key)
        center = expect(path, rec["center"], list, "a list [x, y]", record, "center")
        if len(center) != 2:
            raise AnnotationError(path, f"expected [x, y], got {len(center)} values", record,
                                  "center")
        scale = number(path, rec, "scale", record)
        if scale < 0:
            raise AnnotationError(path, f"is negative ({scale})", record, "scale")
        pts = expect(path, rec["joints"], list, "a list of [x, y] pairs", record, "joints")
        flags = expect(path, rec["joints_vis"], list, "a list of 0/1 flags", record,
                       "joints_vis")
        k = len(pts) if k is None else k
        if len(pts) != k or len(flags) != k:
            raise AnnotationError(path, f"expected {k} joints and {k} joints_vis, got "
                                  f"{len(pts)} and {len(flags)}", record, "joints")
        flat: list = []
        for pt in pts:
            if not isinstance(pt, list) or len(pt) != 2:
                raise AnnotationError(path, f"every joint must be an [x, y] pair, got {pt!r}",
                                      record, "joints")
            flat.extend(pt)
        centers.append(center)
        scales.append(scale)
        joints.append(flat)
        vis.append(flags)

    def name(row: int) -> str:
        return f"[{row}]"

    k = k or 0
    center = numeric_column(path, centers, np.float32, "center", name).reshape(-1, 2)
    scale = numeric_column(path, scales, np.float32, "scale", name)
    xy = numeric_column(path, joints, np.float32, "joints", name)
    flags = numeric_column(path, vis, np.float64, "joints_vis", name).reshape(len(vis), k)

    # float32 steps in MMPose's order, each rounded as numpy rounds them there
    size = scale.astype(np.float32) * np.float32(PIXEL_STD)
    center32 = center.astype(np.float32)
    moved = center32[:, 1].astype(np.float64) + CENTER_SHIFT / PIXEL_STD * size.astype(np.float64)
    center32[:, 1] = np.where(center32[:, 0] != -1, moved.astype(np.float32), center32[:, 1])
    center32 -= np.float32(1)
    scale32 = np.repeat(size[:, None], 2, axis=1)
    with np.errstate(over="ignore"):
        bbox = np.concatenate([center32 - 0.5 * scale32, center32 + 0.5 * scale32], axis=1)
    beyond = ~np.isfinite(bbox).all(axis=1)
    if beyond.any():
        row = int(np.argmax(beyond))
        raise AnnotationError(path, "center and scale give a box beyond the float32 range",
                              name(row), "scale")
    n = len(data)
    visibility = np.where(flags > 0, 2, 0).astype(np.uint8)
    raw = RawInstances(
        image_index=np.array(image_index, dtype=np.int64), ann_id=np.arange(n),
        bbox=bbox.astype(np.float64), keypoints=xy.reshape(len(joints), k, 2).astype(np.float32),
        visibility=visibility, area=np.full(n, np.nan), category_id=np.ones(n, np.int64),
        num_keypoints=(visibility > 0).sum(axis=1), iscrowd=np.zeros(n, np.uint8),
        bbox_center=center32, bbox_scale=scale32,
    )
    images = ImageColumns(
        image_id=np.array(image_ids, dtype=np.int64),
        file_name=StringColumn.from_strings(list(image_pos)),
        width=np.zeros(len(image_ids), np.int32), height=np.zeros(len(image_ids), np.int32),
    )
    return finish_table(path, images, raw, check_counts=False)
