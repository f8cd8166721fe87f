"""CombinedDataset: several sources, one keypoint layout, one index space.

Each source's table is converted to the combined schema once, when the dataset is
built (all mapping checks run then); a sample is then a row lookup in a converted table
plus the shared pipeline, which sees the combined schema's flip indices, body ids and
joint weights while the sample keeps its source's name and index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from posemix.data.balance import balance_temperature, balanced_lengths
from posemix.data.datasets import build_pipeline, fetch_with_refetch, through_pipeline
from posemix.data.sample import sample_from_table
from posemix.errors import ConfigError
from posemix.keypoints import KeypointMapping, KeypointSchema, load_schema
from posemix.keypoints.mapping import identity_mapping, source_label
from posemix.registry import DATASETS


def unique_names(names: Sequence[str]) -> list[str]:
    """Source names made unique ('humanart', 'humanart_2', ...), so that results keyed by
    source never collide (MMPose's MultiDatasetEvaluator issue #3061)."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name}_{n}"
        out.append(candidate)
    return out


@DATASETS.register()
class CombinedDataset:
    """MMPose's CombinedDataset: ``datasets`` (configs or objects) seen in ``metainfo``'s layout.

    ``sample_ratio_factor`` sub- or over-samples each source by hand; ``balance=dict(
    temperature=T)`` by rule instead: the epoch keeps its length and source i fills a share
    ∝ nᵢ^(1/T) of it (``posemix.data.balance``). Which rows fill a source's slots is drawn
    from (seed, epoch), so an epoch is reproducible and each epoch differs.
    A sample the pipeline drops is replaced by another of the combined index space, up to
    ``max_refetch`` times, as in the per-source datasets (``fetch_with_refetch``).
    ``serialize_data`` is moot, as there: the converted tables are a few flat arrays that
    DataLoader workers share. ``lazy_init=True`` is refused: the sources are converted and
    checked when the dataset is built, so that mapping errors stop a run before training.
    """

    def __init__(self, metainfo: Any, datasets: Sequence, pipeline: Sequence = (),
                 sample_ratio_factor: Sequence[float] | None = None,
                 balance: Mapping[str, Any] | None = None, test_mode: bool = False,
                 seed: int = 0, lazy_init: bool = False, max_refetch: int = 1000,
                 serialize_data: bool = True):
        if not datasets:
            raise ConfigError("CombinedDataset needs at least one dataset")
        if lazy_init:
            raise ConfigError("CombinedDataset does not support lazy_init=True: it converts "
                              "and checks every source when it is built; remove lazy_init")
        self.datasets = [DATASETS.build(d) for d in datasets]
        self.source_names = unique_names([d.schema.name for d in self.datasets])
        self._require_instances()
        self.schema = self._combined_schema(metainfo)
        self.mappings = [self._bind(d) for d in self.datasets]
        self.tables = [
            self._convert(d.table, m) for d, m in zip(self.datasets, self.mappings, strict=True)
        ]
        self.original_lens = [len(t) for t in self.tables]
        self.sample_ratio_factor = self._check_factors(sample_ratio_factor)
        self.balance = None if balance is None else balance_temperature(
            balance, "CombinedDataset")
        if self.balance is not None and self.sample_ratio_factor is not None:
            raise ConfigError("CombinedDataset: give sample_ratio_factor (by hand) or balance "
                              "(by rule), not both")
        if self.balance is not None:
            self.lens = balanced_lengths(self.original_lens, self.balance)
        elif self.sample_ratio_factor is not None:  # Python's round (banker's), as MMPose
            self.lens = [round(n * f) for n, f in
                         zip(self.original_lens, self.sample_ratio_factor, strict=True)]
        else:
            self.lens = list(self.original_lens)
        self.resampled = self.lens != self.original_lens or self.sample_ratio_factor is not None
        self.cumulative = np.cumsum(self.lens)
        self.pipeline = build_pipeline(pipeline, test_mode)
        self.test_mode = test_mode
        self.seed = seed
        self.epoch = 0
        self.max_refetch = max_refetch
        self.serialize_data = serialize_data

    # -- construction -------------------------------------------------------------------
    def _combined_schema(self, metainfo: Any) -> KeypointSchema:
        """``metainfo`` as a schema; in ``dict(union_of='datasets')`` the sub-datasets' own
        schemas stand for 'datasets'."""
        if isinstance(metainfo, Mapping) and metainfo.get("union_of") == "datasets":
            metainfo = {**metainfo, "union_of": [d.schema for d in self.datasets]}
        return load_schema(metainfo)

    def _require_instances(self) -> None:
        """Refuse a source without instances (training would silently use the others
        only, evaluation leave out its metrics), saying why it has none."""
        for i, (dataset, name) in enumerate(zip(self.datasets, self.source_names,
                                                strict=True)):
            role = f"CombinedDataset datasets[{i}] ('{name}')"
            check = getattr(dataset, "require_instances", None)
            if check is not None:
                check(role)
            elif len(dataset.table) == 0:
                raise ConfigError(f"{source_label(dataset)} for {role} has no instances")

    def _bind(self, dataset: Any) -> KeypointMapping:
        label = source_label(dataset)
        converter = getattr(dataset, "converter", None)
        if converter is None:
            return identity_mapping(dataset.schema, self.schema, label)
        return converter.bind(dataset.schema, self.schema, label)

    @staticmethod
    def _convert(table: Any, mapping: KeypointMapping) -> Any:
        keypoints, visibility = mapping.apply(table.keypoints, table.visibility)
        return dataclasses.replace(table, keypoints=keypoints, visibility=visibility,
                                   defined=mapping.convert_defined(np.asarray(table.defined)))

    def _check_factors(self, factors: Sequence[float] | None) -> list[float] | None:
        if factors is None:
            return None
        if len(factors) != len(self.datasets):
            raise ConfigError(f"CombinedDataset: sample_ratio_factor has {len(factors)} values "
                              f"for {len(self.datasets)} datasets")
        if any(not np.isfinite(f) or f < 0 for f in factors):
            raise ConfigError(f"CombinedDataset: sample_ratio_factor values must be finite and "
                              f">= 0, got {list(factors)}")
        return [float(f) for f in factors]

    # -- index space --------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.cumulative[-1]) if len(self.cumulative) else 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @lru_cache(maxsize=4)  # noqa: B019 - a few epochs' index arrays, freed with the dataset
    def _resampled(self, epoch: int, source: int) -> np.ndarray:
        """Stratified draw: slot k of n_new takes a row from stratum [k, k+1) * n_ori / n_new."""
        n_ori, n_new = self.original_lens[source], self.lens[source]
        rng = np.random.default_rng([self.seed, epoch, source, 0x5A])
        slots = (np.arange(n_new) + rng.random(n_new)) * (n_ori / max(n_new, 1))
        return np.minimum(slots.astype(np.int64), n_ori - 1)

    def locate(self, index: int, epoch: int | None = None) -> tuple[int, int]:
        """(source, row in that source's table) of global ``index``."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for CombinedDataset of length {n}")
        index %= n
        source = int(np.searchsorted(self.cumulative, index, side="right"))
        local = index - (int(self.cumulative[source - 1]) if source else 0)
        if self.resampled:
            local = int(self._resampled(self.epoch if epoch is None else epoch, source)[local])
        return source, local

    # -- samples ------------------------------------------------------------------------
    def get_data_info(self, index: int, epoch: int | None = None) -> dict:
        """The converted annotation of ``index`` in the combined layout (no image, no pipeline)."""
        source, row = self.locate(index, epoch)
        sub = self.datasets[source]
        info = sample_from_table(self.tables[source], row, sub.img_prefix, self.schema)
        info.update(dataset_name=self.source_names[source], source_index=source,
                    sample_idx=row, skeleton_links=self.schema.skeleton)
        return info

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)

        def attempt(index: int, rng: np.random.Generator) -> tuple[dict | None, dict]:
            info = self.get_data_info(index, epoch)
            info["rng"] = rng
            sub = self.datasets[info["source_index"]]

            def pipeline(results: dict) -> dict | None:  # the source's steps, then the shared
                results = sub.pipeline(results)
                return None if results is None else self.pipeline(results)

            return through_pipeline(pipeline, info, self.test_mode), info

        return fetch_with_refetch(attempt, "CombinedDataset", len(self), self.seed, epoch,
                                  index, self.max_refetch, self.test_mode)

    @property
    def metainfo(self) -> Mapping[str, Any]:
        """MMPose-style view of the combined schema (for code that expects a dict)."""
        s = self.schema
        return {"dataset_name": s.name, "num_keypoints": s.num_keypoints,
                "flip_indices": s.flip_indices, "upper_body_ids": s.upper_body_ids,
                "lower_body_ids": s.lower_body_ids, "sigmas": s.sigmas,
                "dataset_keypoint_weights": s.joint_weights, "skeleton_links": s.skeleton}
