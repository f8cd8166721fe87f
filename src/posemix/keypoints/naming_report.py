"""How posemix reads a schema's keypoint names (``posemix names``), and why some stay unmapped.

A mapping by name that leaves many keypoints unmapped is almost always a naming problem
(names the vocabulary does not know), not a real gap; this module says which names were
read how, and for each unmapped one why and which vocabulary names are closest.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from posemix.keypoints.mapping import KeypointMapping, match_by_name
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.schema_loader import load_schema
from posemix.keypoints.spelling import spell
from posemix.keypoints.vocabulary import (
    MatchKind,
    NameMatch,
    check_aliases,
    closest_names,
    distinct_from,
    is_known,
    read_schema_names,
)

UNMAPPED_LIMIT = 1 / 3  # more unmapped than this: warn (most likely a naming problem)


@dataclass
class NameRow:
    """One keypoint: its name, how it was read and, with a target, where it goes."""

    index: int
    name: str
    canonical: str
    kind: MatchKind
    note: str = ""
    target: str | None = None
    reason: str = ""  # why it is unmapped ('' when mapped, or without a target)
    closest: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _unclear(m: NameMatch, clashes: dict[str, list[str]]) -> str:
    """Why a name cannot be read as a vocabulary point ('' when it can)."""
    if m.canonical in clashes:
        return (f"{clashes[m.canonical]} all mean '{m.canonical}': by_name cannot tell them "
                f"apart (give aliases)")
    if m.kind == "unknown":
        return f"'{m.canonical}' is not a vocabulary name (give an alias if it is a known point)"
    if m.kind == "user alias" and not is_known(spell(m.canonical)):
        return f"the user alias reads it as '{m.canonical}', which is not a vocabulary name"
    return ""


def _why_unmapped(m: NameMatch, target: KeypointSchema, target_canon: set[str],
                  clashes: dict[str, list[str]]) -> str:
    unclear = _unclear(m, clashes)
    if unclear:
        return unclear
    for partner, why in distinct_from(m.canonical):
        if partner in target_canon:
            return f"'{m.canonical}' is not '{partner}' ({why})"
    return _lacks(target, m.canonical)


def _lacks(target: KeypointSchema | None, canon: str) -> str:
    return f"'{target.name}' has no '{canon}'" if target is not None else ""


def name_rows(schema: KeypointSchema, target: KeypointSchema | None = None,
              aliases: Mapping[str, str] | None = None) -> list[NameRow]:
    """Every keypoint of ``schema`` as read, and with ``target`` what ``by_name`` maps it to."""
    if target is None:
        read, clashes = read_schema_names(schema.keypoints, schema.name, aliases)
        matches: dict[int, tuple[int, str]] = {}
    else:
        read, clashes, matches = match_by_name(schema, target, aliases)
        target_read, _ = read_schema_names(target.keypoints, target.name)
        target_canon = {m.canonical for m in target_read}
    rows = []
    for i, m in enumerate(read):
        row = NameRow(i, m.name, m.canonical, m.kind, m.note)
        unclear = _unclear(m, clashes)
        if target is not None and i in matches:
            row.target = target.keypoints[matches[i][0]]
        elif target is not None:
            row.reason = _why_unmapped(m, target, target_canon, clashes)
        else:
            row.reason = unclear
        if row.reason and unclear:  # a known point is its own closest name
            row.closest = [n for n in closest_names(m.canonical) if n != m.canonical]
        rows.append(row)
    return rows


def unmapped_text(rows: list[NameRow], source: str, target: str) -> str | None:
    """A sentence when by_name leaves more than a third of ``rows`` unmapped, saying how
    many of them have names the vocabulary does not know (and their closest names)."""
    dropped = [r for r in rows if r.target is None]
    if len(dropped) <= UNMAPPED_LIMIT * len(rows):
        return None
    unknown = [r for r in dropped if r.kind == "unknown"]
    text = (f"by_name leaves {len(dropped)} of {len(rows)} keypoints of '{source}' unmapped "
            f"in '{target}'")
    if not unknown:
        return text + "; all of them are known points that the target lacks"
    shown = "; ".join(f"'{r.name}' (closest: {', '.join(r.closest) or 'none'})"
                      for r in unknown[:8])
    more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
    return (text + f"; {len(unknown)} of them have names the vocabulary does not know "
            f"(most likely a naming problem): {shown}{more}")


def unmapped_warning(mapping: KeypointMapping) -> str | None:
    """:func:`unmapped_text` for a mapping made by name (None for index pairs)."""
    src, tgt = mapping.source_schema, mapping.target_schema
    if not mapping.by_name or src is None or tgt is None:
        return None
    return unmapped_text(name_rows(src, tgt, mapping.aliases), src.name, tgt.name)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_names(schema: KeypointSchema, rows: list[NameRow],
                 target: KeypointSchema | None = None) -> str:
    """The rows as a terminal table, then the unmapped keypoints with reasons."""
    head = ["#", "name", "canonical", "match"] + (["target"] if target is not None else [])
    table = [head]
    for r in rows:
        cells = [str(r.index), r.name, r.canonical, r.kind]
        if target is not None:
            cells.append(r.target or "-")
        table.append(cells)
    out = [f"schema '{schema.name}': {schema.num_keypoints} keypoints ({schema.source})",
           _table(table)]
    flagged = [r for r in rows if r.reason]
    if target is not None:
        mapped = sum(r.target is not None for r in rows)
        out.append(f"\nby_name maps {mapped} of {len(rows)} keypoints to '{target.name}' "
                   f"({target.num_keypoints} keypoints)")
        warning = unmapped_text(rows, schema.name, target.name)
        if warning:
            out.append(f"warning: {warning}")
    lacking = [r for r in flagged if r.reason == _lacks(target, r.canonical)]
    if len(flagged) > len(lacking):
        out.append("\nunmapped:" if target is not None else "\nnot read:")
        for r in flagged:
            if r not in lacking:
                near = (f"; closest vocabulary names: {', '.join(r.closest)}" if r.closest
                        else "; no close vocabulary name" if r.kind == "unknown" else "")
                out.append(f"- {r.name}: {r.reason}{near}")
    if lacking:
        out.append(f"\nknown points that '{target.name}' lacks ({len(lacking)}): "
                   + ", ".join(r.name for r in lacking))
    guesses = [r for r in rows if r.kind == "guess"]
    if guesses:
        out.append("\nguesses to confirm: " + "; ".join(
            f"{r.name} -> {r.canonical} ({r.note})" for r in guesses))
    users = [r for r in rows if r.kind == "user alias"]
    if users:
        out.append("\nuser aliases: " + ", ".join(f"{r.name} -> {r.canonical}" for r in users))
    return "\n".join(out)



def names_command(schema: str, target: str | None = None, aliases: Mapping[str, str] | None = None,
                  as_json: bool = False) -> str:
    """What ``posemix names SCHEMA [--to TARGET] [--alias A=B] [--json]`` prints."""
    source = load_schema(schema)
    goal = None if target is None else load_schema(target)
    for note in check_aliases(aliases, [source], [goal] if goal is not None else []):
        warnings.warn(note, stacklevel=2)
    rows = name_rows(source, goal, aliases)
    if as_json:
        return json.dumps({"schema": source.name, "target": goal and goal.name,
                           "keypoints": [r.as_dict() for r in rows]}, indent=1)
    return format_names(source, rows, goal)
