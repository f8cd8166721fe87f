"""Source balancing by rule: source i is drawn with probability ∝ nᵢ^(1/T).

Hand-tuned ratios (``sample_ratio_factor``, ``source_ratio``) have to be redone whenever
a source grows; a temperature states the intent once. T=1 draws in proportion to size
(plain concatenation), T→∞ draws every source equally often, values in between shrink
the large sources' lead (the rule multilingual language models use to mix corpora).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from posemix.errors import ConfigError

_KEYS = ("temperature",)


def balance_temperature(balance: Mapping[str, Any], where: str) -> float:
    """The temperature of a ``balance=dict(temperature=T)`` config, checked."""
    if not isinstance(balance, Mapping):
        raise ConfigError(f"{where}: balance must be a dict like dict(temperature=2.0), "
                          f"got {balance!r}")
    unknown = sorted(set(balance) - set(_KEYS))
    if unknown or "temperature" not in balance:
        raise ConfigError(f"{where}: balance takes exactly the key(s) {list(_KEYS)}, "
                          f"got {sorted(balance)}")
    t = balance["temperature"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or math.isnan(t) or t <= 0:
        raise ConfigError(f"{where}: balance temperature must be a number > 0 (1: in "
                          f"proportion to size, large: uniform), got {t!r}")
    return float(t)


def balanced_shares(sizes: Sequence[int], temperature: float) -> np.ndarray:
    """Each source's probability, nᵢ^(1/T) / Σⱼ nⱼ^(1/T); an empty source gets 0."""
    n = np.asarray(sizes, dtype=np.float64)
    if n.size == 0 or not (n > 0).any():
        raise ConfigError(f"source balancing needs at least one non-empty source, got sizes "
                          f"{list(sizes)}")
    weights = np.where(n > 0, np.power(np.maximum(n, 1.0), 1.0 / temperature), 0.0)
    return weights / weights.sum()


def balanced_lengths(sizes: Sequence[int], temperature: float) -> list[int]:
    """Slots per source in an epoch of Σnᵢ samples, so the epoch keeps its length."""
    return apportion(balanced_shares(sizes, temperature), int(sum(sizes)))


def apportion(shares: np.ndarray, total: int) -> list[int]:
    """``total`` split by ``shares`` (summing to 1) into integers by largest remainder (ties
    to the earlier source): the counts sum to ``total`` exactly."""
    exact = np.asarray(shares, dtype=np.float64) * total
    lens = np.floor(exact + 1e-9).astype(np.int64)
    order = sorted(range(len(lens)), key=lambda i: (-(exact[i] - lens[i]), i))
    for i in order[:total - int(lens.sum())]:
        lens[i] += 1
    return [int(v) for v in lens]


def epoch_shares(dataset: Any, sampler: Any = None) -> list[float]:
    """Each source's fraction of what an epoch draws: the sampler's fixed batch composition
    when it has one (MultiSourceSampler), else the dataset's slots per source."""
    per_batch = getattr(sampler, "num_per_source", None)
    if per_batch is not None:
        return [c / sum(per_batch) for c in per_batch]
    lens = list(getattr(dataset, "lens", [len(dataset)]))
    total = sum(lens)
    return [n / total if total else 0.0 for n in lens]
