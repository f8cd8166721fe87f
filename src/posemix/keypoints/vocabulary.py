"""A shared vocabulary of keypoint names, so that mappings can be made by name.

A name is first reduced to one spelling (:mod:`~posemix.keypoints.spelling`: ``LShoulder``,
``shoulder.L``, ``leftshoulder`` → ``left_shoulder``), then looked up. Every synonym has a
kind:

* **alias** — the same point under another name (``top_head`` = ``head_top``);
* **guess** — probably the same point; mapped, but listed for the user to confirm;
* **distinct** — looks alike but is another point; it never matches.

The decisions (the README's names section shows the same table, made by
:func:`synonym_table`):

* **Head.** ``head_top`` is the crown: AIC 'Head top', MPII/PoseTrack 'head_top',
  CrowdPose 'top_head' (its annotation files: 'head'), and Halpe's 'head' (MMPose maps
  every head-top keypoint to it).
  A bare ``head`` is the head's centre in most sets (Human3.6M, SMPL, Kinect) and matches
  only another bare ``head``. JHMDB's 'head' is the face centre: it becomes ``face``.
* **Neck.** ``neck`` is the base of the neck between the shoulders (AIC, CrowdPose,
  Halpe, JHMDB, OpenPose). MPII's and Human3.6M's ``thorax`` sits there too, but MMPose
  maps MPII's 'thorax' or 'upper_neck' to 'neck' depending on the config: thorax → neck
  is a *guess*. ``upper_neck`` (MPII, under the chin) is its own point; PoseTrack's
  'head_bottom' is a guess for it. Human3.6M's 'Neck/Nose' lies between neck and nose.
* **Mid-hip.** ``pelvis``: MPII 'pelvis', OpenPose 'MidHip', Human3.6M 'Hip'/'root',
  Halpe's side-free 'hip'. Kinect's 'SpineBase' is a guess for it.
* **Spine.** Human3.6M's 'Spine' (mid-back) is ``spine``; Kinect's 'SpineMid' is a guess
  for it; SMPL's 'spine1..3' are three other points.
* **Eyes, ears, mouth.** ``eye`` is the eye's centre; MediaPipe's 'eye_inner'/'eye_outer'
  (the corners) never match it. A sided mouth point (MediaPipe 'mouth_left') is the mouth
  corner; a side-free 'mouth' is the mouth's centre. ``ear`` is COCO's ear.
* **Wrist and hand.** ``hand`` (Kinect's hand centre, SMPL's knuckles) is never the
  wrist. COCO-WholeBody's and Halpe's 'hand_root' is the wrist labelled on the hand: the
  same sets label the body wrist too, so the two stay apart.
* **Feet.** Human3.6M calls its ankle joint 'Foot': a sided ``foot`` is a *guess* for the
  ankle, and yields to a real ankle where a set has both (SMPL, Kinect). Big toe, small toe
  and heel are COCO-WholeBody's; the heel is never the ankle. A lone 'toe' or MediaPipe's
  'foot_index' is a guess for the big toe.
* **Fingers.** COCO-WholeBody's hand: ``thumb1..4`` (CMC, MCP, IP, tip),
  ``forefinger1..4``, ``middle_finger1..4``, ``ring_finger1..4``, ``pinky_finger1..4``
  (MCP, PIP, DIP, tip). ``index``/``index_finger`` = forefinger, ``little``/``pinky`` =
  pinky_finger, and MediaPipe's joint names (``THUMB_CMC``, ``INDEX_FINGER_PIP``, ...) are
  aliases of the numbered joints.
* **Collar.** SMPL's 'left_collar' (the clavicle joint) is not the shoulder.

Names whose meaning depends on the dataset (Halpe's and JHMDB's 'head') are looked up by
schema name. Users add what the vocabulary cannot know with ``aliases``: a user alias
wins over every rule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from posemix.errors import MappingError
from posemix.keypoints.spelling import Spelling, normalize, side, spell

if TYPE_CHECKING:
    from posemix.keypoints.schema import KeypointSchema

MatchKind = Literal["exact", "alias", "user alias", "guess", "unknown"]
SynonymKind = Literal["alias", "guess", "distinct"]
RANK: dict[str, int] = {"exact": 0, "unknown": 0, "alias": 1, "user alias": 2, "guess": 3}


@dataclass(frozen=True)
class Synonym:
    """``name`` (side-free spelling) is ``means`` (alias, guess) or is not (distinct).

    ``sided``: the entry reads names with a side (paired points) or without (midline).
    """

    name: str
    kind: SynonymKind
    means: str
    sided: bool
    why: str


def _syn(kind: SynonymKind, sided: bool, means: str, names: str, why: str) -> list[Synonym]:
    return [Synonym(n, kind, means, sided, why) for n in names.split()]


SYNONYMS: tuple[Synonym, ...] = tuple(
    _syn("alias", False, "head_top", "top_head headtop top_of_head crown",
         "the crown (CrowdPose 'top_head')")
    + _syn("distinct", False, "head_top", "head",
           "a bare 'head' is the head's centre (Human3.6M, SMPL, Kinect); only Halpe's is "
           "the crown, by schema")
    + _syn("distinct", False, "head_top", "face forehead", "on the face, not the crown")
    + _syn("alias", False, "face", "face_center face_centre", "the face's centre")
    + _syn("alias", False, "neck", "neck_base base_of_neck lower_neck",
           "the base of the neck")
    + _syn("guess", False, "neck", "thorax",
           "MPII/Human3.6M thorax sits between the shoulders; MMPose maps MPII's thorax or "
           "upper_neck to neck depending on the config")
    + _syn("guess", False, "neck", "spine_shoulder", "Kinect: spine between the shoulders")
    + _syn("distinct", False, "neck", "upper_neck", "MPII: the top of the neck, under the chin")
    + _syn("guess", False, "upper_neck", "head_bottom", "PoseTrack: chin / top of the neck")
    + _syn("distinct", False, "neck", "neck_nose",
           "Human3.6M 'Neck/Nose' lies between the neck and the nose")
    + _syn("alias", False, "pelvis", "hip mid_hip midhip hip_center hip_centre center_hip "
           "root hips", "the mid-hip point (a side-free 'hip': Halpe, Human3.6M)")
    + _syn("guess", False, "pelvis", "spine_base",
           "Kinect: base of the spine, a little above the hip centre")
    + _syn("guess", False, "spine", "spine_mid", "Kinect mid-spine vs Human3.6M 'Spine'")
    + _syn("distinct", False, "spine", "spine_1 spine_2 spine_3",
           "SMPL's three spine joints, none of them a single mid-spine point")
    + _syn("alias", True, "eye", "eye_center eye_centre", "the eye's centre")
    + _syn("guess", True, "eye", "pupil", "the eye's centre when the gaze is straight")
    + _syn("distinct", True, "eye", "eye_inner eye_outer", "MediaPipe: the eye's corners")
    + _syn("alias", True, "mouth_corner", "mouth lip_corner mouth_end",
           "a sided mouth point is its corner (MediaPipe 'mouth_left')")
    + _syn("distinct", False, "mouth_corner", "mouth", "a side-free mouth is its centre")
    + _syn("distinct", True, "wrist", "hand",
           "Kinect's hand is the hand's centre, SMPL's the knuckles: never the wrist")
    + _syn("distinct", True, "wrist", "hand_root",
           "COCO-WholeBody/Halpe label the wrist twice (body and hand); they stay apart")
    + _syn("guess", True, "ankle", "foot",
           "Human3.6M's 'Foot' is the ankle joint; yields to a real ankle (SMPL, Kinect)")
    + _syn("distinct", True, "ankle", "heel", "the heel is behind and below the ankle")
    + _syn("alias", True, "big_toe", "bigtoe hallux toe_big", "the big toe")
    + _syn("guess", True, "big_toe", "toe foot_index",
           "a lone toe point (Human-Art 'toe', MediaPipe 'foot_index') is most often the "
           "big toe")
    + _syn("alias", True, "small_toe", "smalltoe little_toe pinky_toe toe_small",
           "the little toe")
    + _syn("alias", True, "collar", "clavicle", "the clavicle joint")
    + _syn("distinct", True, "shoulder", "collar", "SMPL: the clavicle joint, inside the "
           "shoulder girdle")
)

_FINGERS = {"thumb": "thumb", "forefinger": "forefinger", "index": "forefinger",
            "index_finger": "forefinger", "middle": "middle_finger",
            "middle_finger": "middle_finger", "ring": "ring_finger", "ring_finger": "ring_finger",
            "pinky": "pinky_finger", "pinky_finger": "pinky_finger", "little": "pinky_finger",
            "little_finger": "pinky_finger"}
_THUMB_JOINTS = {"cmc": 1, "mcp": 2, "ip": 3, "tip": 4}
_FINGER_JOINTS = {"mcp": 1, "pip": 2, "dip": 3, "tip": 4}
_FINGER = re.compile(r"^(?P<finger>[a-z_]+?)_(?P<joint>[1-4]|cmc|mcp|pip|dip|ip|tip)$")

PAIRED_POINTS = frozenset("""
    eye ear shoulder elbow wrist hip knee ankle big_toe small_toe heel hand foot hand_root
    hand_tip thumb collar mouth_corner eye_inner eye_outer
