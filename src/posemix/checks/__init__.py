"""Checks of a mixed dataset before training: are the sources mapped onto the same points?

Three kinds, each answering a different question:

* :mod:`~posemix.checks.static` — the mappings themselves: averaged or reused keypoints,
  name mismatches, guesses, keypoints dropped although the target has them, and union
  keypoints fed by different points in different sources;
* :mod:`~posemix.checks.geometry` — the data: where each source puts each shared keypoint
  in a normalised body frame (a left/right swap or a different definition shows up there,
  even when every name matches);
* :mod:`~posemix.checks.coverage` — how many training instances label each union keypoint.

``check_dataset`` runs all three once and keeps their statistics for the HTML report;
``run_checks`` returns only the findings (``posemix train`` refuses to start on an error
unless ``--force``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from posemix.data.combined import identity_mapping, source_label
from posemix.data.table import InstanceTable
from posemix.keypoints import KeypointMapping, KeypointSchema

Level = Literal["error", "warning"]


@dataclass
class Finding:
    """One problem found by a check: what it is, what to do, and where."""

    level: Level
    code: str
    message: str
    advice: str
    source: str = ""
    keypoints: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{self.level.upper()} [{self.code}] {where}{self.message}\n  -> {self.advice}"


@dataclass
class Source:
    """One source of a dataset as the checks see it.

    ``table`` is already in the dataset's layout; ``factor`` is how many times per epoch
    each of its instances is drawn (``sample_ratio_factor``, 1 without one).
    """

    name: str
    label: str
    schema: KeypointSchema
    mapping: KeypointMapping
    table: InstanceTable
    factor: float = 1.0


def dataset_sources(dataset: Any) -> list[Source]:
    """The sources of a CombinedDataset, or the single source of a plain dataset."""
    if hasattr(dataset, "datasets") and hasattr(dataset, "mappings"):
        original = getattr(dataset, "original_lens", None)
        lens = getattr(dataset, "lens", None)
        out = []
        for i, (name, sub, mapping, table) in enumerate(zip(
                dataset.source_names, dataset.datasets, dataset.mappings, dataset.tables,
                strict=True)):
            factor = lens[i] / original[i] if original and lens and original[i] else 1.0
            out.append(Source(name, source_label(sub), sub.schema, mapping, table, factor))
        return out
    label = source_label(dataset)
    return [Source(dataset.schema.name, label, dataset.schema,
                   identity_mapping(dataset.schema, dataset.schema, label), dataset.table)]


@dataclass
class CheckResults:
    """Everything the checks found, and the statistics the report draws."""

    findings: list[Finding]
    geometry: dict[str, Any]
    coverage: dict[str, Any]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


def check_dataset(dataset: Any, threshold: float | None = None,
                  min_fraction: float | None = None) -> CheckResults:
    """Run the static, geometry and coverage checks on a (combined) dataset.

    ``threshold`` and ``min_fraction`` override the geometry and coverage defaults
    (:data:`~posemix.checks.geometry.DEFAULT_THRESHOLD`,
    :data:`~posemix.checks.coverage.MIN_FRACTION`). Errors come first in the findings.
    """
    from posemix.checks.coverage import MIN_FRACTION, coverage, coverage_findings
    from posemix.checks.geometry import DEFAULT_THRESHOLD, geometry_checks
    from posemix.checks.static import cross_source_checks, static_checks

    sources = dataset_sources(dataset)
    findings: list[Finding] = []
    for src in sources:
        findings += static_checks(src.mapping, source=src.name)
    findings += cross_source_checks([s.mapping for s in sources], [s.name for s in sources])
    geometry_findings, geometry = geometry_checks(
        dataset, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    cov = coverage(dataset)
    findings += geometry_findings
    findings += coverage_findings(cov, MIN_FRACTION if min_fraction is None else min_fraction)
    findings.sort(key=lambda f: f.level != "error")
    return CheckResults(findings, geometry, cov)


def run_checks(dataset: Any, threshold: float | None = None,
               min_fraction: float | None = None) -> list[Finding]:
    """All findings about ``dataset`` (see :func:`check_dataset`), errors first."""
    return check_dataset(dataset, threshold, min_fraction).findings


__all__ = ["CheckResults", "Finding", "Source", "check_dataset", "dataset_sources", "run_checks"]
