"""The demo's answer to "does mixing pay here?": every model scored per source, and a
verdict per mixed model and source against that source trained alone.

Each source is scored in its own layout (COCO AP over 17 keypoints, AIC AP over 14 with
AIC's sigmas), so a single-source baseline has a score only on its own source.
"""

from __future__ import annotations

from collections.abc import Mapping

from posemix.evaluation.verdict import judge, references_from_metrics, verdict_line

SOURCES = ("coco", "aic")
# metric key, row label, decimals shown
ROWS = (("coco/AP", "COCO-like val: COCO AP (17 keypoints)", 3),
        ("aic/AP", "AIC-like val: AIC AP (14 keypoints, AIC sigmas)", 3),
        ("coco/PCK", "COCO-like val: PCK@0.1", 3),
        ("aic/PCK", "AIC-like val: PCK@0.1", 3),
        ("aic/PCK/head_top", "AIC-like val: head top PCK@0.1", 3),
        ("aic/PCK/neck", "AIC-like val: neck PCK@0.1", 3),
        ("iterations", "training iterations", 0),
        ("minutes", "minutes (training + evaluation)", 1))


def _fmt(value: float | None, decimals: int) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def comparison_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown: one column per model (in ``results``' order), one row per metric, each
    source in its own layout; '—' where a model cannot be scored in a layout."""
    names = list(results)
    rows = ["| metric (own layout of each source) | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for key, label, decimals in ROWS:
        if any(key in scores for scores in results.values()):
            rows.append(f"| {label} | " + " | ".join(_fmt(results[n].get(key), decimals)
                                                      for n in names) + " |")
    return "\n".join(rows)


def best_mixed(results: Mapping[str, Mapping[str, float]]) -> str | None:
    """The mixed model with the highest mean of the per-source APs (None without one)."""
    mixed = {name: scores for name, scores in results.items() if not name.endswith("_only")}
    scored = {name: [scores.get(f"{s}/AP") for s in SOURCES] for name, scores in mixed.items()}
    scored = {name: aps for name, aps in scored.items() if None not in aps}
    return max(scored, key=lambda n: sum(scored[n]) / len(SOURCES)) if scored else None


def verdicts(results: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Per mixed model, its verdict line against the ``<source>_only`` baselines; then
    whether the goal holds: the best mixed model at or above every baseline on its source's
    own AP."""
    baselines = {name: scores for name, scores in results.items() if name.endswith("_only")}
    if not baselines:
        return []
    references = {key: value for key, value in
                  references_from_metrics(baselines, "demo baselines").items()
                  if key.endswith("/AP")}
    lines = [f"{name}: {verdict_line(judge(scores, references))}"
             for name, scores in results.items() if name not in baselines]
    best = best_mixed(results)
    if best is not None:
        outcomes = judge(results[best], references)
        held = all(v.outcome in ("helped", "tied") for v in outcomes)
        lines.append(f"goal (the best mixed model, {best}, at or above each source's "
                     f"single-source AP): {'met' if held else 'missed'}")
    return lines
