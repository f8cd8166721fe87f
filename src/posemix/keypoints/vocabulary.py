"""A shared vocabulary of keypoint names, so that mappings can be made by name.

Names are normalised (case, spaces, hyphens, dots, ``l_``/``r_`` prefixes), then known
aliases are equated. Decisions about which points are the same (documented here, and in
the README's mapping section):

* ``head_top``: AIC 'Head top', CrowdPose 'top_head', MPII/PoseTrack 'head_top', and
  Halpe's 'head' (the crown: MMPose maps every head-top keypoint to it).
* ``neck``: the base of the neck between the shoulders (AIC, CrowdPose, Halpe, JHMDB
  'neck'). MPII's 'thorax' sits there too, but MMPose itself maps either MPII 'thorax'
  or 'upper_neck' to 'neck' depending on the config, so thorax → neck is only a *guess*
  that the user confirms. MPII's 'upper_neck' (top of the neck) is its own point.
* ``pelvis``: MPII 'pelvis' and Halpe's 'hip' (the mid-hip point).
* JHMDB's 'head' is the face centre, not the head top: it becomes ``face`` and so never
  matches a head-top or a nose keypoint.
* PoseTrack's 'head_bottom' (the chin / top of the neck) is a *guess* for ``upper_neck``.
* A bare 'head' in any other schema is ambiguous and matches nothing but another bare
  'head'.
"""

from __future__ import annotations

import re
from typing import Literal

MatchKind = Literal["exact", "alias", "guess"]

# normalised name -> canonical name (the same point, by its usual definition)
ALIASES: dict[str, str] = {
    "top_head": "head_top",
    "headtop": "head_top",
    "top_of_head": "head_top",
    "crown": "head_top",
    "neck_base": "neck",
    "mid_hip": "pelvis",
    "hip_center": "pelvis",
    "midhip": "pelvis",
    "leye": "left_eye",
    "reye": "right_eye",
}

# normalised name -> canonical name, plausible but to be confirmed by the user
GUESSES: dict[str, str] = {
    "thorax": "neck",
    "head_bottom": "upper_neck",
}

# (schema name, normalised name) -> canonical name: names whose meaning depends on the set
SCHEMA_ALIASES: dict[tuple[str, str], str] = {
    ("halpe", "head"): "head_top",
    ("halpe26", "head"): "head_top",
    ("halpe", "hip"): "pelvis",
    ("halpe26", "hip"): "pelvis",
    ("jhmdb", "head"): "face",
}

_SEPARATORS = re.compile(r"[\s\-.]+")
_SIDE_PREFIX = re.compile(r"^(l|r)_")
_SIDE_JOINED = re.compile(r"^(left|right)(?=[a-z])")


def normalize(name: str) -> str:
    """'Head top', 'head-top', 'HEAD_TOP' → 'head_top'; 'l_shoulder', 'leftShoulder' →
    'left_shoulder'."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name.strip())  # camelCase → camel_Case
    text = _SEPARATORS.sub("_", text.lower()).strip("_")
    text = re.sub(r"_+", "_", text)
    text = _SIDE_PREFIX.sub(lambda m: "left_" if m.group(1) == "l" else "right_", text)
    return _SIDE_JOINED.sub(r"\1_", text)


def canonical(name: str, schema_name: str = "") -> tuple[str, MatchKind]:
    """The canonical name of keypoint ``name`` in schema ``schema_name``, and how sure we are:
    'exact' (the normalised name itself), 'alias' (a known synonym) or 'guess'."""
    norm = normalize(name)
    key = (schema_name.lower(), norm)
    if key in SCHEMA_ALIASES:
        return SCHEMA_ALIASES[key], "alias"
    if norm in ALIASES:
        return ALIASES[norm], "alias"
    if norm in GUESSES:
        return GUESSES[norm], "guess"
    return norm, "exact"


def side(name: str) -> str:
    """'left', 'right' or '' for a keypoint name ('Right Shoulder' → 'right')."""
    tokens = normalize(name).split("_")
    return "left" if "left" in tokens else "right" if "right" in tokens else ""
