"""The union of several keypoint schemas, derived from their names instead of written by hand.

MMPose's ``coco_aic.py`` is a hand-edited copy of ``coco.py`` (19 keypoints, 18 joint
weights). ``build_union([coco, aic])`` derives the same schema from the two sources, with
these rules (the first schema is the *target*, the dataset the union is built around):

* **Keypoints**: the target's, in its order, then each later schema's keypoints that are
  new, in order of appearance. Two keypoints are the same when
  :func:`~posemix.keypoints.vocabulary.canonical` equates them; the union spells a
  keypoint as the first schema defining it does, except a name that means that point only
  inside its own schema (Halpe's 'head' is the head top, JHMDB's 'head' the face): it is
  spelled canonically ('head_top', 'face') so that mappings by name find it.
* **Flip partners, types, colours** come from the first schema defining the keypoint
  (partners translated into the union's spelling); a later schema that disagrees is a
  warning.
* **Skeleton**: the target's links as they are (later sources never rewire the target's
  keypoints: AIC draws shoulder-neck-shoulder where COCO draws shoulder-shoulder); then
  the links of later schemas between two keypoints the target lacks; then, for a new
  keypoint still without any link, the links its first defining schema gives it (a toe
  hangs on the ankle). coco + aic gives COCO's 19 links + head_top-neck: coco_aic's.
* **Sigmas**: the target's value for its keypoints. A new keypoint takes the sigma of the
  first schema defining it when that schema's sigmas follow the union's convention (median
  ratio over the keypoints it shares with the union within [0.8, 1.25]: MPII, JHMDB and
  Halpe copy COCO's); otherwise it takes the median sigma of the target's self-symmetric
  keypoints (COCO: the nose, 0.026). AIC's sigmas come from its own evaluation script and
  are 2.4 to 5.9 times smaller than COCO's per joint, so no single factor carries them
  over; MMPose's coco_aic gives head_top and neck 0.026 too.
* **Joint weights**: the target's value for its keypoints. A new keypoint is supervised
  only by the sources that define it, so it takes the target's largest weight (COCO: 1.5,
  which MMPose's coco_aic gives head_top; that file lacks neck's weight, the union gives
  neck 1.5 as well).
* Wherever schemas disagree on a shared keypoint, the kept value is listed with every
  schema's value in a warning.

With ``target=...`` the union is built in *merge* mode: the result is the target schema
itself, and the keypoints of other schemas that it lacks are dropped (listed in warnings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posemix.errors import MetainfoError
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.spelling import spell
from posemix.keypoints.vocabulary import (
    PAIRED_POINTS,
    MatchKind,
    canonical,
    check_aliases,
    read_schema_names,
)

SAME_CONVENTION = (0.8, 1.25)  # median sigma ratio for "follows the union's convention"


@dataclass(frozen=True)
class _Name:
    """One schema keypoint as the union sees it."""

    canon: str
    kind: MatchKind
    spelling: str


def _schema_names(schema: KeypointSchema, aliases: Mapping[str, str] | None) -> list[_Name]:
    """Canonical name, match kind and union spelling of each keypoint of ``schema``."""
    read, clashes = read_schema_names(schema.keypoints, schema.name, aliases)
    if clashes:
        canon, names = next(iter(clashes.items()))
        raise MetainfoError(f"{schema.source}: schema '{schema.name}' has keypoints {names} that "
                            f"all mean '{canon}'; a union cannot tell them apart")
    out = []
    for m in read:
        # a name that means this point only in its own schema or by a user alias, or a
        # side-free use of a paired word (Halpe's 'hip'), is spelled canonically
        spelled = spell(m.name)
        specific = m.kind == "user alias" or m.kind == "alias" and (
            m.canonical != canonical(m.name)[0]
            or not spelled.side and spelled.part in PAIRED_POINTS)
        out.append(_Name(m.canonical, m.kind, m.canonical if specific else m.name))
    return out


class _UnionBuilder:
    """Collects the union's keypoints and, per schema, where each of its keypoints went."""

    def __init__(self, schemas: Sequence[KeypointSchema],
                 aliases: Mapping[str, str] | None = None):
        self.schemas = list(schemas)
        self.target = self.schemas[0]
        self.warnings: list[str] = []
        self.foreign_sigmas: dict[str, float] = {}  # schema -> its sigma scale, when foreign
        self.names: list[str] = []          # union spelling per union keypoint
        self.owner: list[tuple[int, int]] = []  # (schema, keypoint) first defining it
        self.slots: list[dict[int, int]] = []  # per schema: its keypoint -> union keypoint
        self.kinds: list[list[MatchKind]] = []  # per schema: how each keypoint was read
        by_canon: dict[str, int] = {}
        for j, schema in enumerate(self.schemas):
            slots: dict[int, int] = {}
            names = _schema_names(schema, aliases)
            self.kinds.append([n.kind for n in names])
            for i, n in enumerate(names):
                u = by_canon.get(n.canon)
                if u is None:
                    u = by_canon[n.canon] = len(self.names)
                    self.names.append(n.spelling)
                    self.owner.append((j, i))
                    if n.spelling != schema.keypoints[i]:
                        self.warnings.append(
                            f"'{schema.keypoints[i]}' of '{schema.name}' is spelled "
                            f"'{n.spelling}' in the union: the name means this point only in "
                            f"its own schema ({n.kind})")
                elif n.kind == "guess" or self._owner_kind(u) == "guess":
                    self.warnings.append(
                        f"'{schema.keypoints[i]}' of '{schema.name}' is taken to be the union's "
                        f"'{self.names[u]}' by a guess; confirm it, or map it by index pairs")
                slots[i] = u
            self.slots.append(slots)

    def _owner_kind(self, u: int) -> MatchKind:
        j, i = self.owner[u]
        return self.kinds[j][i]

    @property
    def num_target(self) -> int:
        return self.target.num_keypoints

    def definers(self, u: int) -> list[tuple[int, int]]:
        """(schema, keypoint) of every schema that defines union keypoint ``u``."""
        return [(j, i) for j, slots in enumerate(self.slots) for i, v in slots.items() if v == u]

    # -- per-keypoint fields -------------------------------------------------------------
    def owned_values(self, field: str, values_of: Callable[[int, int], Any]) -> list:
        """Each union keypoint's value from its first defining schema; disagreements warned."""
        kept = []
        conflicts = []
        for u in range(len(self.names)):
            j0, i0 = self.owner[u]
            value = values_of(j0, i0)
            kept.append(value)
            others = [(j, values_of(j, i)) for j, i in self.definers(u)]
            if any(v != value for _, v in others):
                conflicts.append(self._conflict(u, repr(value), [(j, repr(v)) for j, v in others]))
        if conflicts:
            self.warnings.append(f"{field}: the schemas disagree on {len(conflicts)} keypoint(s); "
                                 f"the first schema defining each wins: {'; '.join(conflicts)}")
        return kept

    def _conflict(self, u: int, kept: str, values: list[tuple[int, str]]) -> str:
        per_schema = ", ".join(f"{self.schemas[j].name} {v}" for j, v in values)
        return f"{self.names[u]} -> {kept} ({per_schema})"

    def swaps(self) -> list[str]:
        def partner(j: int, i: int) -> int:
            swap = self.schemas[j].swaps[i]
            return self.slots[j][self.schemas[j].index(swap)] if swap else self.slots[j][i]

        named = self.owned_values("swap", lambda j, i: self.names[partner(j, i)])
        index = {n: u for u, n in enumerate(self.names)}
        out = []
        for u, name in enumerate(self.names):
            mirror = named[u]
            if named[index[mirror]] != name:
                self.warnings.append(f"swap: '{name}' would mirror onto '{mirror}', which mirrors "
                                     f"onto '{named[index[mirror]]}'; '{name}' is made "
                                     f"self-symmetric")
                mirror = name
            out.append("" if mirror == name else mirror)
        return out

    def numbers(self, field: str, new_value: Callable[[int, int, float, np.ndarray], float]
                ) -> tuple[np.ndarray, list[str], list[str]]:
        """Sigmas or joint weights: the target's for its keypoints, ``new_value`` for the
        others; and where a source schema's value differs, on the target's keypoints and on
        the new ones."""
        values = np.zeros(len(self.names), np.float64)
        for u in range(len(self.names)):
            j, i = self.owner[u]
            own = float(getattr(self.schemas[j], field)[i])
            values[u] = own if u < self.num_target else new_value(u, j, own, values)
        on_target, on_new = [], []
        for u in range(len(self.names)):
            seen = [(j, float(getattr(self.schemas[j], field)[i])) for j, i in self.definers(u)]
            if any(not np.isclose(v, values[u], rtol=1e-5, atol=0) for _, v in seen):
                text = self._conflict(u, f"{values[u]:.6g}", [(j, f"{v:.6g}") for j, v in seen])
                (on_target if u < self.num_target else on_new).append(text)
        if on_target:
            self.warnings.append(f"{field}: the schemas disagree on {len(on_target)} of the "
                                 f"target's keypoints; the target '{self.target.name}' wins: "
                                 f"{'; '.join(on_target)}")
        return values, on_target, on_new

    def midline_sigma(self) -> float:
        """The median sigma of the target's self-symmetric keypoints (all, if none is)."""
        t = self.target
        midline = [s for s, swap, n in zip(t.sigmas, t.swaps, t.keypoints, strict=True)
                   if swap in ("", n)]
        return float(np.median(midline if midline else t.sigmas))

    def new_sigma(self, u: int, j: int, own: float, values: np.ndarray) -> float:
        schema = self.schemas[j]
        shared = [(i, v) for i, v in self.slots[j].items() if self.owner[v][0] < j]
        ratio = (float(np.median([schema.sigmas[i] / values[v] for i, v in shared]))
                 if shared else float("nan"))
        if SAME_CONVENTION[0] <= ratio <= SAME_CONVENTION[1]:
            return own
        self.foreign_sigmas[schema.name] = ratio
        return self.midline_sigma()

    def new_weight(self, u: int, j: int, own: float, values: np.ndarray) -> float:
        return float(np.max(self.target.joint_weights))

    # -- skeleton -------------------------------------------------------------------------
    def links(self) -> tuple[list[tuple[str, str]], list[np.ndarray]]:
        chosen: list[tuple[int, int]] = []
        colors: list[np.ndarray] = []

        def add(j: int, link_index: int) -> None:
            a, b = self.schemas[j].links[link_index]
            pair = (self.slots[j][self.schemas[j].index(a)],
                    self.slots[j][self.schemas[j].index(b)])
            if pair[0] != pair[1] and pair not in chosen and pair[::-1] not in chosen:
                chosen.append(pair)
                colors.append(self.schemas[j].link_colors[link_index])

        for j, schema in enumerate(self.schemas):
            for li, (a, b) in enumerate(schema.links):
                ua, ub = self.slots[j][schema.index(a)], self.slots[j][schema.index(b)]
                if j == 0 or (ua >= self.num_target and ub >= self.num_target):
                    add(j, li)
        for u in range(self.num_target, len(self.names)):
            if any(u in pair for pair in chosen):
                continue
            for j, i in self.definers(u):
                touching = [li for li, (a, b) in enumerate(self.schemas[j].links)
                            if i in (self.schemas[j].index(a), self.schemas[j].index(b))]
                for li in touching:
                    add(j, li)
                if touching:
                    break
        return [(self.names[a], self.names[b]) for a, b in chosen], colors

    # -- result ---------------------------------------------------------------------------
    def build(self, name: str) -> KeypointSchema:
        types = self.owned_values("type", lambda j, i: self.schemas[j].types[i])
        swaps = self.swaps()
        links, link_colors = self.links()
        weights, _, new_weights = self.numbers("joint_weights", self.new_weight)
        if new_weights:
            self.warnings.append(
                f"joint_weights of keypoints new to the union: trained only by the sources "
                f"that define them, they take the target's largest weight "
                f"({np.max(self.target.joint_weights):g}): {'; '.join(new_weights)}")
        sigmas, _, new_sigmas = self.numbers("sigmas", self.new_sigma)
        if new_sigmas:
            scales = ", ".join(f"'{n}' shares no keypoint to compare" if np.isnan(r) else
                               f"'{n}' sigmas are {r:.2f} times the union's"
                               for n, r in self.foreign_sigmas.items())
            self.warnings.append(
                f"sigmas of keypoints new to the union: a source whose sigmas are on the union's "
                f"scale keeps its own, otherwise the median sigma of the target's "
                f"self-symmetric keypoints ({self.midline_sigma():.6g}) is used"
                + (f" ({scales})" if scales else "") + f": {'; '.join(new_sigmas)}")
        papers: list = []
        for schema in self.schemas:
            info = schema.paper_info
            papers.extend(info if isinstance(info, list) else [info] if info else [])
        return KeypointSchema(
            name=name,
            keypoints=tuple(self.names),
            types=tuple(types),
            swaps=tuple(swaps),
            links=tuple(links),
            joint_weights=weights,
            sigmas=sigmas,
            colors=[self.schemas[j].colors[i] for j, i in self.owner],
            link_colors=link_colors if links else None,
            source=f"union of {', '.join(repr(s.name) for s in self.schemas)}",
            paper_info=papers or None,
        )


