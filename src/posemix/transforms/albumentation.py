"""MMPose's ``Albumentation`` wrapper: pixel-level albumentations transforms on the crop.

Configs write the albumentations 1.x arguments (``CoarseDropout(max_holes=1,
max_height=0.4, ...)``, ``Blur(blur_limit=7)``); 2.x removed them. ``translate_v1_args``
rewrites them into the installed 2.x spelling with the same meaning (reference section
6.9), so body8 configs run unchanged. Only the image is passed (keymap ``img → image``):
keypoints and boxes go through untouched, as in MMPose.

Reproducibility: before every call the albumentations pipeline gets generators seeded from
the sample's own generator, so a sample's draws depend on (seed, epoch, index) alone.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from posemix.errors import ConfigError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, require, require_rng

# 1.x range arguments given as (min name, max name) → their 2.x range argument; a missing
# min defaults to the max, as 1.x did.
_V1_RANGES = {
    "CoarseDropout": (("min_holes", "max_holes", "num_holes_range"),
                      ("min_height", "max_height", "hole_height_range"),
                      ("min_width", "max_width", "hole_width_range")),
}
_V1_RENAMES = {"CoarseDropout": {"fill_value": "fill", "mask_fill_value": "fill_mask"}}
_V1_DEFAULTS = {"CoarseDropout": {"max_holes": 8, "max_height": 8, "max_width": 8}}
# ``blur_limit=k`` meant (3, k) in 1.x.
_BLUR_LIMIT = ("Blur", "MedianBlur", "MotionBlur", "GaussianBlur")


def translate_v1_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` of albumentations transform ``name`` with 1.x names rewritten to 2.x's."""
    out = dict(args)
    if out.pop("always_apply", False):
        out["p"] = 1.0
    ranges = _V1_RANGES.get(name, ())
    if any(lo in out or hi in out for lo, hi, _ in ranges):
        defaults = _V1_DEFAULTS[name]
        for lo, hi, new in ranges:
            high = out.pop(hi, defaults[hi])
            low = out.pop(lo, None)
            out[new] = (high if low is None else low, high)
    for old, new in _V1_RENAMES.get(name, {}).items():
        if old in out:
            out[new] = out.pop(old)
    if name in _BLUR_LIMIT and isinstance(out.get("blur_limit"), int):
        out["blur_limit"] = (3, out["blur_limit"])
    return out


def _albumentations() -> Any:
    try:
        import albumentations
    except ImportError:
        raise ConfigError("Albumentation needs the albumentations package: "
                          "pip install 'posemix[albumentations]'") from None
    return albumentations


def build_albumentations(cfg: Mapping[str, Any], module: Any) -> Any:
    """One albumentations transform from an MMPose-style dict (nested ``transforms`` too)."""
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ConfigError(f"Albumentation: each transform must be a dict with 'type', got {cfg!r}")
    args = {k: v for k, v in cfg.items() if k != "type"}
    name = cfg["type"]
    cls = getattr(module, str(name), None) if isinstance(name, str) else name
    if cls is None:
        raise ConfigError(f"Albumentation: albumentations {module.__version__} has no "
                          f"transform '{name}'")
    if "transforms" in args:
        args["transforms"] = [build_albumentations(t, module) for t in args["transforms"]]
    args = translate_v1_args(getattr(cls, "__name__", str(name)), args)
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Albumentation: albumentations.{name}({args}) failed: {exc}") from None


@TRANSFORMS.register()
class Albumentation(BaseTransform):
    """Run albumentations ``transforms`` (MMPose config dicts) on ``results['img']``.

    ``keymap`` maps results keys to albumentations targets; only image targets are
    supported (MMPose's body8 configs pass only the image).
    """

    def __init__(self, transforms: Sequence[Mapping[str, Any]],
                 keymap: Mapping[str, str] | None = None):
        module = _albumentations()
        self.keymap = dict(keymap) if keymap is not None else {"img": "image"}
        if set(self.keymap.values()) != {"image"}:
            raise ConfigError(f"Albumentation: keymap {self.keymap} is not supported; posemix "
                              "passes only the image (keymap={'img': 'image'})")
        self.transforms = list(transforms)
        # only an image goes in: the shape check between targets has nothing to compare
        self._pipeline = module.Compose(
            [build_albumentations(t, module) for t in self.transforms], is_check_shapes=False)

    def __call__(self, results: dict) -> dict:
        step = "Albumentation"
        rng = require_rng(results, step)
        seed = int(rng.integers(2**63))
        self._pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
        for key, target in self.keymap.items():
            img = np.ascontiguousarray(require(results, key, step))
            results[key] = self._pipeline(**{target: img})[target]
        return results
