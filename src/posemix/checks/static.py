"""Checks of a keypoint mapping that need no data: what the names and pairs say.

KeypointConverter and KeypointMapping already refuse what is certainly wrong (indices out
of range, a target mapped twice, left/right swaps, a size that differs from the target
schema); here those refusals become findings (:func:`check_mapping`), and what is only
suspicious is listed: averaged or reused keypoints, pairs whose names disagree, alias
guesses, source keypoints dropped although the target has a keypoint of the same name,
and union keypoints that different sources feed with different points (AIC's head top
and JHMDB's face centre).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from posemix.checks.findings import Finding
from posemix.errors import MappingError
from posemix.keypoints import KeypointConverter, KeypointMapping, KeypointSchema, canonical
from posemix.keypoints.naming_report import unmapped_warning
from posemix.keypoints.vocabulary import read_schema_names

PAIRS_ADVICE = ("fix what the message names: pairs are (source index, target index) into the "
                "two schemas, num_keypoints is the combined schema's size; mapping='by_name' "
                "derives the pairs from the keypoint names")


def check_mapping(source: KeypointSchema, target: KeypointSchema, mapping: Sequence | str,
                  num_keypoints: int | None = None, label: str = "mapping",
                  aliases: Mapping[str, str] | None = None
                  ) -> tuple[KeypointMapping | None, list[Finding]]:
    """Bind a ``KeypointConverter(num_keypoints, mapping)`` from ``source`` to ``target``.

    ``mapping`` is MMPose's pair list or ``'by_name'`` (with the user's ``aliases``).
    Returns the mapping and its findings, or ``(None, [error])`` when the converter
    refuses it (every check it makes: pair syntax, indices in range, one source per
    target, ``num_keypoints`` equal to the target's size, left/right consistency); the
    error's message is the refusal.
    """
    try:
        built = KeypointConverter(num_keypoints, mapping, aliases).bind(source, target, label)
    except MappingError as exc:
        return None, [Finding("error", "mapping-invalid", str(exc), PAIRS_ADVICE, label)]
    return built, static_checks(built, source=label)


def _names(schema: KeypointSchema | None, ids: Sequence[int]) -> list[str]:
    return [schema.keypoints[i] if schema is not None else str(i) for i in ids]


def static_checks(mapping: KeypointMapping, source: str | None = None) -> list[Finding]:
    """What is suspicious about a mapping that KeypointMapping accepted.

    ``source`` names the source in the findings (default: the mapping's label).
    """
    where = mapping.label if source is None else source
    src, tgt = mapping.source_schema, mapping.target_schema
    findings: list[Finding] = []

    averaged = [e for e in mapping.entries if len(e.sources) > 1]
    if averaged:
        findings.append(Finding(
            "warning", "averaged-target",
            "target keypoint(s) are the mean of several source keypoints: "
            + "; ".join(mapping.describe(e) for e in averaged),
            "an average is where the target point sits only if the body is symmetric "
            "there; check on the report's mean skeleton that it lands on the target's point",
            where, _names(tgt, [e.target for e in averaged])))

    uses: dict[int, list[int]] = {}
    for e in mapping.entries:
        for s in e.sources:
            uses.setdefault(s, []).append(e.target)
    reused = {s: t for s, t in uses.items() if len(t) > 1}
    if reused:
        parts = [f"{_names(src, [s])[0]} -> {', '.join(_names(tgt, t))}"
                 for s, t in reused.items()]
        findings.append(Finding(
            "warning", "source-reused",
            "source keypoint(s) feed several target keypoints: " + "; ".join(parts),
            "one annotated point then supervises several outputs; keep it only if each "
            "target really is (or averages) that point",
            where, _names(src, list(reused))))

    if src is None or tgt is None:
        return findings
    findings += _name_findings(mapping, where)
    unmapped = unmapped_warning(mapping)
    if unmapped:
        findings.append(Finding(
            "warning", "names-unmapped", unmapped,
            f"such a mapping is almost always a naming problem: `posemix names "
            f"{src.source} --to {tgt.name}` shows how each name is read; give "
            f"KeypointConverter(mapping='by_name', aliases={{...}}) for names the vocabulary "
            f"does not know; if the target really lacks these points, ignore this",
            where, [src.keypoints[s] for s in mapping.dropped_sources]))
    return findings


def _name_findings(mapping: KeypointMapping, where: str) -> list[Finding]:
    """Findings that compare the two schemas' keypoint names."""
    src, tgt = mapping.source_schema, mapping.target_schema
    findings = []
    mismatched, guessed = [], []
    src_read, _ = read_schema_names(src.keypoints, src.name, mapping.aliases)
    tgt_read, _ = read_schema_names(tgt.keypoints, tgt.name)
    for e in mapping.entries:
        if len(e.sources) != 1:
            continue
        s_canon, s_kind = src_read[e.sources[0]].canonical, src_read[e.sources[0]].kind
        t_canon, t_kind = tgt_read[e.target].canonical, tgt_read[e.target].kind
        if s_canon != t_canon:
            mismatched.append(e)
        elif "guess" in (s_kind, t_kind, e.match):
            guessed.append(e)
    if mismatched:
        findings.append(Finding(
            "warning", "name-mismatch",
            "pairs join keypoints whose names mean different points: "
            + "; ".join(mapping.describe(e) for e in mismatched),
            "confirm that each pair is the same anatomical point (the report's mean skeleton "
            "shows where each source puts it); if not, give the source keypoint its own "
            "union keypoint or drop the pair",
            where, [tgt.keypoints[e.target] for e in mismatched]))
    if guessed:
        findings.append(Finding(
            "warning", "guess-match",
            "pairs rest on a guessed synonym: " + "; ".join(mapping.describe(e) for e in guessed),
            "confirm the guess by writing the pair by index, or remove it",
            where, [tgt.keypoints[e.target] for e in guessed]))

    target_by_canon = {m.canonical: t for t, m in enumerate(tgt_read)}
    fed = {e.target for e in mapping.entries}
    dropped = []
    for s in mapping.dropped_sources:
        t = target_by_canon.get(src_read[s].canonical)
        if t is not None:
            dropped.append((s, t))
    if dropped:
        parts = [f"{src.keypoints[s]} (source {s}) and target {t} '{tgt.keypoints[t]}'"
                 + (" (left undefined)" if t not in fed else "") for s, t in dropped]
        findings.append(Finding(
            "warning", "dropped-same-name",
            "source keypoints are dropped although the target has a keypoint of the same "
            "name: " + "; ".join(parts),
            "add the pair(s) " + ", ".join(f"({s}, {t})" for s, t in dropped)
            + " (or use mapping='by_name'); if dropping them is intended, ignore this",
            where, [tgt.keypoints[t] for _, t in dropped]))
    return findings


def cross_source_checks(mappings: Sequence[KeypointMapping],
                        names: Sequence[str]) -> list[Finding]:
    """Union keypoints that different sources feed with differently named points."""
    feeders: dict[int, dict[str, list[tuple[str, str]]]] = {}
    for mapping, name in zip(mappings, names, strict=True):
        src = mapping.source_schema
        if src is None:
            continue
        for e in mapping.entries:
            if len(e.sources) == 1:
                kp = src.keypoints[e.sources[0]]
                canon = canonical(kp, src.name, mapping.aliases)[0]
                feeders.setdefault(e.target, {}).setdefault(canon, []).append((name, kp))
    findings = []
    target = next((m.target_schema for m in mappings if m.target_schema is not None), None)
    for t, by_canon in sorted(feeders.items()):
        if len(by_canon) < 2:
            continue
        union_name = target.keypoints[t] if target is not None else str(t)
        parts = [", ".join(f"{n} '{kp}'" for n, kp in who) + f" (means '{canon}')"
                 for canon, who in by_canon.items()]
        involved = dict.fromkeys(n for who in by_canon.values() for n, _ in who)
        findings.append(Finding(
            "warning", "sources-disagree",
            f"union keypoint '{union_name}' is fed by different points: " + "; ".join(parts),
            "one heatmap would learn a blur of two points; give the odd source's keypoint its "
            "own union keypoint (build the union by names) or drop its pair",
            ", ".join(involved), [union_name]))
    return findings