""".split()) | {f"{f}_{j}" for f in set(_FINGERS.values()) for j in range(1, 5)}
MIDLINE_POINTS = frozenset("""
    nose neck upper_neck head_top head face pelvis spine spine_1 spine_2 spine_3 thorax
    neck_nose mouth chin forehead belly
""".split()) | {f"face_{i}" for i in range(68)}

# (schema name, spelled name) -> canonical: names whose meaning depends on the dataset
SCHEMA_ALIASES: dict[tuple[str, str], str] = {
    ("halpe", "head"): "head_top",
    ("halpe26", "head"): "head_top",
    ("crowdpose", "head"): "head_top",  # CrowdPose's annotation files (MMPose: 'top_head')
    ("jhmdb", "head"): "face",
}

_LOOKUP = {(s.name, s.sided): s for s in SYNONYMS if s.kind != "distinct"}


@dataclass(frozen=True)
class NameMatch:
    """How one keypoint name was read: its canonical name, the match kind and why."""

    name: str
    canonical: str
    kind: MatchKind
    note: str = ""


def _finger(part: str) -> tuple[str, MatchKind] | None:
    """'index_finger_pip' → ('forefinger_2', 'alias'); 'thumb_1' → ('thumb_1', 'exact')."""
    m = _FINGER.match(part)
    if m is None or m["finger"] not in _FINGERS:
        return None
    finger, joint = _FINGERS[m["finger"]], m["joint"]
    joints = _THUMB_JOINTS if finger == "thumb" else _FINGER_JOINTS
    number = int(joint) if joint.isdigit() else joints.get(joint)
    if number is None:
        return None
    canon = f"{finger}_{number}"
    return canon, "exact" if canon == part else "alias"


def is_known(spelled: Spelling) -> bool:
    """Whether a spelled name is a point of the vocabulary."""
    points = PAIRED_POINTS if spelled.side else MIDLINE_POINTS
    return spelled.part in points


def normalize_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    """User aliases keyed and valued by spelled names ({'Hand': 'wrist'} → {'hand': 'wrist'})."""
    return {normalize(k): normalize(v) for k, v in (aliases or {}).items()}


def _user_alias(spelled: Spelling, aliases: Mapping[str, str]) -> str | None:
    if spelled.name in aliases:
        return aliases[spelled.name]
    if spelled.side and spelled.part in aliases:  # 'Hand': 'wrist' reads 'LHand' too
        value = spell(aliases[spelled.part])
        return value.name if value.side else Spelling(spelled.side, value.part).name
    return None


def read_name(name: str, schema_name: str = "",
              aliases: Mapping[str, str] | None = None) -> NameMatch:
    """How ``name`` of schema ``schema_name`` is read (``aliases`` already normalised)."""
    spelled = spell(name)
    if aliases and (value := _user_alias(spelled, aliases)) is not None:
        return NameMatch(name, value, "user alias", "user alias")
    specific = SCHEMA_ALIASES.get((schema_name.lower(), spelled.name))
    if specific is not None:
        return NameMatch(name, specific, "alias", f"'{spelled.name}' of {schema_name}")
    entry = _LOOKUP.get((spelled.part, bool(spelled.side)))
    if entry is not None:
        return NameMatch(name, Spelling(spelled.side, entry.means).name, entry.kind, entry.why)
    if (finger := _finger(spelled.part)) is not None:  # hand-only sets name no side
        return NameMatch(name, Spelling(spelled.side, finger[0]).name, finger[1])
    return NameMatch(name, spelled.name, "exact" if is_known(spelled) else "unknown")


def canonical(name: str, schema_name: str = "",
              aliases: Mapping[str, str] | None = None) -> tuple[str, MatchKind]:
    """The canonical name of keypoint ``name`` in schema ``schema_name`` and the match kind:
    'exact', 'alias', 'user alias', 'guess' or 'unknown' (not in the vocabulary; it still
    matches the same spelling). ``aliases`` are the user's, as written."""
    match = read_name(name, schema_name, normalize_aliases(aliases))
    return match.canonical, match.kind


