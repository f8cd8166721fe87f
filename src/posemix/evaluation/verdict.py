"""Did mixing pay? A mixed run's per-source scores against each source trained alone.

Mixing sources can lower the score on the one a user cares about (the field's body8
models score below their AIC+COCO ones on COCO). So a mixed run given single-source
reference scores says, per source, whether mixing helped or hurt and by how much, in its
last log line and in ``verdict.json`` next to its checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from posemix.errors import ConfigError

DEFAULT_METRIC = "AP"
TIE = 5e-5  # scores equal at the 4 decimals they are logged with


@dataclass(frozen=True)
class SourceVerdict:
    """One source's score mixed vs alone; ``mixed`` is None when the run did not measure it."""

    key: str  # the metric, e.g. 'coco/AP'
    reference: float
    mixed: float | None

    @property
    def delta(self) -> float | None:
        return None if self.mixed is None else self.mixed - self.reference

    @property
    def outcome(self) -> str:
        if self.delta is None:
            return "not measured"
        if abs(self.delta) < TIE:
            return "tied"
        return "helped" if self.delta > 0 else "hurt"

    def describe(self) -> str:
        source, _, metric = self.key.rpartition("/")
        head = f"{source} {metric}" if source else metric
        if self.mixed is None:
            return f"{head}: not measured by this run (reference {self.reference:.4f})"
        relative = f" ({100 * self.delta / self.reference:+.1f}%)" if self.reference else ""
        by = "" if self.outcome == "tied" else f" by {abs(self.delta):.4f}{relative}"
        return (f"{head} {self.mixed:.4f} mixed vs {self.reference:.4f} alone: "
                f"{self.outcome}{by}")


def _metric_key(name: str) -> str:
    """'coco' → 'coco/AP'; a full key such as 'coco/PCK' stays as it is."""
    return name if "/" in name else f"{name}/{DEFAULT_METRIC}"


def references_from_metrics(metrics: Mapping, label: str) -> dict[str, float]:
    """References from a metrics JSON: a demo report (model name → metrics, where each
    ``<source>_only`` model gives its own source's scores) or one run's flat metrics."""
    out: dict[str, float] = {}
    nested = {k: v for k, v in metrics.items() if isinstance(v, Mapping)}
    if not nested:
        return {str(k): _number(v, f"{label}: '{k}'") for k, v in metrics.items()}
    for model, scores in nested.items():
        if not model.endswith("_only"):
            continue
        source = model[: -len("_only")]
        out.update({k: _number(v, f"{label}: '{model}' '{k}'") for k, v in scores.items()
                    if k.startswith(f"{source}/")})
    if not out:
        raise ConfigError(f"{label}: no single-source scores found; a metrics file maps model "
                          f"names to metrics, and each '<source>_only' model gives its own "
                          f"source's ('coco_only' → 'coco/AP'); it has {sorted(metrics)}")
    return out


def _number(value: object, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{label}: a reference score must be a number, got {value!r}")
    return float(value)


def parse_references(items: Iterable[str]) -> dict[str, float]:
    """``--reference`` values: ``source=score`` (``coco=0.638``, ``coco/PCK=0.9``) or the
    path of a metrics JSON file; later values override earlier ones."""
    out: dict[str, float] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if eq:
            try:
                score = float(value)
            except ValueError:
                raise ConfigError(f"--reference {item}: '{value}' is not a number") from None
            key = _metric_key(name.strip())
            if _is_fraction(key) and not 0.0 <= score <= 1.0:
                raise ConfigError(f"--reference {item}: {key} is a fraction between 0 and 1 "
                                  f"(0.552, not 55.2)")
            out[key] = score
            continue
        path = Path(item)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"--reference {item}: neither source=score nor an existing "
                              f"metrics file") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--reference {path}: not a readable JSON file ({exc})") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"--reference {path}: a metrics file holds a JSON object")
        out.update(references_from_metrics(data, str(path)))
    return out


def _is_fraction(key: str) -> bool:
    """AP, AR and PCK scores (and their variants such as 'AP .5') lie in [0, 1]."""
    return key.rpartition("/")[2].split(" ")[0] in ("AP", "AR", "PCK")


def check_reference_sources(references: Mapping[str, float], sources: Iterable[str]) -> None:
    """Before training: every reference names one of the run's sources, so that a typo is
    not found out as 'not measured' once training is over."""
    known = list(sources)
    for key in references:
        source = key.split("/")[0]
        if source not in known:
            raise ConfigError(f"--reference {key}: the run has no source '{source}'; its "
                              f"sources are {', '.join(known)}")


def judge(metrics: Mapping[str, float], references: Mapping[str, float]
          ) -> list[SourceVerdict]:
    """One verdict per reference, in the references' order."""
    return [SourceVerdict(key, float(ref), None if metrics.get(key) is None
                          else float(metrics[key]))
            for key, ref in references.items()]


def verdict_line(verdicts: Iterable[SourceVerdict]) -> str:
    """The run's last log line: every source's outcome."""
    return "mixing verdict: " + "; ".join(v.describe() for v in verdicts)


def write_verdict(path: str | Path, verdicts: Iterable[SourceVerdict]) -> Path:
    """``verdict.json``: per metric key, the scores, the difference and the outcome."""
    path = Path(path)
    path.write_text(json.dumps({
        v.key: {**asdict(v), "delta": v.delta, "outcome": v.outcome} for v in verdicts
    }, indent=1) + "\n", encoding="utf-8")
    return path
