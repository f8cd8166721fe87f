"""How keypoint names are written, reduced to one spelling: ``left_shoulder``.

Every dataset spells its names its own way. The conventions in wide use differ in case,
separator and where the side goes, and one rule reads them all:

* words are split at spaces, ``_ - . /``, at camelCase and PascalCase humps
  (``LShoulder`` → ``L Shoulder``, ``HeadTop`` → ``Head Top``) and before digits
  (``thumb1`` → ``thumb 1``), then lower-cased (UPPER_SNAKE included);
* the side is a first or last word ``left``/``right`` or the letter ``l``/``r``
  (``left_shoulder``, ``l_shoulder``, ``LShoulder``, ``lShoulder``, ``shoulder_left``,
  ``ShoulderLeft``, ``Shoulder.L``, ``shoulder-R``), or a prefix glued to a body-part
  word (``leftshoulder``, ``rightwrist``, ``leye``) — glued only when what follows is a
  known part word and the whole is not itself one, so ``Lip``, ``Rump``, ``Leg`` and
  ``Rear`` stay what they are;
* the result is the side (if any), then the other words, joined by ``_``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SEPARATORS = re.compile(r"[\s_\-./]+")
_HUMPS = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")
_SIDE_WORDS = {"left": "left", "l": "left", "right": "right", "r": "right"}

# Words of body parts a glued side letter or word may precede ('leye', 'rightwrist').
PART_WORDS = frozenset("""
    eye ear nose shoulder elbow wrist hip knee ankle heel toe bigtoe smalltoe foot hand
    thumb index pinky finger forefinger collar clavicle mouth lip cheek brow eyebrow
    temple thigh shin calf arm forearm palm
""".split())
# Words that look like a side glued to a part but are words of their own.
WHOLE_WORDS = frozenset({"rear", "lip", "leg", "rump", "rib", "ring", "lid", "lobe"})


class Spelling(NamedTuple):
    """A name split into its side ('left', 'right' or '') and its side-free part."""

    side: str
    part: str

    @property
    def name(self) -> str:
        return f"{self.side}_{self.part}" if self.side else self.part


def words(name: str) -> list[str]:
    """'LBigToe' → ['l', 'big', 'toe']; 'Neck/Nose' → ['neck', 'nose']."""
    out = []
    for chunk in _SEPARATORS.split(name.strip()):
        out += [w.lower() for w in _HUMPS.split(chunk) if w]
    return out


def _glued_side(word: str) -> tuple[str, str] | None:
    """'leftshoulder' → ('left', 'shoulder'), 'reye' → ('right', 'eye'); 'rear' → None."""
    if word in WHOLE_WORDS:
        return None
    for prefix in ("left", "right", "l", "r"):
        rest = word[len(prefix):]
        if word.startswith(prefix) and rest in PART_WORDS:
            return _SIDE_WORDS[prefix], rest
    return None


def spell(name: str) -> Spelling:
    """The side and side-free part of ``name`` (see the module docstring for the rule)."""
    ws = words(name)
    side = ""
    if len(ws) > 1 and ws[0] in _SIDE_WORDS:
        side, ws = _SIDE_WORDS[ws[0]], ws[1:]
    elif len(ws) > 1 and ws[-1] in _SIDE_WORDS:
        side, ws = _SIDE_WORDS[ws[-1]], ws[:-1]
    elif ws and (glued := _glued_side(ws[0])) is not None:
        side, ws = glued[0], [glued[1], *ws[1:]]
    return Spelling(side, "_".join(ws))


def normalize(name: str) -> str:
    """'Head top', 'HEAD_TOP' → 'head_top'; 'LShoulder', 'shoulder.L' → 'left_shoulder'."""
    return spell(name).name


def side(name: str) -> str:
    """'left', 'right' or '' for a keypoint name ('Right Shoulder' → 'right')."""
    return spell(name).side