def read_schema_names(keypoints: Sequence[str], schema_name: str = "",
                      aliases: Mapping[str, str] | None = None
                      ) -> tuple[list[NameMatch], dict[str, list[str]]]:
    """Every keypoint of one schema read at once, and the canonical names several share.

    A guess yields to a keypoint that has the name itself (a set with both 'foot' and
    'ankle' keeps its foot), and reads as its own spelling. Other clashes are returned
    as ``{canonical: [names]}`` for the caller to refuse.
    """
    user = normalize_aliases(aliases)
    out = [read_name(n, schema_name, user) for n in keypoints]
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(out):
        groups.setdefault(m.canonical, []).append(i)
    clashes = {}
    for canon, ids in groups.items():
        guessed = [i for i in ids if out[i].kind == "guess"]
        if len(ids) < 2:
            continue
        if len(ids) - len(guessed) == 1:
            keeper = next(keypoints[i] for i in ids if out[i].kind != "guess")
            for i in guessed:
                own = spell(keypoints[i])
                out[i] = NameMatch(keypoints[i], own.name, "exact" if is_known(own) else
                                   "unknown", f"the guess '{canon}' yields to '{keeper}'")
            continue
        clashes[canon] = [keypoints[i] for i in ids]
    return out, clashes


def _alias_suggestion(spelled: Spelling, known: set[str]) -> str | None:
    """The point a mistyped alias target most likely means ('wirst' → 'wrist')."""
    entry = _LOOKUP.get((spelled.part, bool(spelled.side))) or _LOOKUP.get((spelled.part, True))
    if entry is not None:  # a synonym: name the point it stands for
        return Spelling(spelled.side, entry.means).name
    close = difflib.get_close_matches(spelled.part, sorted(known), n=1, cutoff=0.6)
    return Spelling(spelled.side, close[0]).name if close else None


