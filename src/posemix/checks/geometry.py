"""Do the sources put a shared keypoint at the same place on the body? Measured on the data.

Names can agree while the points do not: a source annotated with left and right
exchanged, or a JHMDB-style 'head' (the face centre) mapped onto a head-top keypoint,
passes every check of names and pairs. Here every labelled instance is put into a body
frame shared by all sources:

* origin: the mid-shoulder point; x axis: along the shoulder line from the left shoulder
  to the right one (so x > 0 is the person's right, whichever way they face, and a
  left/right swap flips the sign of x); y axis: perpendicular to it, towards the hips;
* unit: the torso length (mid-shoulder to mid-hip).

Instances without both shoulders and both hips labelled, or seen from the side (shoulder
width under ``MIN_SHOULDER_RATIO`` torso lengths, where the left-right axis is noise), are
skipped. For each union keypoint that two or more sources define, each source's mean
position is compared with the reference source's (the first in the dataset with enough
instances, usually the target). A source is flagged when both hold:

* the standardised distance ``D = sqrt(sum over axes of d^2 / pooled variance)`` exceeds
  ``threshold`` (default 1: the means are more than one pooled standard deviation apart,
  a large effect in Cohen's sense; the pooled variance is the mean of the two sources'
  variances plus ``NOISE_FLOOR^2``, so that near-constant coordinates such as the
  shoulders' own y do not divide by zero);
* the distance itself exceeds ``min_distance`` torso lengths (default 0.1, a few
  centimetres on an adult), so that tight keypoints do not flag tiny convention shifts.

With at least ``min_instances`` (20) instances per source, ``D > 1`` also means the
difference is over three standard errors, so it is not sampling noise. A flagged keypoint
whose mean lies closer to the reference's mirror keypoint than to its own is a
left/right swap (an error); otherwise it is a definition drift (a warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posemix.checks.findings import Finding
from posemix.data.sources import SourceView, source_views
from posemix.keypoints import KeypointSchema, canonical

FRAME_KEYPOINTS = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
DEFAULT_THRESHOLD = 1.0
MIN_DISTANCE = 0.1
MIN_INSTANCES = 20
MIN_SHOULDER_RATIO = 0.2
NOISE_FLOOR = 0.02


def frame_indices(schema: KeypointSchema) -> tuple[int, ...] | None:
    """Indices of the left/right shoulders and hips in ``schema`` (by canonical name)."""
    by_canon = {canonical(n, schema.name)[0]: i for i, n in enumerate(schema.keypoints)}
    if not all(name in by_canon for name in FRAME_KEYPOINTS):
        return None
    return tuple(by_canon[name] for name in FRAME_KEYPOINTS)


def body_frame(keypoints: np.ndarray, visibility: np.ndarray,
               frame: tuple[int, ...]) -> np.ndarray:
    """(N, K, 2) image coordinates → body-frame coordinates, NaN where not usable.

    A keypoint is usable when it is labelled and its instance has a usable frame
    (see the module docstring).
    """
    kp = np.asarray(keypoints, np.float64)
    labelled = np.asarray(visibility) > 0
    ls, rs, lh, rh = (kp[:, i] for i in frame)
    mid_shoulder = (ls + rs) / 2
    torso = (lh + rh) / 2 - mid_shoulder
    length = np.linalg.norm(torso, axis=1)
    across = rs - ls
    width = np.linalg.norm(across, axis=1)
    ok = labelled[:, list(frame)].all(axis=1) & (length > 0) \
        & (width >= MIN_SHOULDER_RATIO * length)
    safe_width = np.where(ok, width, 1.0)[:, None]
    safe_length = np.where(ok, length, 1.0)
    x_axis = across / safe_width
    y_axis = np.stack([-x_axis[:, 1], x_axis[:, 0]], axis=1)
    y_axis *= np.where(np.einsum("nd,nd->n", y_axis, torso) < 0, -1.0, 1.0)[:, None]
    rel = kp - mid_shoulder[:, None]
    coords = np.stack([np.einsum("nkd,nd->nk", rel, x_axis),
                       np.einsum("nkd,nd->nk", rel, y_axis)], axis=-1) / safe_length[:, None, None]
    coords[~(labelled & ok[:, None])] = np.nan
    return coords


def _source_stats(coords: np.ndarray, defined: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per keypoint: count, mean (K, 2) and standard deviation (K, 2); NaN where unknown."""
    valid = ~np.isnan(coords[..., 0]) & defined[None]
    count = valid.sum(axis=0)
    total = np.where(valid[..., None], coords, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count[:, None]
        sq = np.where(valid[..., None], (coords - mean[None]) ** 2, 0.0).sum(axis=0)
        std = np.sqrt(sq / (count[:, None] - 1))
    mean[count == 0] = np.nan
    std[count < 2] = np.nan
    return count, mean, std


def _direction(offset: np.ndarray) -> str:
    """'0.30 towards the head, 0.05 towards the person's right' for a body-frame offset."""
    dx, dy = offset
    parts = []
    if abs(dy) >= 0.02:
        parts.append(f"{abs(dy):.2f} towards the {'hips' if dy > 0 else 'head'}")
    if abs(dx) >= 0.02:
        parts.append(f"{abs(dx):.2f} towards the person's {'right' if dx > 0 else 'left'}")
    return ", ".join(parts) or "no offset"


def _compare(k: int, s: int, r: int, count: np.ndarray, mean: np.ndarray,
             std: np.ndarray, flip: list[int]) -> dict[str, Any]:
    offset = mean[s, k] - mean[r, k]
    var = (std[s, k] ** 2 + std[r, k] ** 2) / 2 + NOISE_FLOOR ** 2
    mirror = flip[k]
    mirror_distance = (float(np.linalg.norm(mean[s, k] - mean[r, mirror]))
                       if mirror != k and count[r, mirror] >= 2 else None)
    return {"keypoint": k, "source": s, "reference": r, "n": int(count[s, k]),
            "n_reference": int(count[r, k]), "offset": [float(v) for v in offset],
            "distance": float(np.linalg.norm(offset)),
            "standardized": float(np.sqrt(np.sum(offset ** 2 / var))),
            "mirror_distance": mirror_distance}


def geometry_checks(dataset: Any, threshold: float = DEFAULT_THRESHOLD,
                    min_distance: float = MIN_DISTANCE,
                    min_instances: int = MIN_INSTANCES) -> tuple[list[Finding], dict[str, Any]]:
    """Findings about keypoints the sources place differently, and the statistics.

    The statistics (for the report): ``frame`` (the four frame keypoints, or None with a
    ``reason``), ``sources``, ``keypoints`` (union names), ``usable`` (instances with a
    usable frame per source), ``count`` (S, K) int, ``mean`` and ``std`` (S, K, 2) float
    arrays in the body frame (NaN where unknown), and ``comparisons``: one JSON-ready dict
    per (keypoint, source) compared with the reference, with ``flagged`` and ``swap``.
    """
    schema: KeypointSchema = dataset.schema
    sources: list[SourceView] = source_views(dataset)
    k_total, s_total = schema.num_keypoints, len(sources)
    stats: dict[str, Any] = {
        "frame": None, "reason": "", "sources": [s.name for s in sources],
        "keypoints": list(schema.keypoints), "usable": [0] * s_total,
        "count": np.zeros((s_total, k_total), np.int64),
        "mean": np.full((s_total, k_total, 2), np.nan),
        "std": np.full((s_total, k_total, 2), np.nan), "comparisons": [],
        "threshold": threshold, "min_distance": min_distance, "min_instances": min_instances,
    }
    frame = frame_indices(schema)
    if frame is None:
        stats["reason"] = (f"schema '{schema.name}' lacks left/right shoulders and hips, which "
                           "define the body frame")
        return [], stats
    stats["frame"] = [schema.keypoints[i] for i in frame]
    for s, src in enumerate(sources):
        coords = body_frame(src.table.keypoints, src.table.visibility, frame)
        stats["usable"][s] = int((~np.isnan(coords[:, frame[0], 0])).sum())
        count, mean, std = _source_stats(coords, np.asarray(src.table.defined, bool))
        stats["count"][s], stats["mean"][s], stats["std"][s] = count, mean, std
    count, mean, std = stats["count"], stats["mean"], stats["std"]

    for k in range(k_total):
        eligible = [s for s in range(s_total) if count[s, k] >= min_instances]
        for s in eligible[1:]:
            row = _compare(k, s, eligible[0], count, mean, std, schema.flip_indices)
            row["flagged"] = bool(row["standardized"] > threshold
                                  and row["distance"] > min_distance)
            row["swap"] = bool(row["flagged"] and row["mirror_distance"] is not None
                               and row["mirror_distance"] < row["distance"])
            stats["comparisons"].append(row)
    return _findings(stats, schema), stats


def _findings(stats: dict[str, Any], schema: KeypointSchema) -> list[Finding]:
    names, sources = schema.keypoints, stats["sources"]
    flagged = [c for c in stats["comparisons"] if c["flagged"]]
    swaps = {(c["source"], c["keypoint"]) for c in flagged if c["swap"]}
    findings, reported = [], set()
    for c in flagged:
        s, k, r = c["source"], c["keypoint"], c["reference"]
        if (s, k) in reported:
            continue
        numbers = (f"{c['standardized']:.1f} pooled standard deviations; n = {c['n']} and "
                   f"{c['n_reference']}")
        if c["swap"]:
            mirror = schema.flip_indices[k]
            pair = [k, mirror] if (s, mirror) in swaps else [k]
            reported.update((s, i) for i in pair)
            findings.append(Finding(
                "error", "left-right-swap",
                f"{sources[s]} puts {' and '.join(repr(names[i]) for i in pair)} on the other "
                f"side of the body: its '{names[k]}' is {c['distance']:.2f} torso lengths from "
                f"{sources[r]}'s '{names[k]}' ({numbers}) but only "
                f"{c['mirror_distance']:.2f} from {sources[r]}'s '{names[mirror]}'",
                "the source's left and right are exchanged for these keypoints: swap the "
                "targets of their pairs (or fix the source's keypoint names), then check again",
                sources[s], [names[i] for i in pair]))
        else:
            reported.add((s, k))
            findings.append(Finding(
                "warning", "definition-drift",
                f"{sources[s]} puts '{names[k]}' {c['distance']:.2f} torso lengths from where "
                f"{sources[r]} puts it ({_direction(np.array(c['offset']))}; {numbers})",
                "the two sources likely mean different points by this name: give the source's "
                "keypoint its own union keypoint or drop its pair; if the offset is a known "
                "convention difference you accept, ignore this",
                sources[s], [names[k]]))
    return findings
