"""How much supervision each union keypoint gets: which sources define it, how many label it.

A union keypoint that few training instances label (head_top when only a small auxiliary
source has it) trains one output channel from a trickle of samples; one that no source
defines is never trained at all. Counts are weighted by each source's
``sample_ratio_factor``, i.e. they are what an epoch actually draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posemix.checks.findings import Finding
from posemix.data.sources import source_views

MIN_FRACTION = 0.01


def coverage(dataset: Any) -> dict[str, Any]:
    """Per union keypoint and source: defined or not, and labelled instances (JSON-ready).

    Keys: ``keypoints`` (union names), ``sources``, ``instances`` (per source),
    ``factors`` (per-epoch draws per instance), ``defined`` (S x K bools), ``labelled``
    (S x K counts of instances with the keypoint labelled), ``fraction`` (per keypoint: the
    share of an epoch's instances that label it).
    """
    sources = source_views(dataset)
    defined = [[bool(d) for d in np.asarray(s.table.defined, bool)] for s in sources]
    labelled = [[int(n) for n in (np.asarray(s.table.visibility) > 0).sum(axis=0)]
                for s in sources]
    instances = [len(s.table) for s in sources]
    factors = [float(s.factor) for s in sources]
    weighted = np.asarray(labelled, np.float64).T @ np.asarray(factors)
    total = float(np.dot(instances, factors))
    fraction = weighted / total if total > 0 else np.zeros(len(dataset.schema.keypoints))
    return {"keypoints": list(dataset.schema.keypoints), "sources": [s.name for s in sources],
            "instances": instances, "factors": factors, "defined": defined,
            "labelled": labelled, "fraction": [float(f) for f in fraction]}


def coverage_findings(cov: dict[str, Any], min_fraction: float = MIN_FRACTION) -> list[Finding]:
    """A warning for each union keypoint labelled by under ``min_fraction`` of an epoch."""
    findings = []
    for k, name in enumerate(cov["keypoints"]):
        fraction = cov["fraction"][k]
        if fraction >= min_fraction:
            continue
        definers = [s for s, d in enumerate(cov["defined"]) if d[k]]
        if not definers:
            findings.append(Finding(
                "warning", "keypoint-undefined",
                f"no source defines '{name}': its output channel is never trained",
                "add a source that labels it, or build the schema without it (posemix union)",
                "", [name]))
            continue
        counts = ", ".join(f"{cov['sources'][s]} {cov['labelled'][s][k]} of "
                           f"{cov['instances'][s]}" for s in definers)
        findings.append(Finding(
            "warning", "keypoint-rare",
            f"'{name}' is labelled in {100 * fraction:.2f}% of an epoch's instances "
            f"(under {100 * min_fraction:g}%; labelled: {counts})",
            "raise the sample_ratio_factor of the sources that label it ("
            + ", ".join(cov["sources"][s] for s in definers)
            + "), or drop it from the union if it is not needed",
            ", ".join(cov["sources"][s] for s in definers), [name]))
    return findings
