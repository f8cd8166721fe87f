"""Chaining pipeline steps, plus the lookups every step shares.

A step is any callable ``results -> results``; a step that returns ``None`` (e.g.
``LoadImage(ignore_empty=True)`` on an unreadable file) drops the sample, as in MMEngine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from posemix.errors import ConfigError
from posemix.registry import TRANSFORMS

Transform = Callable[[dict], "dict | None"]


def describe_sample(results: dict, with_image: bool = True) -> str:
    """Name a sample in error messages: source, index inside the source, image file."""
    parts = [
        f"dataset '{results['dataset_name']}'" if "dataset_name" in results else None,
        f"sample_idx {results['sample_idx']}" if "sample_idx" in results else None,
        f"image '{results['img_path']}'" if with_image and results.get("img_path") else None,
    ]
    described = ", ".join(p for p in parts if p)
    return described or "sample without dataset_name/sample_idx/img_path"


def require(results: dict, key: str, step: str, hint: str = "") -> Any:
    """``results[key]``, or a ConfigError saying which step needed it and who should set it."""
    value = results.get(key)
    if value is None:
        raise ConfigError(
            f"{step} needs results['{key}']{' (' + hint + ')' if hint else ''}, but the "
            f"{describe_sample(results)} does not have it; check the pipeline order"
        )
    return value


def require_rng(results: dict, step: str) -> np.random.Generator:
    """The sample's own generator: random steps draw from it and nothing else (reproducibility)."""
    return require(results, "rng", step, "a numpy Generator set by the dataset")


class BaseTransform:
    """Common base of the pipeline steps: a readable repr of their public settings."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


@TRANSFORMS.register()
class Compose:
    """Run steps in order; dict configs are built through ``TRANSFORMS``."""

    def __init__(self, transforms: Sequence[dict | Transform]):
        if isinstance(transforms, dict) or callable(transforms):
            raise ConfigError("Compose takes a list of transforms (configs or callables)")
        self.transforms: list[Transform] = []
        for i, cfg in enumerate(transforms):
            step = TRANSFORMS.build(cfg)
            if not callable(step):
                raise ConfigError(
                    f"pipeline step {i} is a {type(step).__name__}, not a transform config "
                    f"(dict with 'type') or a callable"
                )
            self.transforms.append(step)

    def __call__(self, results: dict) -> dict | None:
        for step in self.transforms:
            results = step(results)
            if results is None:
                return None
        return results

    def __repr__(self) -> str:
        inner = "".join(f"\n    {step!r}," for step in self.transforms)
        return f"Compose([{inner}\n])"
