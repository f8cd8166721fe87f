"""On-disk cache of annotation tables: a COCO-sized file is parsed once, then loaded in
a fraction of the parse time.

A cached table is found by a key made of

* the annotation file's absolute path and the reader options (which reader, keypoint
  count, ...): together they name a *slot*, one cache file per slot;
* the file's size, modification time (ns) and a BLAKE2b hash of its first and last
  MiB (``full_hash=True`` hashes the whole file instead: about 0.1 s per 100 MB);
* a fingerprint of posemix's reader and table code, so that a changed reader never
  serves a table the old code built.

Any change of the file gives a new key: the slot's old file is replaced. Files are
written atomically (``InstanceTable.save``: temporary file, fsync, rename); one that
cannot be read back (truncated, bad CRC, foreign, failing the table's checks) is
rebuilt from the annotation file with a warning, never trusted. A cache directory that
cannot be written only costs the speed, with a warning.

Where: ``$POSEMIX_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/posemix/tables``, else
``~/.cache/posemix/tables``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from posemix.data.table import InstanceTable
from posemix.errors import AnnotationError

CACHE_ENV = "POSEMIX_CACHE_DIR"
EDGE_BYTES = 1 << 20  # hashed at each end of the file
SUFFIX = ".posemix-table.npz"


def cache_dir() -> Path:
    """The directory holding cached tables (see the module docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "posemix" / "tables"


def file_fingerprint(path: str | os.PathLike, full_hash: bool = False) -> dict[str, Any]:
    """Size, mtime (ns) and a content hash (head + tail, or the whole file) of ``path``."""
    stat = os.stat(path)
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        if full_hash or stat.st_size <= 2 * EDGE_BYTES:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        else:
            digest.update(f.read(EDGE_BYTES))
            f.seek(-EDGE_BYTES, os.SEEK_END)
            digest.update(f.read(EDGE_BYTES))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "hash": ("full:" if full_hash else "edges:") + digest.hexdigest()}


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the modules whose code decides what a table holds."""
    here = Path(__file__).resolve().parent
    digest = hashlib.blake2b(digest_size=8)
    for source in [here / "table.py", *sorted((here / "readers").glob("*.py"))]:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _digest(value: Any, size: int) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def cache_path(path: str | os.PathLike, options: Mapping[str, Any],
               full_hash: bool = False) -> Path:
    """Where the table of ``path`` read with ``options`` is cached, for the file as it is now."""
    source = os.path.abspath(path)
    slot = _digest({"source": source, "options": dict(options)}, 6)
    key = _digest({"slot": slot, "file": file_fingerprint(source, full_hash),
                   "code": code_fingerprint()}, 12)
    return cache_dir() / f"{Path(source).name}.{slot}.{key}{SUFFIX}"


def cached_table(path: str | os.PathLike, build: Callable[[], InstanceTable],
                 options: Mapping[str, Any], full_hash: bool = False) -> InstanceTable:
    """The table ``build()`` makes from ``path`` (read with ``options``), from the cache
    when it holds one for the file as it is now; otherwise built and stored.

    A missing ``path`` goes straight to ``build``, which reports it in its own words.
    """
    try:
        target = cache_path(path, options, full_hash)
    except OSError:
        return build()
    if target.exists():
        try:
            table = InstanceTable.load(target)
        except (AnnotationError, OSError, ValueError) as exc:
            # numpy's own reason ("... allow_pickle=False") would only puzzle a user
            warnings.warn(f"posemix table cache: ignoring unreadable cache file {target} "
                          f"(damaged, {type(exc).__name__}); rebuilding it from {path}",
                          stacklevel=2)
        else:
            table.source_file = str(path)
            return table
    table = build()
    _store(table, target)
    return table


def _store(table: InstanceTable, target: Path) -> None:
    """Save ``table`` at ``target`` and drop the slot's files for older versions of the file."""
    slot_prefix = target.name[:target.name.rindex(".", 0, -len(SUFFIX))]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        table.save(target)
    except OSError as exc:
        warnings.warn(f"posemix table cache: cannot write {target} ({exc.strerror or exc}); "
                      f"set {CACHE_ENV} to a writable directory to cache annotation tables",
                      stacklevel=3)
        return
    for old in target.parent.iterdir():
        if old.name.startswith(slot_prefix + ".") and old.name.endswith(SUFFIX) \
                and old != target:
            old.unlink(missing_ok=True)
