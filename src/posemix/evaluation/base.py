"""What every posemix metric shares: dataset-meta reading, input checks, prefixed results.

Metrics follow MMEngine's protocol (``dataset_meta`` set by the runner, ``process`` once
per batch, ``evaluate`` at the end) so MMPose configs and habits carry over, but take
plain dicts of numpy arrays instead of data samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posemix.errors import MetainfoError, PosemixError

_MISSING = object()


@dataclass(frozen=True)
class MetricMeta:
    """The few facts about a keypoint schema that metrics need."""

    name: str
    num_keypoints: int
    sigmas: np.ndarray | None
    keypoint_names: tuple[str, ...]


def _get(meta: Any, key: str) -> Any:
    if isinstance(meta, Mapping):
        return meta.get(key, _MISSING)
    return getattr(meta, key, _MISSING)


def read_meta(meta: Any) -> MetricMeta:
    """Read a KeypointSchema-like object or a plain dict (keys ``name`` or
    ``dataset_name``, ``sigmas``, ``num_keypoints``, ``keypoints``) into a MetricMeta."""
    name = _get(meta, "name")
    if name is _MISSING:
        name = _get(meta, "dataset_name")
    name = "unnamed" if name is _MISSING or name is None else str(name)

    sigmas = _get(meta, "sigmas")
    if sigmas is _MISSING or sigmas is None:
        sigmas = None
    else:
        # float32, as MMPose's parse_pose_metainfo stores them: OKS values then match
        # MMPose's to the last bit.
        sigmas = np.asarray(sigmas, dtype=np.float32).reshape(-1)

    names = _get(meta, "keypoints")
    names = () if names is _MISSING or names is None else tuple(str(n) for n in names)

    num = _get(meta, "num_keypoints")
    if num is _MISSING or num is None:
        if sigmas is not None:
            num = len(sigmas)
        elif names:
            num = len(names)
        else:
            raise MetainfoError(f"dataset_meta of '{name}' has no num_keypoints, sigmas "
                                "or keypoint names")
    num = int(num)
    if sigmas is not None and len(sigmas) != num:
        raise MetainfoError(f"dataset_meta of '{name}': {len(sigmas)} sigmas for "
                            f"{num} keypoints")
    if names and len(names) != num:
        raise MetainfoError(f"dataset_meta of '{name}': {len(names)} keypoint names for "
                            f"{num} keypoints")
    return MetricMeta(name=name, num_keypoints=num, sigmas=sigmas, keypoint_names=names)


def sample_array(sample: Mapping[str, Any], key: str, ndim: int, index: int,
                 default: Any = _MISSING) -> np.ndarray:
    """``sample[key]`` as a float64 array with ``ndim`` dims, or a PosemixError naming
    the sample and the field (never a numpy traceback from deep inside a metric).

    A scalar is accepted where one dimension is expected (one instance's value)."""
    value = sample.get(key, default)
    where = f"prediction {index} (id {sample.get('id', '?')})"
    if value is _MISSING:
        raise PosemixError(f"{where} has no '{key}'")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PosemixError(f"{where}: '{key}' is not numeric ({exc})") from None
    if array.ndim == 0 and ndim == 1:  # a single instance's score given as a scalar
        array = array.reshape(1)
    if array.ndim != ndim:
        raise PosemixError(f"{where}: '{key}' must have {ndim} dimensions, "
                           f"got shape {array.shape}")
    return array


def check_shape(array: np.ndarray, shape: tuple[int, ...], key: str, index: int,
                sample: Mapping[str, Any]) -> None:
    """Raise a PosemixError naming the sample unless ``array.shape == shape``."""
    if array.shape != shape:
        raise PosemixError(f"prediction {index} (id {sample.get('id', '?')}): '{key}' has "
                           f"shape {array.shape}, expected {shape}")


class BaseMetric:
    """Collects per-sample results in ``process`` and turns them into prefixed floats.

    Subclasses implement ``_parse`` (one input dict → one stored record, validated) and
    ``compute_metrics`` (all records → unprefixed metric dict).
    """

    default_prefix: str = ""

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix if prefix is not None else self.default_prefix
        self.results: list[dict[str, Any]] = []
        self._dataset_meta: Any = None
        self._meta: MetricMeta | None = None

    @property
    def dataset_meta(self) -> Any:
        """The schema (or dict) of the dataset being evaluated, as the runner set it."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: Any) -> None:
        self._meta = None if meta is None else read_meta(meta)
        self._dataset_meta = meta

    def process(self, predictions: Sequence[Mapping[str, Any]]) -> None:
        """Store one record per sample of a batch of predictions."""
        for sample in predictions:
            self.results.append(self._parse(sample, len(self.results)))

    def evaluate(self) -> dict[str, float]:
        """Compute the metrics over everything processed so far, then forget it."""
        if not self.results:
            raise PosemixError(f"{type(self).__name__}.evaluate() called before any "
                               "prediction was processed")
        metrics = self.compute_metrics(self.results)
        self.results = []
        return {f"{self.prefix}/{k}" if self.prefix else k: float(v) for k, v in metrics.items()}

    def _parse(self, sample: Mapping[str, Any], index: int) -> dict[str, Any]:
        raise NotImplementedError

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        raise NotImplementedError
