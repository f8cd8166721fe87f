"""A config as a loadable Python file: literals only, one line when it fits."""

from __future__ import annotations

import keyword
from typing import Any

from posemix.errors import ConfigError

_INDENT = "    "
_LINE_WIDTH = 100


def is_identifier(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _literal_repr(value: Any, where: str) -> str:
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        if isinstance(value, float) and text in ("inf", "-inf", "nan"):
            text = f"float('{text}')"
        return text
    raise ConfigError(f"config value at '{where}' ({type(value).__name__}) cannot be written "
                      "as a Python literal")


def format_value(value: Any, depth: int, used: int, where: str) -> str:
    """Python source for ``value``: one line when it fits, else one item per line."""
    if isinstance(value, dict):
        named = all(is_identifier(k) for k in value)
        items = [(f"{k}=" if named else f"{k!r}: ", v, f"{where}.{k}") for k, v in value.items()]
        open_, close = ("dict(", ")") if named else ("{", "}")
    elif isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        items = [("", v, f"{where}.{i}") for i, v in enumerate(value)]
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
    else:
        return _literal_repr(value, where)
    if isinstance(value, tuple) and len(value) == 1:
        close = ",)"
    flat = open_ + ", ".join(p + format_value(v, 0, 0, w) for p, v, w in items) + close
    if "\n" not in flat and len(_INDENT * depth) + used + len(flat) <= _LINE_WIDTH:
        return flat
    inner = _INDENT * (depth + 1)
    if open_ in "[(" and not any(isinstance(v, (dict, list, tuple)) for _, v, _ in items):
        rows = _pack_scalars([_literal_repr(v, w) + "," for _, v, w in items], len(inner))
        body = "".join(f"{inner}{row}\n" for row in rows)
    else:
        body = "".join(f"{inner}{p}{format_value(v, depth + 1, len(p), w)},\n"
                       for p, v, w in items)
    return f"{open_}\n{body}{_INDENT * depth}{close.lstrip(',')}"


def _pack_scalars(texts: list[str], indent: int) -> list[str]:
    """Greedily fill lines with the items of a long list of numbers or strings."""
    rows: list[str] = []
    for text in texts:
        if rows and indent + len(rows[-1]) + 1 + len(text) <= _LINE_WIDTH:
            rows[-1] += " " + text
        else:
            rows.append(text)
    return rows