def check_aliases(aliases: Mapping[str, str] | None, read_on: Sequence[KeypointSchema],
                  also: Sequence[KeypointSchema] = (), label: str = "") -> list[str]:
    """Refuse user aliases that would silently map nothing; return warnings for unused ones.

    A user alias wins over every rule, so a typo in it never fails a lookup: the keypoint
    just ends up unmapped. Hence an alias whose canonical side is neither a vocabulary
    point nor a name of a keypoint of ``read_on`` or ``also`` is an error (with the closest
    point), and one whose name matches no keypoint of ``read_on`` (the schemas it is read
    on) is reported in the returned warnings. ``label`` prefixes both (where the aliases
    were given).
    """
    if not aliases:
        return []
    schemas = [*read_on, *also]
    # a merge target is one of the sources too: name each schema once
    all_names = ", ".join(dict.fromkeys(repr(s.name) for s in schemas))
    read_names = " or ".join(dict.fromkeys(repr(s.name) for s in read_on))
    layout_names = {read_name(k, s.name).canonical for s in schemas for k in s.keypoints}
    known = set(PAIRED_POINTS | MIDLINE_POINTS) | {spell(n).part for n in layout_names}
    where = f"{label}: alias" if label else "alias"
    out = []
    for name, canon in aliases.items():
        spelled = spell(canon)
        if spelled.part not in PAIRED_POINTS | MIDLINE_POINTS \
                and spelled.name not in layout_names:
            guess = _alias_suggestion(spelled, known)
            hint = (f" (did you mean '{guess}'?)" if guess else
                    f" nor a keypoint of {all_names}")
            raise MappingError(f"{where} '{name}={canon}': '{canon}' is not a vocabulary "
                               f"name{hint}")
        one = {normalize(name): normalize(canon)}
        if not any(_user_alias(spell(k), one) is not None for s in read_on for k in s.keypoints):
            out.append(f"{where} '{name}={canon}': no keypoint of {read_names} is named "
                       f"'{name}' (with or without a side), so the alias does nothing")
    return out


