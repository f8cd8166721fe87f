"""One entry point that turns any way of naming a schema into a KeypointSchema."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from posemix.errors import MetainfoError
from posemix.keypoints.metainfo import (
    PACKAGED_DATASETS_DIR,
    read_metainfo_file,
    resolve_metainfo_path,
    schema_from_metainfo,
)
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.union import build_union

SchemaSpec = KeypointSchema | str | os.PathLike | Mapping


def builtin_schema_names() -> list[str]:
    """Names of the schemas posemix ships (coco, aic, coco_aic, mpii, ...)."""
    return sorted(p.stem for p in PACKAGED_DATASETS_DIR.glob("*.py"))


@lru_cache(maxsize=64)
def _load_file(path: str, mtime_ns: int) -> KeypointSchema:
    return schema_from_metainfo(read_metainfo_file(path), source=path)


def load_schema_file(path: str | os.PathLike) -> KeypointSchema:
    """Schema from a metainfo file (or posemix's packaged copy of that file name)."""
    resolved = resolve_metainfo_path(path)
    return _load_file(str(resolved), resolved.stat().st_mtime_ns)


def load_schema(spec: SchemaSpec) -> KeypointSchema:
    """A schema from: a schema, a built-in name ('coco'), a file path, ``dict(from_file=...)``,
    ``dict(union_of=[...], target=None, name=None, aliases=None)`` or a raw MMPose
    ``dataset_info`` dict."""
    if isinstance(spec, KeypointSchema):
        return spec
    if isinstance(spec, Mapping):
        if "union_of" in spec:
            return _union(spec)
        if "from_file" in spec:
            extra = set(spec) - {"from_file"}
            if extra:
                raise MetainfoError(f"metainfo=dict(from_file=...) takes no other keys, "
                                    f"got {sorted(extra)}")
            return load_schema_file(spec["from_file"])
        return schema_from_metainfo(spec)
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        if text in builtin_schema_names():
            return load_schema_file(PACKAGED_DATASETS_DIR / f"{text}.py")
        if text.endswith(".py") or os.sep in text or Path(text).exists():
            return load_schema_file(text)
        raise MetainfoError(f"unknown schema '{text}': not a file and not a built-in schema "
                            f"({', '.join(builtin_schema_names())})")
    raise MetainfoError(f"cannot make a keypoint schema from {type(spec).__name__}")


def _union(spec: Mapping) -> KeypointSchema:
    """``dict(union_of=[...], target=None, name=None, aliases=None)``: the union, its notes
    as warnings."""
    extra = set(spec) - {"union_of", "target", "name", "aliases"}
    if extra:
        raise MetainfoError(f"metainfo=dict(union_of=...) takes only 'target', 'name' and "
                            f"'aliases', got {sorted(extra)}")
    aliases = spec.get("aliases")
    if aliases is not None and (not isinstance(aliases, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())):
        raise MetainfoError(f"metainfo=dict(union_of=..., aliases=...): aliases must map names "
                            f"to names, e.g. {{'Hand': 'wrist'}}, got {aliases!r}")
    schema, notes = union_from_spec(spec["union_of"], spec.get("target"), spec.get("name"),
                                    aliases)
    for note in notes:
        warnings.warn(f"union of schemas: {note}", stacklevel=3)
    return schema


def union_from_spec(specs: Sequence[SchemaSpec], target: SchemaSpec | None = None,
                    name: str | None = None, aliases: Mapping[str, str] | None = None
                    ) -> tuple[KeypointSchema, list[str]]:
    """:func:`~posemix.keypoints.union.build_union` over built-in names, metainfo files,
    dicts or schemas (anything :func:`load_schema` accepts)."""
    return build_union([load_schema(s) for s in specs],
                       None if target is None else load_schema(target), name, aliases)
