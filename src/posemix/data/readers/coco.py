"""COCO-layout keypoint files → InstanceTable.

Covers COCO itself, AIC as MMPose distributes it (no ``area``, no ``iscrowd``), CrowdPose
(``crowdIndex`` per image), Halpe, OCHuman, PoseTrack18, JHMDB and any custom set in
the same layout. Columns are pulled out of the parsed records with one list
comprehension each and checked in bulk (types, lengths, ranges); only when a bulk check
fails does a record-by-record pass run, to name the first bad record exactly as it
always does. Both passes give the same table on valid input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from posemix.data.readers.common import (
    MISSING_BBOX,
    MISSING_KEYPOINTS,
    ImageColumns,
    RawInstances,
    check_codes,
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

# COCO's keypoint visibility flags; any other value is an error (AIC's native codes differ)
COCO_CODES = {0: "not labelled", 1: "labelled, not visible", 2: "visible"}


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
    return coco_from_data(path, load_json(path, skip_segmentation=True), num_keypoints, strict,
                          one_based=one_based)


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
    image_columns, position = _images_in_bulk(images) or _read_images(path, images)
    k = _keypoint_count(path, num_keypoints, categories, annotations)
    collected = (_annotations_in_bulk(annotations, position, k, strict)
                 or _collect_annotations(path, annotations, position, k, strict))
    raw = _columns(path, collected, k, one_based, _category_ids(path, categories))
    return finish_table(path, image_columns, raw)


# -- bulk passes: None means "something is irregular, use the record-by-record pass" ------
_MISSING = object()
MAX_SIDE = 2**31 - 1  # image sides are stored as int32
_NUMBER_TYPES = frozenset({int, float})


def _types(values: list) -> set[type]:
    return set(map(type, values))


def _images_in_bulk(images: list) -> tuple[ImageColumns, dict[int, int]] | None:
    if _types(images) - {dict}:
        return None
    ids = [img.get("id") for img in images]
    names = [img.get("file_name") for img in images]
    widths = [img.get("width") for img in images]
    heights = [img.get("height") for img in images]
    crowd = [img.get("crowdIndex", np.nan) for img in images]
    if (_types(ids) - {int} or _types(names) - {str} or _types(widths) - _NUMBER_TYPES
            or _types(heights) - _NUMBER_TYPES or _types(crowd) - _NUMBER_TYPES):
        return None
    position = dict(zip(ids, range(len(ids)), strict=True))
    if len(position) != len(ids):
        return None  # duplicate ids
    try:
        image_id = np.array(ids, dtype=np.int64)
    except OverflowError:
        return None
    sizes = np.array([widths, heights], dtype=np.float64).reshape(2, -1)
    crowd_index = np.array(crowd, dtype=np.float64)
    given_crowd = [c for c in crowd if c is not np.nan]
    if not (np.isfinite(sizes).all() and (sizes >= 0).all() and (sizes <= MAX_SIDE).all()
            and np.isfinite(np.array(given_crowd, dtype=np.float64)).all()):
        return None
    crowd_index = crowd_index.astype(np.float32)
    columns = ImageColumns(
        image_id=image_id, file_name=StringColumn.from_strings(names),
        width=sizes[0].astype(np.int32), height=sizes[1].astype(np.int32),
        crowd_index=crowd_index if np.isfinite(crowd_index).any() else None,
    )
    return columns, position


def _annotations_in_bulk(annotations: list, position: dict[int, int], k: int,
                         strict: bool) -> _Collected | None:
    if _types(annotations) - {dict}:
        return None
    complete = ["bbox" in a and "keypoints" in a for a in annotations]
    skipped = {MISSING_BBOX: 0, MISSING_KEYPOINTS: 0}
    if all(complete):
        kept, records = list(range(len(annotations))), annotations
    else:
        if strict:
            return None
        kept = [i for i, ok in enumerate(complete) if ok]
        records = [annotations[i] for i in kept]
        incomplete = [a for a, ok in zip(annotations, complete, strict=True) if not ok]
        skipped[MISSING_BBOX] = sum("bbox" not in a for a in incomplete)
        skipped[MISSING_KEYPOINTS] = len(incomplete) - skipped[MISSING_BBOX]
    every_id = [a.get("id") for a in annotations]
    every_image = [a.get("image_id", _MISSING) for a in annotations]
    if (_types(every_id) - {int} or _MISSING in every_image
            or len(set(every_id)) != len(every_id)):  # duplicates: the record pass names them
        return None
    try:
        every_pos = [position.get(i) for i in every_image]
    except TypeError:  # an unhashable image_id
        return None
    if None in every_pos:
        return None
    ids = [every_id[i] for i in kept] if len(kept) < len(annotations) else every_id
    image_index = ([every_pos[i] for i in kept] if len(kept) < len(annotations)
                   else every_pos)
    boxes = [a["bbox"] for a in records]
    kpts = [a["keypoints"] for a in records]
    areas = [a.get("area", _MISSING) for a in records]
    counts = [a.get("num_keypoints", _MISSING) for a in records]
    categories = [a.get("category_id", 1) for a in records]
    if (_types(boxes) - {list} or set(map(len, boxes)) - {4}
            or _types(kpts) - {list} or set(map(len, kpts)) - {3 * k}
            or _types(categories) - {int}):
        return None
    area = _optional_numbers(areas, np.nan)
    count = _optional_numbers(counts, -1)
    if area is None or count is None:
        return None
    try:
        np.array(every_id, dtype=np.int64)
        np.array(categories, dtype=np.int64)
    except OverflowError:
        return None
    return _Collected(kept, image_index, ids, boxes, kpts, area, count, categories,
                      [a.get("iscrowd", 0) for a in records], skipped)


def _optional_numbers(values: list, default: float) -> np.ndarray | None:
    """Finite numbers with ``_MISSING`` as ``default``; None if any value is anything else."""
    present = [v for v in values if v is not _MISSING]
    if _types(present) - _NUMBER_TYPES:
        return None
    try:
        out = np.array(values if len(present) == len(values)
                       else [default if v is _MISSING else v for v in values], dtype=np.float64)
        finite = np.isfinite(np.array(present, dtype=np.float64)).all()
    except OverflowError:
        return None
    return out if finite else None


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
            if size > MAX_SIDE:
                raise AnnotationError(path, f"is too large ({size:g} > {MAX_SIDE})", record,
                                      key)
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


@dataclass
class _Collected:
    """The annotation values a reader pass collected, one entry per kept record."""

    kept: list[int]  # index into ``annotations`` of each kept record (for error messages)
    image_index: list[int]
    ann_ids: list[int]
    boxes: list
    kpts: list
    area: np.ndarray  # NaN where not given
    count: np.ndarray  # -1 where not given
    categories: list[int]
    crowds: list
    skipped: dict[str, int]


def _collect_annotations(path: str, annotations: list, position: dict[int, int], k: int,
                         strict: bool) -> _Collected:
    """The record-by-record pass: every check names the first record that fails it."""
    kept: list[int] = []
    image_index, ann_ids, boxes, kpts = [], [], [], []
    areas, counts, categories, crowds = [], [], [], []
    skipped = {MISSING_BBOX: 0, MISSING_KEYPOINTS: 0}
    seen: dict[int, int] = {}
    for i, ann in enumerate(annotations):
        record = f"annotations[{i}]"
        expect(path, ann, dict, "an object", record)
        ann_id = integer(path, ann, "id", record)
        record = f"annotations[{i}] (id {ann_id})"
        if ann_id in seen:
            raise AnnotationError(path, f"duplicate annotation id (also annotations"
                                  f"[{seen[ann_id]}])", record, "id")
        seen[ann_id] = i
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
    return _Collected(kept, image_index, ann_ids, boxes, kpts,
                      np.array(areas, dtype=np.float64), np.array(counts, dtype=np.float64),
                      categories, crowds, skipped)


def _category_ids(path: str, categories: list) -> set[int] | None:
    """The ids of ``categories``; None when the file lists none (then any id is taken)."""
    if not categories:
        return None
    ids = set()
    for c, category in enumerate(categories):
        record = f"categories[{c}]"
        expect(path, category, dict, "an object", record)
        ids.add(integer(path, category, "id", record))
    return ids


def _columns(path: str, c: _Collected, k: int, one_based: bool,
             category_ids: set[int] | None = None) -> RawInstances:
    """The collected values as checked numpy columns; with ``category_ids`` every
    annotation's ``category_id`` must be one of them."""

    def name(row: int) -> str:
        return f"annotations[{c.kept[row]}] (id {c.ann_ids[row]})"

    category = np.array(c.categories, dtype=np.int64)
    if category_ids is not None:
        unknown = ~np.isin(category, list(category_ids))
        if unknown.any():
            row = int(np.argmax(unknown))
            raise AnnotationError(path, f"{category[row]} is not the id of any of the file's "
                                  f"categories ({', '.join(map(str, sorted(category_ids)))})",
                                  name(row), "category_id")
    xywh = numeric_column(path, c.boxes, np.float64, "bbox", name).reshape(-1, 4)
    if (xywh[:, 2:] < 0).any():
        row = int(np.argmax((xywh[:, 2:] < 0).any(axis=1)))
        raise AnnotationError(path, f"has a negative width or height: {c.boxes[row]}",
                              name(row), "bbox")
    xyk = numeric_column(path, c.kpts, np.float64, "keypoints", name).reshape(len(c.kpts), k, 3)
    check_codes(path, xyk[..., 2], COCO_CODES, "keypoints", name)
    crowd = numeric_column(path, c.crowds, np.float64, "iscrowd", name)
    with np.errstate(over="ignore"):
        keypoints = xyk[..., :2].astype(np.float32)
    beyond = ~np.isfinite(keypoints).all(axis=(1, 2))
    if beyond.any():
        row = int(np.argmax(beyond))
        raise AnnotationError(path, "holds coordinates beyond the float32 range", name(row),
                              "keypoints")
    area, count = c.area, c.count
    given = count >= 0
    wrong = ((given & (count != np.round(count))) | ~np.isfinite(count)
             | (np.abs(count) > np.iinfo(np.int32).max))
    if wrong.any():
        row = int(np.argmax(wrong))
        raise AnnotationError(path, f"expected an integer, got {count[row]:g}", name(row),
                              "num_keypoints")
    if one_based:
        xywh[:, :2] -= 1
        keypoints -= 1
        area = np.full_like(area, np.nan)
        count = np.full_like(count, -1)
    bbox = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return RawInstances(
        image_index=np.array(c.image_index, dtype=np.int64),
        ann_id=np.array(c.ann_ids, np.int64), bbox=bbox, keypoints=keypoints,
        visibility=coco_visibility(xyk[..., 2]), area=area,
        category_id=category,
        num_keypoints=count.astype(np.int64), iscrowd=(crowd != 0).astype(np.uint8),
        skipped=c.skipped,
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
