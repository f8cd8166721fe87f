"""The per-source dataset base, with MMPose's config arguments (the named types,
CocoDataset, AicDataset, ..., are in :mod:`posemix.data.dataset_types`).

A dataset is an InstanceTable in its source's keypoint layout, that source's schema, the
``KeypointConverter`` its config puts first in ``pipeline`` (kept apart: CombinedDataset
converts the whole table with it once) and the remaining pipeline steps. Behaviour
follows MMPose's BaseCocoStyleDataset (reference section 5.1): ``data_root`` joins,
``bbox_file`` only in test mode, ``sample_interval``, ``filter_cfg=dict(bbox_score_thr=..)``,
``indices``. Top-down only; ``serialize_data`` is accepted and moot (tables are already
a few flat arrays that DataLoader workers share).

``cache=True`` (the default, a posemix addition) keeps each parsed annotation table in
the on-disk cache of :mod:`posemix.data.cache` (``$POSEMIX_CACHE_DIR``, else
``~/.cache/posemix/tables``): the next run with the same file loads it in a fraction of
the parse time; any change of the file rebuilds it. ``cache=False`` always parses.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from posemix.config.validation import positive_int
from posemix.data.cache import cached_table
from posemix.data.readers import read_coco, read_detections
from posemix.data.readers.common import EMPTY_BBOX
from posemix.data.rng import sample_rng
from posemix.data.sample import sample_from_table
from posemix.data.table import InstanceTable
from posemix.errors import AnnotationError, ConfigError, ImageError, MetainfoError, PosemixError
from posemix.keypoints import KeypointConverter, KeypointSchema, load_schema
from posemix.registry import DATASETS, TRANSFORMS

FILTER_KEYS = ("bbox_score_thr",)
CLIPPED_AWAY_SHARE = 0.05  # of a file's annotations, above which their image sizes are suspect
SKIPPED_IMAGE = "skipped_image"  # the key of the stand-in for a sample whose image is unreadable


def through_pipeline(pipeline: Any, info: dict, test_mode: bool) -> dict | None:
    """``pipeline(info)``; in training an unreadable image gives ``{SKIPPED_IMAGE: path,
    'error': message}`` instead, which the training collate drops and the runner counts (a
    broken file among millions must not stop a run, nor be re-drawn forever)."""
    try:
        return pipeline(info)
    except ImageError as exc:
        if test_mode:
            raise
        return {SKIPPED_IMAGE: str(info.get("img_path", "")), "error": str(exc)}


def fetch_with_refetch(attempt: Callable[[int, np.random.Generator], tuple[dict | None, dict]],
                       label: str, length: int, seed: int, epoch: int, index: int,
                       max_refetch: int, test_mode: bool) -> dict:
    """``attempt(index, rng)``'s result; a sample the pipeline drops (None, e.g.
    ``LoadImage(ignore_empty=True)``) is replaced, as MMPose's BaseDataset does, by another
    index drawn from that sample's generator, up to ``max_refetch`` times. The draw depends
    on (seed, epoch, index) only, so a replacement is the same in every run and worker.
    In test mode a dropped sample is an error: evaluation must see every sample."""
    for _ in range(max_refetch + 1):
        rng = sample_rng(seed, epoch, index)
        result, info = attempt(index, rng)
        if result is not None:
            return result
        if test_mode:
            raise PosemixError(f"{label}: the pipeline dropped sample {index} "
                               f"({info.get('img_path')}) in test mode")
        index = int(rng.integers(length))
    raise PosemixError(f"{label}: the pipeline dropped {max_refetch + 1} samples "
                       "in a row; check the images and the pipeline")


def build_pipeline(steps: Sequence, test_mode: bool) -> Any:
    """``Compose(steps)``, in training with crop-first decoding where it is safe."""
    from posemix.transforms import Compose, enable_crop_first

    pipeline = Compose(steps)
    if not test_mode:
        enable_crop_first(pipeline)
    return pipeline


def split_converter(pipeline: Sequence) -> tuple[Any, list]:
    """(the KeypointConverter built from ``pipeline[0]`` or None, the remaining steps)."""
    if isinstance(pipeline, (Mapping, str)) or callable(pipeline):
        raise ConfigError(f"pipeline must be a list of transforms, got {type(pipeline).__name__}")
    steps = list(pipeline)
    if steps and _is_converter(steps[0]):
        return TRANSFORMS.build(steps[0]), steps[1:]
    return None, steps


def _is_converter(step: Any) -> bool:
    if isinstance(step, KeypointConverter):
        return True
    return isinstance(step, Mapping) and step.get("type") in ("KeypointConverter",
                                                              KeypointConverter)


def _filter_counts(report: Mapping[str, int]) -> str:
    """A table's ``filter_report`` as "reason: count, ..." (reasons that dropped nothing left
    out)."""
    return ", ".join(f"{reason}: {n}" for reason, n in report.items() if n)


def _empty_file_reason(table: InstanceTable) -> str:
    """Why an annotation file gave no instances: it has none, or its reader filtered them."""
    records = sum(table.filter_report.values())
    if not records:
        images = len(table.image_id)
        return f"the annotation file has no annotations ({images} image{'s' * (images != 1)})"
    return (f"all {records} annotations of the file were filtered out "
            f"({_filter_counts(table.filter_report)})")


def _join(root: str | None, path: str) -> str:
    """mmengine's join: a relative path goes under ``data_root`` when one is given."""
    return os.path.join(root, path) if root and not os.path.isabs(path) else path