def _merge_warnings(schemas: Sequence[KeypointSchema], target: KeypointSchema,
                    aliases: Mapping[str, str] | None) -> list[str]:
    """What merging ``schemas`` into ``target`` drops or only guesses."""
    builder = _UnionBuilder([target, *schemas], aliases)
    out = [w for w in builder.warnings if "by a guess" in w]
    for j, schema in enumerate(schemas, start=1):
        dropped = [schema.keypoints[i] for i, u in builder.slots[j].items()
                   if u >= builder.num_target]
        if dropped:
            out.append(f"merge into '{target.name}': keypoints {dropped} of '{schema.name}' are "
                       f"not in the target and are dropped")
    return out


def build_union(schemas: Sequence[KeypointSchema], target: KeypointSchema | None = None,
                name: str | None = None, aliases: Mapping[str, str] | None = None
                ) -> tuple[KeypointSchema, list[str]]:
    """The union schema of ``schemas`` and the warnings a user should read.

    The first schema is the target whose keypoints, order and values win (see the module
    docstring for every rule). With ``target`` given the result is ``target`` itself (merge
    mode), renamed to ``name`` when one is given. The default name joins the schemas'
    names ('coco_aic'). ``aliases`` (the user's, ``{'Hand': 'wrist'}``) read every schema's
    names; the result carries them, so that mappings by name into it read them too.
    """
    schemas = list(schemas)
    if not schemas:
        raise MetainfoError("a union needs at least one schema")
    unused = check_aliases(aliases, schemas if target is None else [target, *schemas])
    if target is not None:
        warnings = unused + _merge_warnings(schemas, target, aliases)
        if name is None and not aliases:
            return target, warnings
        return dataclasses.replace(target, name=name or target.name,
                                   aliases=dict(aliases or {})), warnings
    builder = _UnionBuilder(schemas, aliases)
    union = builder.build(name or "_".join(s.name for s in schemas))
    return dataclasses.replace(union, aliases=dict(aliases or {})), unused + builder.warnings
