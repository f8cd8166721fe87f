"""``--cfg-options``: ``KEY=VALUE`` words into the options dict that
``Config.merge_from_dict`` applies."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from posemix.config.loader import split_dotted_key
from posemix.errors import ConfigError


def parse_cfg_options(options: Iterable[str]) -> dict[str, Any]:
    """Turn ``['a.b=1', 'c=[1,2]', 'd=coco/AP']`` (``--cfg-options``) into an options dict.

    Values are Python literals when ``ast.literal_eval`` accepts them (numbers, quoted
    strings, lists, tuples, dicts, True/False/None); ``true``/``false``/``none``/``null``
    in any case are booleans/None; a bare comma list ``a=1,2`` is a list, as in mmengine.
    Anything else stays a string, so ``ckpt=work/epoch_10.pth`` needs no quotes.
    """
    parsed: dict[str, Any] = {}
    for option in options:
        if not isinstance(option, str) or "=" not in option:
            raise ConfigError(f"malformed config option {option!r}: expected KEY=VALUE, "
                              "e.g. train_dataloader.batch_size=32")
        key, raw = option.split("=", 1)
        key = key.strip()
        split_dotted_key(key, option)
        parsed[key] = _parse_value(raw.strip())
    return parsed


def _parse_value(raw: str) -> Any:
    words = {"true": True, "false": False, "none": None, "null": None}
    if raw.lower() in words:
        return words[raw.lower()]
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw
    if isinstance(value, tuple) and not raw.startswith("("):
        return list(value)
    return value
