"""What every annotation reader shares: strict JSON loading, field checks that name the
record, numeric columns built in one numpy call, and MMPose's box clipping, area fallback
and instance filtering (reference section 5.3-5.4) applied to whole columns."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError

# Filter reasons, in the order MMPose tests them; each dropped instance counts once.
MISSING_BBOX = "missing_bbox"
MISSING_KEYPOINTS = "missing_keypoints"
CROWD = "iscrowd"
NO_KEYPOINTS = "num_keypoints_zero"
EMPTY_BBOX = "bbox_empty_after_clipping"
NONPOSITIVE_KEYPOINTS = "keypoints_not_positive"

AREA_FACTOR = 0.53  # MMPose's area fallback: clipped box area * 0.53, at least 1

RecordName = Callable[[int], str]


# A "segmentation" value (polygon lists of numbers, or an RLE object whose counts hold no
# braces) as raw JSON bytes. Readers never use segmentations, and in COCO files they are
# about half of the bytes: blanking them before parsing halves the parse.
_SEGMENTATION = re.compile(rb'"segmentation"\s*:\s*(?:\[[\[\]0-9.,eE+\-\s]*\]|\{[^{}]*\})')


def _fast_loads() -> Callable[[bytes], Any] | None:
    """orjson's parser when it is installed (about 1.4x faster than json on COCO files)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson ships with the bench extra
        return None
    return orjson.loads


def load_json(path: str | os.PathLike, *, skip_segmentation: bool = False) -> Any:
    """Parse ``path``; a missing file or invalid JSON is an AnnotationError with the place.

    ``skip_segmentation`` replaces every ``"segmentation"`` value by ``0`` before parsing
    (so a malformed segmentation, which no reader uses, goes unnoticed).
    The file is parsed with orjson when it is installed; anything orjson refuses (NaN,
    huge integers, lone surrogates, invalid JSON) is parsed again with the standard
    library, whose result counts; an error is reported with its line and column in the
    file as it is.
    """
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise AnnotationError(path, "annotation file not found") from None
    except IsADirectoryError:
        raise AnnotationError(path, "is a directory, not an annotation file") from None
    except OSError as exc:
        raise AnnotationError(path, f"cannot be read: {exc.strerror or exc}") from None
    text = _SEGMENTATION.sub(b'"segmentation":0', data) if skip_segmentation else data
    loads = _fast_loads()
    if loads is not None:
        try:
            return loads(text)
        except ValueError:
            pass
    try:
        return json.loads(text.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    try:  # the error again, located in the file as it is
        return json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(path, f"not UTF-8 text (byte {exc.start}): {exc.reason}") from None


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer", float: "a number"}.get(type(value),
                                                                          type(value).__name__)


