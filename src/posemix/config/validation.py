"""The checks that config sections share, with one wording: unknown keys, positive
integers, fractions. Each raises ConfigError naming where in the config the value is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from posemix.errors import ConfigError


def reject_unknown_keys(section: Mapping[str, Any], valid: Iterable[str], where: str,
                        word: str = "unknown") -> None:
    """Raise when ``section`` has a key outside ``valid``."""
    valid = sorted(valid)
    unknown = sorted(set(section) - set(valid))
    if unknown:
        raise ConfigError(f"{where} has {word} key(s) {unknown}; valid: {', '.join(valid)}")


def positive_int(value: Any, where: str) -> int:
    """``value`` if it is an int >= 1 (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {value!r}")
    return value


def fraction(value: Any, where: str) -> float:
    """``value`` if it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)
