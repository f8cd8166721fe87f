"""Weight initialisation from MMPose-style ``init_cfg`` and safe loading of pretrained weights.

``init_cfg`` entries of type Normal / Constant / Kaiming are applied when a module is built
(so a freshly built model is ready to train); ``Pretrained`` entries are kept and applied by
``init_weights()``, as MMPose's runner does, so that building a model never reads a file.

Checkpoints are always read with ``torch.load(weights_only=True)``: unpickling arbitrary
objects can run code, so a checkpoint that needs it is refused with a CheckpointError.
Plain numpy arrays (found in MMPose 1.x checkpoint metadata) are the one allowed extra.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from posemix.config.validation import reject_unknown_keys
from posemix.errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

InitCfg = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

# ImageNet weights that MMPose names with the torchvision:// scheme (IMAGENET1K_V1 files).
TORCHVISION_URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
}

# init_cfg types and the keys each takes (mmengine's names and defaults). Pretrained's
# map_location is accepted for MMPose configs; weights are always read to CPU, then copied.
_INIT_KEYS = {
    "Normal": {"layer", "mean", "std", "bias"},
    "Constant": {"layer", "val", "bias"},
    "Kaiming": {"layer", "a", "mode", "nonlinearity", "distribution", "bias"},
    "Pretrained": {"checkpoint", "prefix", "map_location"},
}


@dataclass
class LoadReport:
    """What a non-strict load did: keys the model wanted but the checkpoint lacked, keys the
    checkpoint had that the model does not, and keys present in both with different shapes
    (``(key, checkpoint shape, model shape)``; those are left untouched)."""

    checkpoint: str
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing_keys or self.unexpected_keys or self.mismatched_keys)


def _as_list(init_cfg: InitCfg) -> list[Mapping[str, Any]]:
    if init_cfg is None:
        return []
    if isinstance(init_cfg, Mapping):
        return [init_cfg]
    return list(init_cfg)


def split_init_cfg(init_cfg: InitCfg, default: InitCfg) -> tuple[list[Mapping[str, Any]],
                                                                  Mapping[str, Any] | None]:
    """Split ``init_cfg`` into layer initialisers (``default`` when it names none) and the
    one ``Pretrained`` entry, if any."""
    layer_inits, pretrained = [], None
    for entry in _as_list(init_cfg):
        kind = entry.get("type") if isinstance(entry, Mapping) else None
        if kind not in _INIT_KEYS:
            raise ConfigError(f"unknown init_cfg type {kind!r}; known: {', '.join(_INIT_KEYS)}")
        reject_unknown_keys({k: v for k, v in entry.items() if k != "type"}, _INIT_KEYS[kind],
                            f"init_cfg type '{kind}'")
        if kind == "Pretrained":
            if "checkpoint" not in entry:
                raise ConfigError("init_cfg type 'Pretrained' needs a 'checkpoint' path or URL")
            pretrained = entry
        else:
            layer_inits.append(entry)
    return (layer_inits or _as_list(default)), pretrained


def _matches(module: nn.Module, layers: Sequence[str]) -> bool:
    names = {cls.__name__ for cls in type(module).__mro__}
    return any(layer in names for layer in layers)


def _init_one(module: nn.Module, entry: Mapping[str, Any]) -> None:
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    kind = entry["type"]
    if isinstance(weight, torch.Tensor):
        if kind == "Normal":
            nn.init.normal_(weight, entry.get("mean", 0.0), entry.get("std", 1.0))
        elif kind == "Constant":
            nn.init.constant_(weight, entry.get("val", 0.0))
        else:  # Kaiming, with mmengine's defaults
            kwargs = dict(a=entry.get("a", 0), mode=entry.get("mode", "fan_out"),
                          nonlinearity=entry.get("nonlinearity", "relu"))
            if entry.get("distribution", "normal") == "uniform":
                nn.init.kaiming_uniform_(weight, **kwargs)
            else:
                nn.init.kaiming_normal_(weight, **kwargs)
    if isinstance(bias, torch.Tensor):
        nn.init.constant_(bias, entry.get("bias", 0.0))


@torch.no_grad()
def apply_layer_inits(module: nn.Module, layer_inits: Sequence[Mapping[str, Any]]) -> None:
    """Apply Normal / Constant / Kaiming initialisers to the sub-layers they name."""
    for entry in layer_inits:
        layers = entry.get("layer")
        if layers is None:
            raise ConfigError(f"init_cfg {dict(entry)} needs a 'layer' (e.g. 'Conv2d')")
        layers = [layers] if isinstance(layers, str) else list(layers)
        for sub in module.modules():
            if _matches(sub, layers):
                _init_one(sub, entry)


def _numpy_safe_globals() -> list[Any]:
    """What rebuilding plain numpy arrays and scalars needs (bool, numbers, strings; never
    object arrays), under both the numpy 2 and the numpy 1 pickle names."""
    core = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    codes = "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"] + "SU"
    entries: list[Any] = [np.ndarray, np.dtype, *{type(np.dtype(c)) for c in codes}]
    for name in ("_reconstruct", "scalar"):
        fn = getattr(core, name)
        entries.append(fn)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            if fn.__module__ != module:
                entries.append((fn, f"{module}.{name}"))
    return entries


def _cached_download(url: str) -> Path:
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s to %s", url, target)
        try:
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except Exception as exc:  # network errors come in many types
            raise CheckpointError(f"cannot download checkpoint {url}: {exc}. Download it "
                                  f"yourself and put it at {target}, or pass a local path."
                                  ) from exc
    return target


def resolve_checkpoint(checkpoint: str | os.PathLike) -> Path:
    """A local file for a path, an http(s) URL (cached in torch's hub folder) or
    ``torchvision://resnetNN``."""
    text = str(checkpoint)
    if text.startswith("torchvision://"):
        name = text[len("torchvision://"):]
        if name not in TORCHVISION_URLS:
            raise CheckpointError(f"unknown torchvision checkpoint '{text}'; known: "
                                  f"{', '.join('torchvision://' + n for n in TORCHVISION_URLS)}")
        return _cached_download(TORCHVISION_URLS[name])
    if text.startswith(("http://", "https://")):
        return _cached_download(text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    return path


def read_state_dict(checkpoint: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: ``ckpt['state_dict']`` or ``ckpt['model']`` if present,
    else the raw dict. Always ``weights_only=True``."""
    path = resolve_checkpoint(checkpoint)
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: refused to load. posemix reads checkpoints with "
            f"torch.load(weights_only=True) only, because unpickling arbitrary Python objects "
            f"can run code; this file needs more than tensors and plain containers ({reason}). "
            f"If you trust it, re-save just its weights: torch.save(torch.load(path, "
            f"weights_only=False)['state_dict'], new_path).") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint "
                              f"(truncated or corrupt?): {exc}") from exc
    return state_tensors(data, path)


def state_tensors(data: Any, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint already read: ``data['state_dict']`` or
    ``data['model']`` if present, else the raw dict."""
    if isinstance(data, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not a state dict")
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: contains no tensors")
    return tensors


def load_pretrained(module: nn.Module, checkpoint: str | os.PathLike,
                    prefix: str | None = None,
                    state: Mapping[str, torch.Tensor] | None = None) -> LoadReport:
    """Load ``checkpoint`` into ``module`` by key, non-strictly, and report the differences.

    ``prefix`` (e.g. ``'backbone.'``) keeps only keys under it and strips it, to initialise a
    backbone from a whole pose model. MMPose 0.x keys (``keypoint_head.``) are renamed to
    ``head.`` when the module has a head. Returns the report and logs a warning when the
    checkpoint and the module differ. ``state``: the checkpoint's tensors, when already read.
    """
    state = read_state_dict(checkpoint) if state is None else state
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise CheckpointError(f"{checkpoint}: no key starts with prefix '{prefix}'")
    own = module.state_dict()
    # buffers the model keeps out of its state dict (the preprocessor's mean/std), which
    # older MMPose checkpoints still carry
    transient = {name for name, _ in module.named_buffers()} - set(own)
    state = {k: v for k, v in state.items() if k not in transient}
    if any(k.startswith("head.") for k in own) and not any(k.startswith("head.") for k in state):
        state = {("head." + k[len("keypoint_head."):] if k.startswith("keypoint_head.") else k): v
                 for k, v in state.items()}
    report = LoadReport(str(checkpoint))
    # BN step counters are no weights and old checkpoints (torchvision's) lack them
    report.missing_keys = [k for k in own
                           if k not in state and not k.endswith(".num_batches_tracked")]
    report.unexpected_keys = [k for k in state if k not in own]
    usable = {}
    for key, value in state.items():
        if key not in own:
            continue
        if tuple(value.shape) != tuple(own[key].shape):
            report.mismatched_keys.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    module.load_state_dict(usable, strict=False)
    if not report.clean:
        logger.warning(
            "loaded %s with differences: %d missing keys %s, %d unexpected keys %s, "
            "%d shape mismatches %s", checkpoint, len(report.missing_keys),
            _preview(report.missing_keys), len(report.unexpected_keys),
            _preview(report.unexpected_keys), len(report.mismatched_keys),
            _preview([f"{k} {a} vs {b}" for k, a, b in report.mismatched_keys]))
    return report


def _preview(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"