def expect(path: str, value: Any, kind: type | tuple[type, ...], what: str,
           record: object | None = None, field_name: str | None = None) -> Any:
    """``value`` if it is a ``kind`` (bools are never numbers), else an AnnotationError."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise AnnotationError(path, f"expected {what}, got {type_name(value)}", record, field_name)
    return value


def number(path: str, obj: dict, key: str, record: object, default: Any = None) -> float:
    """A finite number field (``default`` when absent and a default is given)."""
    if key not in obj and default is not None:
        return default
    if key not in obj:
        raise AnnotationError(path, "required field is missing", record, key)
    value = expect(path, obj[key], (int, float), "a number", record, key)
    if not np.isfinite(value):
        raise AnnotationError(path, f"is {value}, expected a finite number", record, key)
    return value


def integer(path: str, obj: dict, key: str, record: object, default: int | None = None) -> int:
    """An integer field (``default`` when absent and a default is given)."""
    if key not in obj and default is not None:
        return default
    if key not in obj:
        raise AnnotationError(path, "required field is missing", record, key)
    value = expect(path, obj[key], int, "an integer", record, key)
    if not -2**63 <= value < 2**63:
        raise AnnotationError(path, f"{value} does not fit in a 64-bit integer", record, key)
    return value


def text(path: str, obj: dict, key: str, record: object) -> str:
    """A required string field."""
    if key not in obj:
        raise AnnotationError(path, "required field is missing", record, key)
    return expect(path, obj[key], str, "a string", record, key)


def numeric_column(path: str, rows: Sequence[Any], dtype: type, field_name: str,
                   record_name: RecordName) -> np.ndarray:
    """``rows`` (numbers or equal-length number lists) as one float array, in one numpy call.

    Only when that call sees something other than numbers are the rows walked one by one,
    to name the first bad record; NaN / infinite values (JSON ``NaN``, ``Infinity``) are
    refused with the record named too.
    """
    arr = None
    try:
        arr = np.array(rows)
    except (ValueError, TypeError, OverflowError):
        pass
    if arr is None or arr.dtype.kind not in "biuf":
        _raise_first_non_number(path, rows, field_name, record_name)
    if len(rows) == 0:
        return np.zeros(0, dtype=dtype)
    with np.errstate(over="ignore"):
        out = arr.astype(dtype, copy=False)
    if out.dtype.kind == "f":  # after the cast: 1e308 is finite in float64, not in float32
        bad = ~np.isfinite(out.reshape(len(rows), -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise AnnotationError(path, f"holds NaN or infinite values (or numbers beyond "
                                  f"{out.dtype.name}): {rows[i]}", record_name(i), field_name)
    return out


def _raise_first_non_number(path: str, rows: Sequence[Any], field_name: str,
                            record_name: RecordName) -> None:
    for i, row in enumerate(rows):
        values = row if isinstance(row, list) else [row]
        for j, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                where = f" at position {j}" if isinstance(row, list) else ""
                shown = "" if v is None else f" {v!r}"[:60]
                raise AnnotationError(path, f"expected a number{where}, got {type_name(v)}{shown}",
                                      record_name(i), field_name)
    raise AnnotationError(path, "holds values that are not numbers", field=field_name)


@dataclass
class ImageColumns:
    """The image half of a table while a reader builds it."""

    image_id: np.ndarray
    file_name: StringColumn
    width: np.ndarray
    height: np.ndarray
    crowd_index: np.ndarray | None = None


@dataclass
class RawInstances:
    """Per-instance columns as read, before clipping, derived fields and filtering.

    ``bbox`` is unclipped xyxy in float64 (as MMPose computes it in Python floats);
    ``area`` / ``num_keypoints`` hold NaN / -1 where the record did not give them.
    """

    image_index: np.ndarray
    ann_id: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    area: np.ndarray
    category_id: np.ndarray
    num_keypoints: np.ndarray
    iscrowd: np.ndarray
    bbox_score: np.ndarray | None = None
    bbox_center: np.ndarray | None = None
    bbox_scale: np.ndarray | None = None
    skipped: dict[str, int] = field(default_factory=dict)


def check_codes(path: str, codes: np.ndarray, allowed: dict[int, str], field_name: str,
                record_name: RecordName) -> None:
    """Refuse a visibility code outside ``allowed`` (code: meaning), naming the record and
    the keypoint: an unknown code would otherwise be silently read as some other state.

    ``codes`` is (N, K), one row per record.
    """
    bad = ~np.isin(codes, list(allowed))
    if not bad.any():
        return
    row = int(np.argmax(bad.any(axis=1)))
    keypoint = int(np.argmax(bad[row]))
    meanings = [f"{code} ({meaning})" for code, meaning in allowed.items()]
    raise AnnotationError(path, f"visibility codes must be {', '.join(meanings[:-1])} or "
                          f"{meanings[-1]}, got {codes[row, keypoint]:g} at keypoint {keypoint}",
                          record_name(row), field_name)


def coco_visibility(v: np.ndarray) -> np.ndarray:
    """COCO ``v`` values → codes 0 / 1 / 2 (MMPose treats any v > 0 as labelled)."""
    return np.where(v >= 2, 2, np.where(v > 0, 1, 0)).astype(np.uint8)


def clip_boxes(bbox: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Clip xyxy boxes to [0, W-1] x [0, H-1] of their image; images of unknown size (0)
    are not clipped."""
    out = bbox.copy()
    known = (width > 0) & (height > 0)
    w1 = (width - 1).astype(np.float64)[known]
    h1 = (height - 1).astype(np.float64)[known]
    out[known, 0::2] = np.clip(bbox[known, 0::2], 0, w1[:, None])
    out[known, 1::2] = np.clip(bbox[known, 1::2], 0, h1[:, None])
    return out


