"""MMPose metainfo files (``dataset_info = dict(...)``) read as data and written back.

The files are Python, but they are never executed (posemix.literal), so a file that
tries to run code is rejected instead of run.
"""

from __future__ import annotations

import os
import pprint
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posemix.errors import MetainfoError
from posemix.keypoints.schema import KeypointSchema
from posemix.literal import literal_assignments

PACKAGED_DATASETS_DIR = Path(__file__).resolve().parents[1] / "configs" / "_base_" / "datasets"
def read_metainfo_file(path: str | os.PathLike) -> dict:
    """The ``dataset_info`` dict of an MMPose metainfo file, parsed without executing it."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetainfoError(f"{path}: metainfo file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetainfoError(f"{path}: cannot read metainfo file: {exc}") from None
    if path.lower().endswith(".json"):  # else the parser's complaint hides the real problem
        raise MetainfoError(f"{path}: a metainfo file must be a Python file "
                            f"('dataset_info = dict(...)', as MMPose writes them), not JSON")
    names = literal_assignments(text, path, MetainfoError)
    if "dataset_info" not in names:
        raise MetainfoError(f"{path}: no 'dataset_info = dict(...)' assignment found")
    info = names["dataset_info"]
    if not isinstance(info, dict):
        raise MetainfoError(f"{path}: 'dataset_info' must be a dict, got {type(info).__name__}")
    return info


def _ordered(info: Mapping, field: str, source: str) -> list:
    value = info.get(field)
    if not isinstance(value, Mapping):
        raise MetainfoError(f"{source}: field '{field}' must be a dict of id -> entry, "
                            f"got {type(value).__name__}")
    keys = list(value)
    if keys != list(range(len(keys))):
        raise MetainfoError(f"{source}: field '{field}' ids must be 0..{len(keys) - 1} in "
                            f"order, got {keys[:20]}")
    return [value[k] for k in keys]


def schema_from_metainfo(info: Mapping, source: str = "<metainfo dict>") -> KeypointSchema:
    """Build a validated schema from a raw ``dataset_info`` dict."""
    missing = [k for k in ("dataset_name", "keypoint_info", "skeleton_info", "joint_weights",
                           "sigmas") if k not in info]
    if missing:
        raise MetainfoError(f"{source}: metainfo lacks field(s) {missing}")
    entries = _ordered(info, "keypoint_info", source)
    links = _ordered(info, "skeleton_info", source)
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise MetainfoError(f"{source}: field 'keypoint_info', id {i}: needs a 'name'")
    for i, link in enumerate(links):
        pair = link.get("link") if isinstance(link, Mapping) else None
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise MetainfoError(f"{source}: field 'skeleton_info', id {i}: needs "
                                f"link=(name_a, name_b)")
    for field in ("joint_weights", "sigmas"):
        if not isinstance(info[field], (list, tuple)):
            raise MetainfoError(f"{source}: field '{field}' must be a list of numbers")
    try:
        return KeypointSchema(
            name=str(info["dataset_name"]),
            keypoints=tuple(e["name"] for e in entries),
            types=tuple(e.get("type", "") for e in entries),
            swaps=tuple(e.get("swap", "") for e in entries),
            colors=[e.get("color", (255, 128, 0)) for e in entries],
            links=tuple(tuple(link["link"]) for link in links),
            link_colors=[link.get("color", (96, 96, 255)) for link in links],
            joint_weights=info["joint_weights"],
            sigmas=info["sigmas"],
            source=source,
            paper_info=info.get("paper_info"),
        )
    except (TypeError, ValueError) as exc:
        raise MetainfoError(f"{source}: invalid value: {exc}") from None


def schema_to_metainfo(schema: KeypointSchema) -> dict:
    """The MMPose ``dataset_info`` dict of ``schema`` (inverse of schema_from_metainfo)."""
    keypoint_info = {
        i: dict(name=n, id=i, color=[int(c) for c in schema.colors[i]],
                type=schema.types[i], swap=schema.swaps[i])
        for i, n in enumerate(schema.keypoints)
    }
    skeleton_info = {
        i: dict(link=tuple(link), id=i, color=[int(c) for c in schema.link_colors[i]])
        for i, link in enumerate(schema.links)
    }
    info: dict[str, Any] = dict(dataset_name=schema.name)
    if schema.paper_info is not None:
        info["paper_info"] = schema.paper_info
    info.update(
        keypoint_info=keypoint_info,
        skeleton_info=skeleton_info,
        joint_weights=[round(float(w), 8) for w in schema.joint_weights],
        sigmas=[round(float(s), 8) for s in schema.sigmas],
    )
    return info


def write_metainfo_file(schema: KeypointSchema, path: str | os.PathLike) -> None:
    """Write ``schema`` as an MMPose metainfo file, atomically (temp file + rename)."""
    text = "dataset_info = " + pprint.pformat(schema_to_metainfo(schema), width=96,
                                              sort_dicts=False) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_metainfo_path(path: str | os.PathLike) -> Path:
    """``path`` if it exists, else posemix's packaged copy of the same file name.

    MMPose configs write ``configs/_base_/datasets/coco.py`` relative to MMPose's checkout;
    posemix ships those files, so such a path resolves to the packaged copy.
    """
    candidate = Path(path)
    if candidate.exists():
        return candidate
    packaged = PACKAGED_DATASETS_DIR / candidate.name
    if packaged.exists():
        return packaged
    known = sorted(p.stem for p in PACKAGED_DATASETS_DIR.glob("*.py"))
    raise MetainfoError(f"{path}: metainfo file not found (not on disk, and posemix ships no "
                        f"file of that name; built-in schemas: {', '.join(known)})")
