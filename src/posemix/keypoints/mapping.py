"""Keypoint mappings from one layout to another: index pairs, averaged sources, or by name.

A mapping is checked when it is built (indices in range, one source per target, the
converter's size equals the target schema's, left/right consistent with both schemas'
flip partners) and applied to whole instance tables at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posemix.errors import ConfigError, MappingError
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.spelling import side
from posemix.keypoints.vocabulary import (
    RANK,
    MatchKind,
    NameMatch,
    check_aliases,
    normalize_aliases,
    read_schema_names,
)


@dataclass(frozen=True)
class MappingEntry:
    """Target keypoint ``target`` is the mean of source keypoints ``sources``."""

    sources: tuple[int, ...]
    target: int
    match: MatchKind = "exact"

    def as_config(self) -> tuple:
        """The MMPose config spelling: ``(s, t)`` or ``((s1, s2), t)``."""
        src = self.sources[0] if len(self.sources) == 1 else self.sources
        return (src, self.target)


def parse_pairs(pairs: Sequence, label: str) -> list[MappingEntry]:
    """MMPose's mapping list (``(s, t)`` or ``((s1, s2, ...), t)``) → entries."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise MappingError(f"{label}: mapping must be a list of (source, target) pairs or "
                           f"'by_name', got {pairs!r}")
    entries = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise MappingError(f"{label}: mapping entry {pair!r} is not a (source, target) pair")
        src, tgt = pair
        sources = tuple(src) if isinstance(src, (list, tuple)) else (src,)
        if not sources or not all(_is_index(s) for s in sources) or not _is_index(tgt):
            raise MappingError(f"{label}: mapping entry {pair!r} must hold integer indices")
        if len(set(sources)) != len(sources):
            raise MappingError(f"{label}: mapping entry {pair!r} averages a keypoint with itself")
        entries.append(MappingEntry(tuple(int(s) for s in sources), int(tgt)))
    return entries


