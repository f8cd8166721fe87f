"""Reading MMPose/mmengine-style config files: Python, JSON or YAML, with ``_base_`` inheritance.

What is supported, and nothing more:

* **Python configs** are executed in a fresh namespace (``__file__`` is set to the config's
  path). Every module-level name that does not start with ``_`` and is not a module,
  function or class becomes a top-level key. ``_base_`` is read from the namespace.
* **JSON and YAML configs** hold one mapping with the same keys (YAML needs PyYAML).
* ``_base_`` is a path or a list of paths, relative to the file that names it. A base
  path that does not exist there but points into a ``configs/`` or ``_base_/`` tree is
  looked up in posemix's packaged configs, so MMPose configs copied on their own still find
  ``../../../_base_/default_runtime.py``. Several bases may not define the same top-level key.
* Merging (the child into its bases) follows mmengine: dicts merge recursively, a dict
  with ``_delete_=True`` replaces the base value, every other value (lists included)
  replaces. ``_delete_`` keys never reach the loaded config.
* Not supported: mmengine's ``{{_base_.xxx}}`` substitution and reading base variables
  from inside a Python config; a config that needs a base value repeats it.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from posemix.config.writer import format_value, is_identifier
from posemix.errors import ConfigError

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
PYTHON_SUFFIXES = (".py",)
JSON_SUFFIXES = (".json",)
YAML_SUFFIXES = (".yaml", ".yml")


def packaged_configs_dir() -> Path:
    """The ``configs`` tree shipped inside the posemix package (metainfo, seed configs)."""
    return Path(__file__).resolve().parent.parent / "configs"


def resolve_config_path(path: str | os.PathLike, relative_to: str | os.PathLike | None = None
                        ) -> Path | None:
    """Find a config file the way MMPose users expect, or return None.

    ``path`` is tried as given (relative to ``relative_to``, else to the working directory);
    if it does not exist and it runs through a ``configs/`` or ``_base_/`` folder, the same
    tail is tried inside :func:`packaged_configs_dir` (MMPose's ``.mim`` fallback).
    """
    given = Path(path).expanduser()
    direct = given if relative_to is None or given.is_absolute() else Path(relative_to) / given
    if direct.is_file():
        return direct.resolve()
    parts = given.parts
    packaged = packaged_configs_dir()
    for marker, keep_marker in (("configs", False), (BASE_KEY, True)):
        if marker in parts:
            last = len(parts) - 1 - parts[::-1].index(marker)
            candidate = packaged.joinpath(*parts[last if keep_marker else last + 1:])
            if candidate.is_file():
                return candidate.resolve()
    return None


class ConfigDict(dict):
    """A dict whose keys are also attributes (``cfg.model.head.out_channels``).

    Nested dicts, including dicts inside lists and tuples, become ConfigDicts when stored,
    so attribute access works at any depth. Missing attributes raise AttributeError naming
    the closest keys.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            keys = [k for k in self if isinstance(k, str)]
            close = difflib.get_close_matches(name, keys, n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise AttributeError(f"config has no key '{name}'.{hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(f"'{name}' is a method or property of the config; "
                                 f"set the key with cfg['{name}'] = ...")
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key '{name}'") from None

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """dict.update that wraps nested dicts like ``__setitem__`` does."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def copy(self) -> ConfigDict:
        """A shallow copy of the same type (dict.copy would return a plain dict)."""
        return copy.copy(self)

    def to_dict(self) -> dict:
        """Plain nested dicts (lists and tuples keep their type), for code that wants no magic."""
        return _rebuild(self)


def _wrap(value: Any) -> Any:
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, dict):
        return ConfigDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_wrap(v) for v in value)
    return value


def _rebuild(value: Any, make_dict: Callable[[dict], Any] = dict,
             make_tuple: Callable[[Iterable], Any] = tuple) -> Any:
    """Copy nested dicts, lists and tuples bottom-up, building dicts and tuples with the
    given constructors (plain copies by default)."""
    if isinstance(value, dict):
        return make_dict({k: _rebuild(v, make_dict, make_tuple) for k, v in value.items()})
    if isinstance(value, list):
        return [_rebuild(v, make_dict, make_tuple) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return make_tuple(_rebuild(v, make_dict, make_tuple) for v in value)
    return value


class Config(ConfigDict):
    """A loaded config: a :class:`ConfigDict` that remembers the file it came from."""

    def __init__(self, cfg_dict: Mapping[str, Any] | None = None,
                 filename: str | os.PathLike | None = None):
        super().__init__(cfg_dict or {})
        object.__setattr__(self, "_filename", None if filename is None else str(filename))

    @property
    def filename(self) -> str | None:
        """The path the config was loaded from (None for configs built in code)."""
        return self._filename

    @classmethod
    def fromfile(cls, filename: str | os.PathLike) -> Config:
        """Load a ``.py``, ``.json``, ``.yaml`` or ``.yml`` config with its ``_base_`` chain."""
        path = resolve_config_path(filename)
        if path is None:
            raise ConfigError(f"config file not found: {filename}")
        merged = _load_with_bases(path, ())
        return cls(_strip_delete(merged), filename=path)

    def merge_from_dict(self, options: Mapping[str, Any]) -> None:
        """Apply ``--cfg-options``-style overrides: ``{'model.head.out_channels': 19}``.

        Dotted keys walk into nested dicts (missing dicts are created) and into lists and
        tuples by index (``'train_dataloader.dataset.pipeline.0.type'``). A dict value is
        merged into an existing dict like a child config (``_delete_=True`` replaces).
        """
        for dotted, value in options.items():
            parts = split_dotted_key(dotted)
            _set_path(self, parts, value, dotted)

    @property
    def pretty_text(self) -> str:
        """The config as a loadable Python file: one ``name = value`` line per top-level key."""
        lines = []
        for key, value in self.items():
            if not is_identifier(key):
                raise ConfigError(
                    f"top-level key {key!r} is not a Python name, so the config cannot be "
                    "written as a Python file; dump it to .json instead")
            lines.append(f"{key} = {format_value(value, 0, len(key) + 3, key)}")
        return "\n".join(lines) + "\n"

    def dump(self, path: str | os.PathLike) -> None:
        """Write the config to ``path``: JSON for ``.json``, YAML for ``.yaml``/``.yml``,
        otherwise Python (see :attr:`pretty_text`). Parent folders are created."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix in JSON_SUFFIXES:
            try:
                text = json.dumps(self.to_dict(), indent=2) + "\n"
            except TypeError as exc:
                raise ConfigError(f"cannot write {target} as JSON: {exc}") from exc
        elif suffix in YAML_SUFFIXES:
            text = _import_yaml(target).safe_dump(_rebuild(self, make_tuple=list),
                                                  sort_keys=False)
        else:
            text = self.pretty_text
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def __repr__(self) -> str:
        return f"Config(filename={self.filename!r}, {dict.__repr__(self)})"


def split_dotted_key(key: str, option: str | None = None) -> list[str]:
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not p or p != p.strip() for p in parts):
        shown = option if option is not None else key
        raise ConfigError(f"malformed config option {shown!r}: key {key!r} must be dotted names "
                          "without empty parts, e.g. model.head.out_channels")
    return parts


def _set_path(node: Any, parts: list[str], value: Any, dotted: str) -> Any:
    """Set ``value`` at ``parts`` below ``node``; returns the node (tuples are rebuilt)."""
    head, rest = parts[0], parts[1:]
    if isinstance(node, (list, tuple)):
        if not head.lstrip("-").isdigit():
            raise ConfigError(f"config option '{dotted}': '{head}' indexes a list, "
                              "so it must be an integer")
        index = int(head)
        if not -len(node) <= index < len(node):
            raise ConfigError(f"config option '{dotted}': index {index} is out of range for "
                              f"a list of length {len(node)}")
        items = list(node)
        items[index] = _set_path(items[index], rest, value, dotted) if rest else value
        return items if isinstance(node, list) else tuple(items)
    if not isinstance(node, dict):
        raise ConfigError(f"config option '{dotted}': cannot set '{head}' inside a value of "
                          f"type {type(node).__name__}")
    key: Any = head
    if head not in node and head.lstrip("-").isdigit() and int(head) in node:
        key = int(head)
    if rest:
        child = node[key] if key in node else ConfigDict()
        node[key] = _set_path(child, rest, value, dotted)
    elif isinstance(value, dict) and isinstance(node.get(key), dict) \
            and not value.get(DELETE_KEY, False):
        node[key] = _strip_delete(_merge(value, node[key], dotted))
    else:
        node[key] = _strip_delete(value)
    return node


def _load_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigError(f"circular _base_ inheritance: {cycle}")
    raw = _read_config_file(path)
    bases = raw.pop(BASE_KEY, None)
    if bases is None:
        return raw
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: _base_ must be a path or a list of paths, got {bases!r}")
    merged: dict[str, Any] = {}
    owner: dict[str, Path] = {}
    for base in bases:
        base_path = resolve_config_path(base, relative_to=path.parent)
        if base_path is None:
            raise ConfigError(f"{path}: _base_ file not found: {base} "
                              f"(looked in {path.parent} and in the packaged configs)")
        for key, value in _load_with_bases(base_path, (*chain, path)).items():
            if key in merged:
                raise ConfigError(f"{path}: key '{key}' is defined by two _base_ files, "
                                  f"{owner[key]} and {base_path}")
            merged[key], owner[key] = value, base_path
    return _merge(raw, merged, str(path))


def _merge(child: Mapping[str, Any], base: Mapping[str, Any], where: str) -> dict[str, Any]:
    """mmengine's merge of ``child`` into ``base``: dicts recurse, everything else replaces."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and key in out and not value.get(DELETE_KEY, False):
            if not isinstance(out[key], dict):
                raise ConfigError(
                    f"{where}: '{key}' is a dict here but a {type(out[key]).__name__} in the "
                    f"base config; add {DELETE_KEY}=True to replace the base value")
            rest = {k: v for k, v in value.items() if k != DELETE_KEY}
            out[key] = _merge(rest, out[key], f"{where}, key '{key}'")
        else:
            out[key] = value
    return out


def _strip_delete(value: Any) -> Any:
    return _rebuild(value, lambda d: {k: v for k, v in d.items() if k != DELETE_KEY})


def _read_config_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in PYTHON_SUFFIXES + JSON_SUFFIXES + YAML_SUFFIXES:
        raise ConfigError(f"{path}: unknown config format '{suffix or '(no suffix)'}'; "
                          "use .py, .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if suffix in PYTHON_SUFFIXES:
        return _exec_python_config(path, text)
    if suffix in JSON_SUFFIXES:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"
                              ) from exc
    else:
        yaml = _import_yaml(path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys, "
                          f"got {type(data).__name__}")
    return data


def _import_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError(f"{path}: YAML configs need PyYAML, which is not installed; "
                          "install it (pip install pyyaml) or write the config as JSON "
                          "with the same keys") from None
    return yaml


def _exec_python_config(path: Path, text: str) -> dict[str, Any]:
    try:
        code = compile(text, str(path), "exec")
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        shown = f"\n    {line.strip()}" if line.strip() else ""
        column = exc.offset if exc.offset is not None else 0
        raise ConfigError(f"{path}:{exc.lineno}:{column}: syntax error in config: "
                          f"{exc.msg}{shown}") from exc
    namespace: dict[str, Any] = {"__file__": str(path), "__name__": "__posemix_config__"}
    try:
        exec(code, namespace)  # running the user's config file is the point, as in mmengine
    except Exception as exc:
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__)
                 if f.filename == str(path)]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        raise ConfigError(f"{where}: error while executing config: "
                          f"{type(exc).__name__}: {exc}") from exc
    return {
        key: value for key, value in namespace.items()
        if (key == BASE_KEY or not key.startswith("_"))
        and not isinstance(value, (types.ModuleType, types.FunctionType,
                                   types.BuiltinFunctionType, type))
    }