def finish_table(path: str, images: ImageColumns, raw: RawInstances, *,
                 check_counts: bool = True) -> InstanceTable:
    """Clip boxes, fill area / num_keypoints, order by image and drop invalid instances.

    Instances are ordered by image (the image list's order), then by record order, as
    MMPose walks ``getImgIds()`` then each image's annotations. ``check_counts`` applies
    the iscrowd and num_keypoints == 0 tests (MMPose's MPII samples carry neither field).
    """
    order = np.argsort(raw.image_index, kind="stable")
    inst = {name: (value[order] if isinstance(value, np.ndarray) else value)
            for name, value in vars(raw).items()}
    image_index = inst["image_index"]
    bbox = clip_boxes(inst["bbox"], images.width[image_index], images.height[image_index])
    keypoints = inst["keypoints"]

    area = inst["area"]
    missing_area = np.isnan(area)
    fallback = (bbox[:, 2] - bbox[:, 0]) * (bbox[:, 3] - bbox[:, 1]) * AREA_FACTOR
    area = np.where(missing_area, np.maximum(fallback, 1.0), area)

    num_kpts = inst["num_keypoints"]
    counted = np.count_nonzero(keypoints.max(axis=2, initial=-np.inf) != 0, axis=1)
    num_kpts = np.where(num_kpts < 0, counted, num_kpts)

    bbox32 = bbox.astype(np.float32)
    reasons = [
        (CROWD, inst["iscrowd"] != 0 if check_counts else None),
        (NO_KEYPOINTS, num_kpts == 0 if check_counts else None),
        (EMPTY_BBOX, (bbox32[:, 2] - bbox32[:, 0] <= 0) | (bbox32[:, 3] - bbox32[:, 1] <= 0)),
        (NONPOSITIVE_KEYPOINTS, keypoints.max(axis=(1, 2), initial=-np.inf) <= 0),
    ]
    report = dict(raw.skipped)
    keep = np.ones(len(bbox), dtype=bool)
    for reason, bad in reasons:
        if bad is None:
            continue
        dropped = keep & bad
        report[reason] = int(dropped.sum())
        keep &= ~bad

    for bad, column, problem in (
            (area < 0, "area", "is negative"),
            (np.abs(area) > np.finfo(np.float32).max, "bbox",  # the column is float32
             "gives an area beyond the float32 range")):
        if (keep & bad).any():
            row = int(np.argmax(keep & bad))
            raise AnnotationError(path, f"{problem} ({area[row]:.3g})",
                                  f"with id {inst['ann_id'][row]}", column)
    n = len(bbox)
    score = inst["bbox_score"] if inst["bbox_score"] is not None else np.ones(n, np.float32)
    return InstanceTable(
        image_id=images.image_id, file_name=images.file_name, width=images.width,
        height=images.height, crowd_index=images.crowd_index,
        image_index=image_index[keep], ann_id=inst["ann_id"][keep], bbox=bbox32[keep],
        bbox_score=score[keep], keypoints=keypoints[keep], visibility=inst["visibility"][keep],
        area=area[keep], category_id=inst["category_id"][keep],
        num_keypoints=num_kpts[keep], iscrowd=inst["iscrowd"][keep],
        bbox_center=None if inst["bbox_center"] is None else inst["bbox_center"][keep],
        bbox_scale=None if inst["bbox_scale"] is None else inst["bbox_scale"][keep],
        defined=np.ones(keypoints.shape[1], dtype=bool), source_file=path,
        filter_report=report,
    )