def _is_index(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass
class KeypointMapping:
    """A validated mapping from a source layout of ``num_source`` keypoints to ``num_target``."""

    entries: list[MappingEntry]
    num_source: int
    num_target: int
    label: str = "mapping"
    source_schema: KeypointSchema | None = None
    target_schema: KeypointSchema | None = None
    warnings: list[str] = field(default_factory=list)
    by_name: bool = False
    aliases: dict[str, str] = field(default_factory=dict)  # the user's, normalised

    def __post_init__(self) -> None:
        seen: dict[int, MappingEntry] = {}
        for e in self.entries:
            bad = [s for s in e.sources if not 0 <= s < self.num_source]
            if bad:
                raise MappingError(f"{self.label}: pair {e.as_config()}: source index {bad[0]} is "
                                   f"out of range for {self.num_source} source keypoints"
                                   f"{self._names('source')}")
            if not 0 <= e.target < self.num_target:
                raise MappingError(f"{self.label}: pair {e.as_config()}: target index {e.target} "
                                   f"is out of range for {self.num_target} target keypoints"
                                   f"{self._names('target')}")
            if e.target in seen:
                raise MappingError(f"{self.label}: target {self._name('target', e.target)} is "
                                   f"mapped twice, by {seen[e.target].as_config()} and "
                                   f"{e.as_config()}")
            seen[e.target] = e
        if self.source_schema is not None and self.target_schema is not None:
            self._check_left_right()

    # -- naming helpers for messages ----------------------------------------------------
    def _schema(self, side: str) -> KeypointSchema | None:
        return self.source_schema if side == "source" else self.target_schema

    def _name(self, side: str, index: int) -> str:
        schema = self._schema(side)
        return f"{index} ('{schema.keypoints[index]}')" if schema is not None else str(index)

    def _names(self, side: str) -> str:
        schema = self._schema(side)
        return f" of schema '{schema.name}'" if schema is not None else ""

    def describe(self, entry: MappingEntry) -> str:
        src = " + ".join(self._name("source", s) for s in entry.sources)
        return f"{src} -> {self._name('target', entry.target)}"

    # -- checks -------------------------------------------------------------------------
    def _check_left_right(self) -> None:
        """s → t must imply flip(s) → flip(t): a mapping that swaps sides is an error."""
        flip_s = self.source_schema.flip_indices
        flip_t = self.target_schema.flip_indices
        by_sources = {frozenset(e.sources): e for e in self.entries}
        for e in self.entries:
            sides = {side(self.source_schema.keypoints[s]) for s in e.sources}
            target_side = side(self.target_schema.keypoints[e.target])
            if len(sides) == 1 and {target_side} | sides == {"left", "right"}:
                raise MappingError(f"{self.label}: left/right inconsistent: {self.describe(e)} "
                                   f"maps a {sides.pop()} keypoint to a {target_side} one")
            mirror = frozenset(flip_s[s] for s in e.sources)
            partner = by_sources.get(mirror)
            if partner is None:
                continue  # the mirror is not mapped: nothing to contradict
            if partner.target != flip_t[e.target]:
                raise MappingError(
                    f"{self.label}: left/right inconsistent: {self.describe(e)}, but the mirror "
                    f"{self.describe(partner)} should go to "
                    f"{self._name('target', flip_t[e.target])}"
                )

    # -- derived ------------------------------------------------------------------------
    @property
    def pairs(self) -> list[tuple]:
        return [e.as_config() for e in self.entries]

    @property
    def defined(self) -> np.ndarray:
        """(num_target,) bool: which target keypoints this source defines."""
        return self.convert_defined(np.ones(self.num_source, bool))

    def convert_defined(self, source_defined: np.ndarray) -> np.ndarray:
        """(num_source,) bool → (num_target,) bool: a target is defined when all its sources are."""
        out = np.zeros(self.num_target, bool)
        for e in self.entries:
            out[e.target] = bool(np.all(source_defined[list(e.sources)]))
        return out

    @property
    def dropped_sources(self) -> list[int]:
        used = {s for e in self.entries for s in e.sources}
        return [s for s in range(self.num_source) if s not in used]

    def apply(self, keypoints: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Convert (N, Ks, 2) coordinates and (N, Ks) COCO visibility codes (0/1/2) at once.

        Unmapped targets get (0, 0) and code 0. An averaged target is the mean of its
        sources, labelled only if all of them are (its code is their minimum).
        """
        keypoints = np.asarray(keypoints)
        visibility = np.asarray(visibility)
        n, ks = keypoints.shape[:2]
        if ks != self.num_source or visibility.shape != (n, ks):
            raise MappingError(f"{self.label}: expected {self.num_source} source keypoints, got "
                               f"keypoints {keypoints.shape} and visibility {visibility.shape}")
        out_k = np.zeros((n, self.num_target, keypoints.shape[2]), keypoints.dtype)
        out_v = np.zeros((n, self.num_target), visibility.dtype)
        single = [e for e in self.entries if len(e.sources) == 1]
        if single:
            src = [e.sources[0] for e in single]
            tgt = [e.target for e in single]
            out_k[:, tgt] = keypoints[:, src]
            out_v[:, tgt] = visibility[:, src]
        for e in self.entries:
            if len(e.sources) > 1:
                srcs = list(e.sources)
                out_k[:, e.target] = keypoints[:, srcs].mean(axis=1)
                out_v[:, e.target] = visibility[:, srcs].min(axis=1)
        return out_k, out_v


def match_by_name(source: KeypointSchema, target: KeypointSchema,
                  aliases: Mapping[str, str] | None = None
                  ) -> tuple[list[NameMatch], dict[str, list[str]], dict[int, tuple[int, str]]]:
    """How ``source``'s names are read, the canonical names several of them share, and
    ``{source index: (target index, match kind)}`` for the others that the target has.

    ``aliases`` (the user's) and the target's own (a union built with aliases) are read on
    the source's names; the user's win.
    """
    target_names, _ = read_schema_names(target.keypoints, target.name)
    targets: dict[str, tuple[int, MatchKind]] = {}
    for t, m in enumerate(target_names):
        targets.setdefault(m.canonical, (t, m.kind))
    merged = {**target.aliases, **(aliases or {})}
    source_names, clashes = read_schema_names(source.keypoints, source.name, merged)
    matches = {}
    for s, m in enumerate(source_names):
        if m.canonical in targets and m.canonical not in clashes:
            t, tkind = targets[m.canonical]
            kind = m.kind if RANK[m.kind] >= RANK[tkind] else tkind
            matches[s] = (t, "exact" if kind == "unknown" else kind)
    return source_names, clashes, matches


def mapping_by_name(source: KeypointSchema, target: KeypointSchema, label: str = "mapping",
                    aliases: Mapping[str, str] | None = None) -> KeypointMapping:
    """Map every source keypoint to the target keypoint of the same canonical name.

    Names are read as :func:`match_by_name` says. Alias and guessed matches are kept,
    marked on their entries, and guesses are listed in the mapping's warnings for the user
    to confirm. Source keypoints that share a canonical name are refused.
    """
    notes = check_aliases(aliases, [source], [target], label)
    for note in notes:  # an alias that does nothing: say so now, not after training
        warnings.warn(note, stacklevel=2)
    source_names, clashes, matches = match_by_name(source, target, aliases)
    if clashes:
        parts = "; ".join(f"{names} all mean '{canon}'" for canon, names in clashes.items())
        raise MappingError(f"{label}: keypoints of '{source.name}' cannot be told apart by "
                           f"name: {parts}; write the mapping pairs, or give aliases")
    entries = []
    for s, (t, match) in matches.items():
        entries.append(MappingEntry((s,), t, match))
        if match == "guess":
            notes.append(f"{label}: '{source.keypoints[s]}' ({source.name}) -> "
                         f"'{target.keypoints[t]}' ({target.name}) is a guess by name; "
                         f"confirm it or write the pair")
    merged = {**target.aliases, **(aliases or {})}
    return KeypointMapping(entries, source.num_keypoints, target.num_keypoints, label,
                           source, target, notes, by_name=True,
                           aliases=normalize_aliases(merged))


def source_label(dataset: Any) -> str:
    """How errors name a sub-dataset: its class and annotation file."""
    ann = getattr(dataset, "ann_file", "") or ""
    return f"{type(dataset).__name__} ({Path(str(ann)).name or 'no ann_file'})"


def identity_mapping(source: KeypointSchema, target: KeypointSchema,
                     label: str) -> KeypointMapping:
    """The mapping for a sub-dataset without a converter: its layout must be the target's."""
    if list(source.keypoints) != list(target.keypoints):
        raise MappingError(
            f"{label}: its schema '{source.name}' ({source.num_keypoints} keypoints) differs from "
            f"the combined schema '{target.name}' ({target.num_keypoints} keypoints) and it has "
            f"no KeypointConverter; add pipeline=[dict(type='KeypointConverter', "
            f"num_keypoints={target.num_keypoints}, mapping='by_name')]")
    entries = [MappingEntry((i,), i) for i in range(source.num_keypoints)]
    return KeypointMapping(entries, source.num_keypoints, target.num_keypoints, label,
                           source, target)


def output_indices_for(source: KeypointSchema, outputs: KeypointSchema, label: str) -> np.ndarray:
    """For each keypoint of ``source``, the keypoint of ``outputs`` with its name: where a
    model's outputs hold a source's prediction, or a union target a source's target."""
    mapping = mapping_by_name(source, outputs, label)
    index = np.full(source.num_keypoints, -1, np.int64)
    for entry in mapping.entries:
        index[entry.sources[0]] = entry.target
    missing = [source.keypoints[i] for i in np.flatnonzero(index < 0)]
    if missing:
        raise ConfigError(
            f"{label}: '{outputs.name}' has no keypoint for {missing} of '{source.name}' "
            f"(its keypoints: {list(outputs.keypoints)}); the source's own layout needs "
            f"them: use a layout that includes them (e.g. the union of the sources)")
    return index
