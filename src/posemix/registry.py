"""Registries that turn MMPose-style config dicts (``dict(type='Name', ...)``) into objects.

Unknown types and unknown arguments fail at build time with the closest valid names,
so a typo in a config is found before any data is loaded.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from posemix.errors import ConfigError

# OpenMMLab packages whose registries posemix's single namespace stands in for. MMPose
# configs pick another package's registry with ``_scope_='mmdet'`` in a dict or a
# ``type='mmdet.CSPNeXt'`` prefix; here both name the same posemix class.
SCOPES = ("mmpose", "mmdet", "mmengine", "mmcv", "mmpretrain")
SCOPE_KEY = "_scope_"


def strip_scope(name: str) -> str:
    """``'mmdet.CSPNeXt'`` → ``'CSPNeXt'``; names without a known scope prefix unchanged."""
    scope, dot, rest = name.partition(".")
    return rest if dot and scope in SCOPES else name


def config_arguments(cfg: dict[str, Any], what: str) -> dict[str, Any]:
    """A config dict's constructor arguments: everything but ``type`` and a known
    ``_scope_`` (an unknown scope is a ConfigError naming ``what``)."""
    scope = cfg.get(SCOPE_KEY)
    if scope is not None and scope not in SCOPES:
        raise ConfigError(f"{what}: unknown {SCOPE_KEY} {scope!r}; known scopes: "
                          f"{', '.join(SCOPES)}")
    return {k: v for k, v in cfg.items() if k not in ("type", SCOPE_KEY)}


def _closest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


class Registry:
    """A name → class (or function) table for one kind of component."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, obj: Callable[..., Any] | None = None, *, name: str | None = None):
        """Register ``obj`` under its own name (usable as a decorator)."""

        def add(target: Callable[..., Any]) -> Callable[..., Any]:
            key = name or target.__name__
            if key in self._entries and self._entries[key] is not target:
                raise ValueError(f"{self.kind} registry already has '{key}'")
            self._entries[key] = target
            return target

        return add(obj) if obj is not None else add

    def __contains__(self, name: str) -> bool:
        return strip_scope(name) in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., Any]:
        name = strip_scope(name)
        if name not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} type '{name}'.{_closest(name, self.names())}"
                f" Known {self.kind} types: {', '.join(self.names())}"
            )
        return self._entries[name]

    def build(self, cfg: Any, **defaults: Any) -> Any:
        """Build ``cfg`` (a dict with ``type``); objects that are already built pass through.

        ``defaults`` fill arguments the config does not set (e.g. a dataset's metainfo).
        """
        if not isinstance(cfg, dict):
            return cfg
        if "type" not in cfg:
            raise ConfigError(f"a {self.kind} config needs a 'type' key, got keys {sorted(cfg)}")
        type_ = cfg["type"]
        args = config_arguments(cfg, f"{self.kind} '{type_}'")
        target = type_ if callable(type_) else self.get(type_)
        for key, value in defaults.items():
            args.setdefault(key, value)
        check_arguments(target, args, f"{self.kind} '{getattr(target, '__name__', type_)}'")
        return target(**args)


def check_arguments(target: Callable[..., Any], args: dict[str, Any], what: str,
                    require: bool = True) -> None:
    """Raise ConfigError if ``args`` names parameters ``target`` does not take, gives text
    where the default is a number or a bool (``lr='fast'``: torch would fail deep inside
    its first step), or, with ``require``, leaves out required ones."""
    params = inspect.signature(target).parameters
    for key, value in args.items():
        default = params[key].default if key in params else None
        if isinstance(value, str) and isinstance(default, (int, float)):  # bool too
            kind = "True or False" if isinstance(default, bool) else "a number"
            raise ConfigError(f"{what}: '{key}' must be {kind} (its default is {default!r}), "
                              f"got {value!r}")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in args:
        if key not in valid:
            raise ConfigError(
                f"{what} has no argument '{key}'.{_closest(key, valid)}"
                f" Valid arguments: {', '.join(valid)}"
            )
    if not require:
        return
    missing = [
        n for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and n not in args and n != "self"
    ]
    if missing:
        raise ConfigError(f"{what} is missing required argument(s): {', '.join(missing)}")


DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
CODECS = Registry("codec")
MODELS = Registry("model")
METRICS = Registry("metric")
SAMPLERS = Registry("sampler")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("param_scheduler")
HOOKS = Registry("hook")
REGISTRIES = (DATASETS, TRANSFORMS, CODECS, MODELS, METRICS, SAMPLERS, OPTIMIZERS, SCHEDULERS,
              HOOKS)


def check_config_tree(node: Any, where: str = "config") -> None:
    """Check every ``dict(type=...)`` in a config tree against its registered signature,
    without building anything: unknown types and argument names surface before any data
    is read. Arguments filled in at build time are not required here."""
    if isinstance(node, dict):
        type_ = node.get("type")
        if isinstance(type_, str):
            owners = [r for r in REGISTRIES if type_ in r]
            if owners:
                args = config_arguments(node, f"{where} ({type_})")
                check_arguments(owners[0].get(type_), args, f"{where} ({type_})",
                                require=False)
        for key, value in node.items():
            check_config_tree(value, f"{where}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_config_tree(value, f"{where}[{i}]")


def accepts(target: Any, name: str) -> bool:
    """Whether ``target`` takes an argument ``name`` (or any keyword)."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


def registered_type(registry: Registry, cfg: Mapping[str, Any]) -> Any:
    """The class (or function) a ``dict(type=...)`` names, without building it."""
    type_ = cfg.get("type")
    if type_ is None:
        raise ConfigError(f"a {registry.kind} config needs a 'type' key, got keys {sorted(cfg)}")
    return registry.get(type_) if isinstance(type_, str) else type_


def import_custom_modules(cfg: Mapping[str, Any]) -> None:
    """mmengine's ``custom_imports=dict(imports=[...], allow_failed_imports=False)``: import
    modules that register user-defined types before anything is built."""
    spec = cfg.get("custom_imports")
    if not spec:
        return
    imports = spec.get("imports", [])
    for name in [imports] if isinstance(imports, str) else imports:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if not spec.get("allow_failed_imports", False):
                raise ConfigError(f"custom_imports: cannot import '{name}': {exc}") from exc
            warnings.warn(f"custom_imports: skipped '{name}': {exc}", stacklevel=2)
