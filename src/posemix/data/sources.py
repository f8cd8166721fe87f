"""One view of a dataset's sources, shared by the checks, the report, ``inspect`` and
``browse``: a CombinedDataset has one per sub-dataset, a plain dataset is its own only
source (mapped onto itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from posemix.data.table import InstanceTable
from posemix.keypoints import KeypointMapping, KeypointSchema
from posemix.keypoints.mapping import identity_mapping, source_label


@dataclass(frozen=True)
class SourceView:
    """One source and where its samples sit in the dataset's index space.

    ``table`` is already in the dataset's layout; ``factor`` is how many times per epoch
    each of its instances is drawn (``sample_ratio_factor``, 1 without one).
    """

    name: str
    index: int
    dataset: Any  # the source's own dataset: its schema, table (source layout), img_prefix
    mapping: KeypointMapping  # source layout -> the dataset's layout
    table: InstanceTable | None  # in the dataset's layout (None: a dataset without a table)
    indices: range  # the dataset indices whose samples come from this source
    factor: float = 1.0

    @property
    def schema(self) -> KeypointSchema:
        return self.dataset.schema

    @property
    def label(self) -> str:
        """How errors name the source: its class and annotation file."""
        return source_label(self.dataset)


def is_combined(dataset: Any) -> bool:
    """Whether ``dataset`` mixes sources (a CombinedDataset, or anything shaped like one)."""
    return hasattr(dataset, "datasets") and hasattr(dataset, "mappings")


def source_views(dataset: Any) -> list[SourceView]:
    """The sources of a CombinedDataset, or a plain dataset as its only source."""
    if is_combined(dataset):
        counts = getattr(dataset, "lens", None) or [len(t) for t in dataset.tables]
        ends = [int(e) for e in getattr(dataset, "cumulative", np.cumsum(counts))]
        starts = [0, *ends[:-1]]
        original = getattr(dataset, "original_lens", None)
        lens = getattr(dataset, "lens", None)
        out = []
        for i, (name, sub, mapping, table) in enumerate(zip(
                dataset.source_names, dataset.datasets, dataset.mappings, dataset.tables,
                strict=True)):
            factor = lens[i] / original[i] if original and lens and original[i] else 1.0
            out.append(SourceView(name, i, sub, mapping, table, range(starts[i], ends[i]),
                                  factor))
        return out
    mapping = identity_mapping(dataset.schema, dataset.schema, source_label(dataset))
    return [SourceView(dataset.schema.name, 0, dataset, mapping,
                       getattr(dataset, "table", None), range(len(dataset)))]