@DATASETS.register()
class BaseCocoStyleDataset:
    """A COCO-layout keypoint dataset (top-down: one sample per person instance)."""

    METAINFO: Mapping[str, Any] = {}

    def __init__(self, ann_file: str = "", bbox_file: str | None = None,
                 data_mode: str = "topdown", metainfo: Any = None, data_root: str | None = None,
                 data_prefix: Mapping[str, str] | None = None,
                 filter_cfg: Mapping[str, Any] | None = None,
                 indices: int | Sequence[int] | None = None, serialize_data: bool = True,
                 pipeline: Sequence = (), test_mode: bool = False, lazy_init: bool = False,
                 max_refetch: int = 1000, sample_interval: int = 1, cache: bool = True):
        name = type(self).__name__
        if data_mode == "bottomup":
            raise ConfigError(f"{name}: data_mode='bottomup' is not supported; posemix trains "
                              "top-down models only (data_mode='topdown')")
        if data_mode != "topdown":
            raise ConfigError(f"{name} got invalid data_mode '{data_mode}'; "
                              "it should be 'topdown'")
        if bbox_file and not test_mode:
            raise ConfigError(f"{name} has test_mode=False while bbox_file is only supported "
                              "when test_mode=True (detections replace ground-truth boxes "
                              "for evaluation)")
        positive_int(sample_interval, f"{name}: sample_interval")
        self.data_mode = data_mode
        self.data_root = data_root
        self.ann_file = _join(data_root, str(ann_file)) if ann_file else ""
        self.bbox_file = str(bbox_file) if bbox_file else None
        self.data_prefix = self._join_prefix(data_root, data_prefix)
        self.img_prefix = self.data_prefix.get("img", "")
        self.filter_cfg = self._check_filter_cfg(filter_cfg)
        self.indices = indices
        self.serialize_data = serialize_data
        self.test_mode = test_mode
        self.lazy_init = lazy_init
        self.max_refetch = max_refetch
        self.sample_interval = sample_interval
        self.cache = bool(cache)
        self.schema = self._load_schema(metainfo)
        self.converter, steps = split_converter(pipeline)
        self.pipeline = build_pipeline(steps, test_mode)
        self.seed = 0
        self.epoch = 0
        self._table: InstanceTable | None = None
        self._emptied: tuple[str | None, str] | None = None  # see require_instances
        if not lazy_init:
            self.full_init()

    # -- construction ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """How errors name this dataset: class and annotation file."""
        return f"{type(self).__name__} ({self.ann_file or 'no ann_file'})"

    def _load_schema(self, metainfo: Any) -> KeypointSchema:
        spec = self.METAINFO if metainfo is None else metainfo
        if not spec:
            raise ConfigError(f"{type(self).__name__} needs metainfo, e.g. "
                              "metainfo=dict(from_file='configs/_base_/datasets/coco.py')")
        return load_schema(spec)

    @staticmethod
    def _join_prefix(root: str | None, prefix: Mapping[str, str] | None) -> dict[str, str]:
        prefix = {"img": ""} if prefix is None else prefix
        if not isinstance(prefix, Mapping):
            raise ConfigError(f"data_prefix must be a dict like dict(img='images/'), "
                              f"got {type(prefix).__name__}")
        for key, value in prefix.items():
            if not isinstance(value, str):
                raise ConfigError(f"data_prefix['{key}'] must be a string, got "
                                  f"{type(value).__name__}")
        return {key: _join(root, value) for key, value in prefix.items()}

    def _check_filter_cfg(self, cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if cfg is None:
            return None
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{type(self).__name__}: filter_cfg must be a dict, "
                              f"got {type(cfg).__name__}")
        unknown = sorted(set(cfg) - set(FILTER_KEYS))
        if unknown:
            raise ConfigError(f"{type(self).__name__}: filter_cfg has unknown keys {unknown}; "
                              f"supported: {list(FILTER_KEYS)}")
        return dict(cfg)

    # -- loading ----------------------------------------------------------------------------
    def read_annotations(self) -> InstanceTable:
        """The ground-truth table of ``ann_file``; subclasses with other formats override."""
        return read_coco(self.ann_file, num_keypoints=self.schema.num_keypoints)

    def reader_options(self) -> dict[str, Any]:
        """Everything besides ``ann_file`` that ``read_annotations`` depends on (the cache key)."""
        return {"dataset": f"{type(self).__module__}.{type(self).__qualname__}",
                "num_keypoints": self.schema.num_keypoints}

    def load_annotations(self) -> InstanceTable:
        """``read_annotations()``, through the on-disk table cache when ``cache=True``."""
        if not self.cache:
            return self.read_annotations()
        return cached_table(self.ann_file, self.read_annotations, self.reader_options())

    def check_annotations(self, table: InstanceTable) -> None:
        """Warn about what the loaded table lacks (each time it is loaded, cached or not)."""

    def full_init(self) -> None:
        """Load the annotations (done at construction unless ``lazy_init=True``)."""
        if self._table is not None:
            return
        if not self.ann_file:
            raise ConfigError(f"{type(self).__name__} needs ann_file")
        table = self.load_annotations()
        self.check_annotations(table)
        self._warn_clipped_away(table)
        if table.keypoint_count != self.schema.num_keypoints:
            raise MetainfoError(
                f"{self.label}: the annotations have {table.keypoint_count} keypoints per "
                f"instance but the metainfo '{self.schema.name}' ({self.schema.source}) defines "
                f"{self.schema.num_keypoints}")
        self._emptied = None if len(table) else (self.ann_file, _empty_file_reason(table))
        if self.bbox_file:
            table = read_detections(self.bbox_file, table, self.schema.num_keypoints)
            if not len(table):
                skipped = _filter_counts(table.filter_report)
                self._emptied = (self.bbox_file, "the bbox_file has no person detections"
                                 + (f" ({skipped})" if skipped else ""))
        elif self.sample_interval > 1:
            image_ids = table.image_id[table.image_index]
            table = self._removing(table, image_ids % self.sample_interval == 0,
                                   f"sample_interval={self.sample_interval}")
        if self.filter_cfg and "bbox_score_thr" in self.filter_cfg:
            threshold = self.filter_cfg["bbox_score_thr"]
            table = self._removing(table, table.bbox_score >= threshold,
                                   f"filter_cfg bbox_score_thr={threshold}")
        subset = self._subset(table)
        if len(table) and not len(subset):
            self._emptied = (None, f"indices={self.indices!r} keeps none of its {len(table)} "
                             "instances")
        self._table = subset

    def _warn_clipped_away(self, table: InstanceTable) -> None:
        """Boxes left empty by clipping to their image are few in real files; many of them
        mean the file's image sizes are wrong, and training would quietly lose the data."""
        clipped = table.filter_report.get(EMPTY_BBOX, 0)
        total = len(table) + sum(table.filter_report.values())
        if clipped > CLIPPED_AWAY_SHARE * total:
            warnings.warn(f"{self.label}: {clipped} of {total} annotations have a box that is "
                          f"empty once clipped to its image ({EMPTY_BBOX}) and are dropped; do "
                          "the image sizes in the file (width, height) match the images?",
                          stacklevel=3)

    def _removing(self, table: InstanceTable, keep: np.ndarray, step: str) -> InstanceTable:
        """``table.take(keep)``, remembering ``step`` if it removes the last instances."""
        if len(table) and not keep.any():
            self._emptied = (None, f"{step} removes all of its {len(table)} instances")
        return table.take(keep)

    def require_instances(self, role: str) -> None:
        """Raise unless the dataset has instances, saying which file or option left none:
        an empty source would otherwise drop out of training and evaluation unnoticed.

        ``role`` says where the dataset is used (e.g. "CombinedDataset datasets[1]").
        The error is an AnnotationError when a file holds no usable instance, a
        ConfigError when an option (sample_interval, filter_cfg, indices) removed them.
        """
        if len(self.table):
            return
        file, why = self._emptied or (None, "its table is empty")
        name = type(self).__name__ if file == self.ann_file else self.label
        message = (f"{name} for {role} has no instances: {why}, so it would be left out of "
                   "training and evaluation")
        if file is None:
            raise ConfigError(message)
        raise AnnotationError(file, message)

    def _subset(self, table: InstanceTable) -> InstanceTable:
        """Apply ``indices`` as mmengine does: an int keeps the first n (last -n if negative),
        a sequence keeps those rows in that order."""
        indices = self.indices
        if indices is None:
            return table
        n = len(table)
        if isinstance(indices, int) and not isinstance(indices, bool):
            return table.take(np.arange(n)[:indices] if indices >= 0 else np.arange(n)[indices:])
        rows = np.asarray(indices)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise ConfigError(f"{self.label}: indices must be an int or a list of ints")
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise ConfigError(f"{self.label}: indices {rows.tolist()[:10]} go outside the "
                              f"{n} instances")
        return table.take(rows % max(n, 1))

    @property
    def table(self) -> InstanceTable:
        """The instances, loaded on first use when ``lazy_init=True``."""
        self.full_init()
        assert self._table is not None
        return self._table

    # -- samples ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.table)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws ``__getitem__`` makes."""
        self.epoch = int(epoch)

    def get_data_info(self, index: int) -> dict:
        """The annotation of instance ``index`` as a sample dict, in this source's layout."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.label}: index {index} out of range for {n} instances")
        return sample_from_table(self.table, index % n, self.img_prefix, self.schema)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """Sample ``key`` (an index, or the samplers' ``(epoch, index)``) after the converter
        (if any) and the pipeline.

        A pipeline that drops the sample (returns None) is retried on another index drawn
        from the sample's generator, up to ``max_refetch`` times; in test mode it is an error.
        """
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)

        def attempt(index: int, rng: np.random.Generator) -> tuple[dict | None, dict]:
            info = self.get_data_info(index)
            info["rng"] = rng
            if self.converter is not None:
                info = self.converter(info)
            return through_pipeline(self.pipeline, info, self.test_mode), info

        return fetch_with_refetch(attempt, self.label, len(self), self.seed, epoch, index,
                                  self.max_refetch, self.test_mode)

    def __repr__(self) -> str:
        loaded = f"{len(self._table)} instances" if self._table is not None else "not loaded"
        return f"{type(self).__name__}({self.ann_file!r}, schema '{self.schema.name}', {loaded})"