def vocabulary_names() -> list[str]:
    """Every name the vocabulary reads, spelled (paired points with both sides)."""
    parts = {(p, True) for p in PAIRED_POINTS} | {(p, False) for p in MIDLINE_POINTS}
    parts |= {(s.name, s.sided) for s in SYNONYMS}
    names = {Spelling(s, p).name for p, sided in parts for s in (("left", "right") if sided
                                                                 else ("",))}
    return sorted(names)


def closest_names(name: str, n: int = 3) -> list[str]:
    """The vocabulary names nearest to ``name`` (for 'did you mean')."""
    return difflib.get_close_matches(normalize(name), vocabulary_names(), n=n, cutoff=0.5)


def distinct_from(canon: str) -> list[tuple[str, str]]:
    """(the point ``canon`` must never match, why) for a canonical name."""
    spelled = spell(canon)
    return [(Spelling(spelled.side, s.means).name, s.why) for s in SYNONYMS
            if s.kind == "distinct" and s.name == spelled.part and s.sided == bool(spelled.side)]


def synonym_table() -> str:
    """The synonym decisions as a Markdown table (the README shows it)."""
    rows = ["| names (any spelling) | kind | point | why |", "|---|---|---|---|"]
    groups: dict[tuple, list[str]] = {}
    for s in SYNONYMS:
        groups.setdefault((s.kind, s.means, s.sided, s.why), []).append(s.name)
    for (kind, means, sided, why), names in groups.items():
        where = "left_/right_" if sided else ""
        spelled = ", ".join(f"`{where}{n}`" for n in names)
        rows.append(f"| {spelled} | {kind} | `{where}{means}` | {why} |")
    for (schema, name), means in SCHEMA_ALIASES.items():
        rows.append(f"| `{name}` of {schema} | alias | `{means}` | by schema |")
    rows.append("| `index[_finger]N`, `little[_finger]N`, `pinkyN`, `middleN`, `ringN`; "
                "`THUMB_CMC/MCP/IP/TIP`, `INDEX_FINGER_MCP/PIP/DIP/TIP`, ... | alias | "
                "`forefingerN`, `pinky_fingerN`, `middle_fingerN`, `ring_fingerN`, `thumbN` "
                "| COCO-WholeBody's numbered finger joints (1 = the joint nearest the wrist) |")
    return "\n".join(rows)


__all__ = ["MatchKind", "NameMatch", "SYNONYMS", "canonical", "closest_names",
           "distinct_from", "normalize", "read_name", "read_schema_names", "side",
           "synonym_table", "vocabulary_names"]
