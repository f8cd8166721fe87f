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

import warnings
from typing import Any

from posemix.checks.coverage import MIN_FRACTION, coverage, coverage_findings
from posemix.checks.findings import CheckResults, Finding
from posemix.checks.geometry import DEFAULT_THRESHOLD, geometry_checks
from posemix.checks.static import cross_source_checks, static_checks
from posemix.data.sources import is_combined, source_views
from posemix.errors import PosemixError


def check_dataset(dataset: Any, threshold: float | None = None,
                  min_fraction: float | None = None) -> CheckResults:
    """Run the static, geometry and coverage checks on a (combined) dataset.

    ``threshold`` and ``min_fraction`` override the geometry and coverage defaults
    (:data:`~posemix.checks.geometry.DEFAULT_THRESHOLD`,
    :data:`~posemix.checks.coverage.MIN_FRACTION`). Errors come first in the findings.
    """
    sources = source_views(dataset)
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


def refuse_mapping_errors(dataset: Any, force: bool = False) -> None:
    """``posemix train``'s gate: raise on the checks' errors about a dataset with mappings
    (a warning instead with ``force``)."""
    checkable = hasattr(dataset, "schema") and hasattr(dataset, "table") or is_combined(dataset)
    errors = [f for f in run_checks(dataset) if f.level == "error"] if checkable else []
    if not errors:
        return
    report = "\n".join(str(f) for f in errors)
    if not force:
        raise PosemixError(f"the mapping checks found {len(errors)} error(s); fix them, "
                           f"or train anyway with --force:\n{report}")
    warnings.warn(f"training despite {len(errors)} mapping error(s) (--force):\n{report}",
                  stacklevel=2)


__all__ = ["CheckResults", "Finding", "check_dataset", "refuse_mapping_errors", "run_checks"]
