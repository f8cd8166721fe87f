"""InstanceTable: one annotation source as columnar numpy arrays.

A COCO-sized source is a few hundred thousand instances; holding them as numpy columns
instead of a list of dicts keeps memory near 200 bytes per instance (K=17), lets the
keypoint conversion run on whole arrays, and lets DataLoader workers share the arrays
without copy-on-write growth. The table can be cached on disk (``save`` / ``load``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from posemix.errors import AnnotationError

FORMAT_NAME = "posemix.InstanceTable"
FORMAT_VERSION = 1


class StringColumn:
    """Strings stored as one UTF-8 buffer plus offsets (two arrays instead of N objects)."""

    def __init__(self, buffer: np.ndarray, offsets: np.ndarray):
        self.buffer = np.ascontiguousarray(buffer, dtype=np.uint8).reshape(-1)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64).reshape(-1)

    @classmethod
    def from_strings(cls, strings: Iterable[str]) -> StringColumn:
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def problem(self) -> str | None:
        """Why the two arrays do not describe a valid column, or None."""
        if len(self.offsets) == 0 or self.offsets[0] != 0:
            return "offsets must start with 0"
        if np.any(np.diff(self.offsets) < 0):
            return "offsets must not decrease"
        if self.offsets[-1] != len(self.buffer):
            return f"offsets end at {self.offsets[-1]} but the buffer has {len(self.buffer)} bytes"
        return None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        start, stop = self.offsets[index], self.offsets[index + 1]
        return self.buffer[start:stop].tobytes().decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def tolist(self) -> list[str]:
        return list(self)

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes + self.offsets.nbytes


# name -> (dtype, shape after the leading axis; "K" is the keypoint count)
IMAGE_COLUMNS: dict[str, tuple[type, tuple]] = {
    "image_id": (np.int64, ()),
    "width": (np.int32, ()),
    "height": (np.int32, ()),
}
OPTIONAL_IMAGE_COLUMNS: dict[str, tuple[type, tuple]] = {
    "crowd_index": (np.float32, ()),
}
INSTANCE_COLUMNS: dict[str, tuple[type, tuple]] = {
    "image_index": (np.int32, ()),
    "ann_id": (np.int64, ()),
    "bbox": (np.float32, (4,)),
    "bbox_score": (np.float32, ()),
    "keypoints": (np.float32, ("K", 2)),
    "visibility": (np.uint8, ("K",)),
    "area": (np.float32, ()),
    "category_id": (np.int32, ()),
    "num_keypoints": (np.int32, ()),
    "iscrowd": (np.uint8, ()),
}
OPTIONAL_INSTANCE_COLUMNS: dict[str, tuple[type, tuple]] = {
    "bbox_center": (np.float32, (2,)),
    "bbox_scale": (np.float32, (2,)),
}


@dataclasses.dataclass(eq=False)
class InstanceTable:
    """Instances of one source, in that source's keypoint layout (until converted).

    Image columns (one row per image): ``image_id``, ``file_name``, ``width``, ``height``
    (0 = unknown), optional ``crowd_index`` (CrowdPose). Instance columns (one row per
    instance): ``image_index`` (row in the image columns), ``ann_id``, ``bbox`` xyxy
    (clipped to the image), ``bbox_score``, ``keypoints`` (N, K, 2), ``visibility`` (N, K)
    with COCO codes 0 not labelled / 1 labelled occluded / 2 labelled visible, ``area``,
    ``category_id``, ``num_keypoints``, ``iscrowd``, and the optional ``bbox_center`` /
    ``bbox_scale`` (N, 2) of sources that define their crop that way (MPII).
    ``defined`` (K,) says which keypoints the source defines at all.
    Columns are coerced to their dtypes and checked for consistent shapes on construction
    (also through ``dataclasses.replace``).
    """

    image_id: np.ndarray
    file_name: StringColumn
    width: np.ndarray
    height: np.ndarray
    image_index: np.ndarray
    ann_id: np.ndarray
    bbox: np.ndarray
    bbox_score: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    area: np.ndarray
    category_id: np.ndarray
    num_keypoints: np.ndarray
    iscrowd: np.ndarray
    defined: np.ndarray
    source_file: str = ""
    crowd_index: np.ndarray | None = None
    bbox_center: np.ndarray | None = None
    bbox_scale: np.ndarray | None = None
    filter_report: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.file_name, StringColumn):
            self.file_name = StringColumn.from_strings(self.file_name)
        self.defined = np.ascontiguousarray(self.defined, dtype=bool).reshape(-1)
        for columns, optional in ((IMAGE_COLUMNS, False), (OPTIONAL_IMAGE_COLUMNS, True),
                                  (INSTANCE_COLUMNS, False), (OPTIONAL_INSTANCE_COLUMNS, True)):
            for name, (dtype, _) in columns.items():
                value = getattr(self, name)
                if value is None and optional:
                    continue
                setattr(self, name, np.ascontiguousarray(value, dtype=dtype))
        self.filter_report = dict(self.filter_report)
        self._check()

    def _fail(self, field: str, message: str) -> AnnotationError:
        return AnnotationError(self.source_file or "<instance table>", message, field=field)

    def _check(self) -> None:
        k = len(self.defined)
        sizes = {"images": len(self.image_id), "instances": len(self.ann_id)}
        problem = self.file_name.problem()
        if problem:
            raise self._fail("file_name", problem)
        if len(self.file_name) != sizes["images"]:
            raise self._fail("file_name", f"has {len(self.file_name)} rows for "
                             f"{sizes['images']} images")
        for columns, rows in ((IMAGE_COLUMNS, "images"), (OPTIONAL_IMAGE_COLUMNS, "images"),
                              (INSTANCE_COLUMNS, "instances"),
                              (OPTIONAL_INSTANCE_COLUMNS, "instances")):
            for name, (_, tail) in columns.items():
                value = getattr(self, name)
                if value is None:
                    continue
                expected = (sizes[rows], *(k if d == "K" else d for d in tail))
                if value.shape != expected:
                    raise self._fail(name, f"has shape {value.shape}, expected {expected}")
        if (self.bbox_center is None) != (self.bbox_scale is None):
            raise self._fail("bbox_center", "bbox_center and bbox_scale come together")
        if len(self.image_index) and (self.image_index.min() < 0
                                      or self.image_index.max() >= sizes["images"]):
            raise self._fail("image_index", f"has rows outside [0, {sizes['images']})")
        if len(self.visibility) and self.visibility.max() > 2:
            raise self._fail("visibility", "holds codes other than 0, 1, 2")

    # -- queries ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ann_id)

    @property
    def keypoint_count(self) -> int:
        """K, the number of keypoints in the table's layout."""
        return len(self.defined)

    @property
    def num_images(self) -> int:
        return len(self.image_id)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        arrays = [getattr(self, f.name) for f in dataclasses.fields(self)]
        return sum(a.nbytes for a in arrays if isinstance(a, (np.ndarray, StringColumn)))

    def take(self, indices: Sequence[int] | np.ndarray) -> InstanceTable:
        """A table with the instances ``indices`` (ints or a boolean mask), in that order.

        Image columns are shared, not copied (an image without instances is harmless).
        """
        idx = np.asarray(indices)
        if idx.dtype != bool:
            idx = idx.astype(np.int64, copy=False)
        changes = {name: getattr(self, name)[idx]
                   for name in (*INSTANCE_COLUMNS, *OPTIONAL_INSTANCE_COLUMNS)
                   if getattr(self, name) is not None}
        return dataclasses.replace(self, **changes)

    def keypoint_subset(self, keypoints: Sequence[int]) -> InstanceTable:
        """The same instances with only keypoint columns ``keypoints`` (in that order);
        ``num_keypoints`` counts the labelled ones among them."""
        idx = np.asarray(keypoints, dtype=np.int64)
        visibility = self.visibility[:, idx]
        return dataclasses.replace(self, keypoints=self.keypoints[:, idx], visibility=visibility,
                                   defined=self.defined[idx],
                                   num_keypoints=(visibility > 0).sum(axis=1))

    # -- on-disk cache ----------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "source_file": self.source_file, "filter_report": self.filter_report}
        arrays = {"meta": np.array(json.dumps(meta)), "defined": self.defined,
                  "file_name_buffer": self.file_name.buffer,
                  "file_name_offsets": self.file_name.offsets}
        for name in (*IMAGE_COLUMNS, *OPTIONAL_IMAGE_COLUMNS, *INSTANCE_COLUMNS,
                     *OPTIONAL_INSTANCE_COLUMNS):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return arrays

    def save(self, path: str | os.PathLike) -> None:
        """Write the table to ``path`` (npz); a crash never leaves a half-written file there."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **self._arrays())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> InstanceTable:
        """Read a table written by ``save``; a missing, corrupt or foreign file is an
        AnnotationError naming the file."""
        path = str(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except FileNotFoundError:
            raise AnnotationError(path, "instance table file not found") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise AnnotationError(path, f"not a readable instance table ({exc})") from None
        return cls._from_arrays(path, arrays)

    @classmethod
    def _from_arrays(cls, path: str, arrays: dict[str, np.ndarray]) -> InstanceTable:
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except (KeyError, ValueError):
            raise AnnotationError(path, "not a posemix instance table (no metadata)") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise AnnotationError(path, "not a posemix instance table")
        if meta.get("version") != FORMAT_VERSION:
            raise AnnotationError(path, f"instance table format version {meta.get('version')} "
                                  f"is not supported (expected {FORMAT_VERSION})")
        required = ("defined", "file_name_buffer", "file_name_offsets", *IMAGE_COLUMNS,
                    *INSTANCE_COLUMNS)
        missing = [name for name in required if name not in arrays]
        if missing:
            raise AnnotationError(path, f"instance table lacks columns {missing}")
        expected_dtypes = {"defined": bool, "file_name_buffer": np.uint8,
                           "file_name_offsets": np.int64}
        for columns in (IMAGE_COLUMNS, OPTIONAL_IMAGE_COLUMNS, INSTANCE_COLUMNS,
                        OPTIONAL_INSTANCE_COLUMNS):
            expected_dtypes.update({name: dtype for name, (dtype, _) in columns.items()})
        for name, value in arrays.items():
            if name not in expected_dtypes:
                raise AnnotationError(path, "unknown column in instance table", field=name)
            if value.dtype != np.dtype(expected_dtypes[name]):
                raise AnnotationError(path, f"column has dtype {value.dtype}, expected "
                                      f"{np.dtype(expected_dtypes[name])}", field=name)
        report = meta.get("filter_report", {})
        if not isinstance(report, dict):
            raise AnnotationError(path, "filter_report is not a mapping", field="filter_report")
        file_name = StringColumn(arrays.pop("file_name_buffer"), arrays.pop("file_name_offsets"))
        table = cls(file_name=file_name, source_file=path, filter_report=report, **arrays)
        table._check_values()
        table.source_file = str(meta.get("source_file") or path)
        return table

    def _check_values(self) -> None:
        """What the readers guarantee, checked again on a table read from disk: a cache
        file that holds anything else was not written by them (disk damage, another tool)."""
        labelled = self.visibility > 0
        checks = (
            ("bbox", np.isfinite(self.bbox).all() and (self.bbox[:, 2:] >= self.bbox[:, :2]).all()),
            ("bbox_score", np.isfinite(self.bbox_score).all()),
            ("keypoints", np.isfinite(self.keypoints[labelled]).all()),
            ("area", np.isfinite(self.area).all() and (self.area >= 0).all()),
            ("width", (self.width >= 0).all() and (self.height >= 0).all()),
            ("bbox_scale", self.bbox_scale is None or (np.isfinite(self.bbox_scale).all()
                                                       and (self.bbox_scale >= 0).all()
                                                       and np.isfinite(self.bbox_center).all())),
        )
        for name, ok in checks:
            if not ok:
                raise self._fail(name, "holds values no reader writes (non-finite, negative "
                                 "or inverted); not a table posemix wrote")
