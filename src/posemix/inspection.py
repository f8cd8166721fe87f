"""``posemix inspect``: what each source brings to a (combined) dataset, before training.

Per source: its files and counts (kept, filtered and why), the mapping as names, the
target keypoints it leaves undefined, the source keypoints it drops, and its share of an
epoch under the sampling rule (sizes, ``sample_ratio_factor``, ``balance`` or the
sampler's batch composition); per union keypoint, the fraction of instances that label it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posemix.checks import check_dataset
from posemix.data.balance import epoch_shares
from posemix.data.sources import source_views
from posemix.keypoints import KeypointMapping, KeypointSchema
from posemix.registry import SAMPLERS


def _mapping_rows(mapping: KeypointMapping, source: KeypointSchema,
                  target: KeypointSchema) -> list[dict]:
    return [
        {"source": [source.keypoints[s] for s in e.sources], "target": target.keypoints[e.target],
         "match": e.match}
        for e in mapping.entries
    ]


def _dump(table: Any, count: int, img_prefix: str) -> list[dict]:
    out = []
    for row in range(min(count, len(table))):
        out.append({
            "image": f"{img_prefix}{table.file_name[int(table.image_index[row])]}",
            "bbox": [float(v) for v in table.bbox[row]],
            "keypoints": table.keypoints[row].astype(float).tolist(),
            "labelled": (table.visibility[row] > 0).tolist(),
            "defined": [bool(d) for d in table.defined],
        })
    return out


def composing_sampler(loader_cfg: Any, dataset: Any) -> Any:
    """The loader's MultiSourceSampler (whose batch composition sets each source's share),
    or None for a sampler that takes the dataset as it is."""
    cfg = dict((loader_cfg or {}).get("sampler") or {})
    if cfg.get("type") != "MultiSourceSampler":
        return None
    cfg.setdefault("batch_size", loader_cfg.get("batch_size", 1))
    return SAMPLERS.build(cfg, dataset=dataset)


def sampling_rule(dataset: Any, sampler: Any = None) -> str:
    """How an epoch picks its sources, in words."""
    if getattr(sampler, "num_per_source", None) is not None:
        rule = (f"balance temperature={sampler.balance['temperature']}"
                if getattr(sampler, "balance", None) else f"source_ratio={sampler.source_ratio}")
        return f"{type(sampler).__name__} {rule}: {sampler.num_per_source} per batch"
    if getattr(dataset, "balance", None) is not None:
        return f"balance temperature={dataset.balance:g} (share ∝ size^(1/T))"
    if getattr(dataset, "sample_ratio_factor", None) is not None:
        return f"sample_ratio_factor={dataset.sample_ratio_factor}"
    return "in proportion to size"


def summarize(dataset: Any, dump: int = 0, sampler: Any = None) -> dict:
    """The inspection summary as one JSON-ready dict (see the README's inspect section);
    ``sampler``, when given, is the split's sampler, whose batch composition sets shares."""
    schema: KeypointSchema = dataset.schema
    sources = []
    shares = epoch_shares(dataset, sampler)
    for view, share in zip(source_views(dataset), shares, strict=True):
        name, sub, mapping, table = view.name, view.dataset, view.mapping, view.table
        labelled = (table.visibility > 0).mean(axis=0) if len(table) else \
            np.zeros(schema.num_keypoints)
        entry = {
            "name": name,
            "type": type(sub).__name__,
            "ann_file": str(getattr(sub, "ann_file", "")),
            "images": int(len(np.unique(table.image_index))),
            "instances": len(table),
            "filtered": {k: int(v) for k, v in getattr(table, "filter_report", {}).items()},
            "keypoints": list(sub.schema.keypoints),
            "mapping": [[list(e.sources) if len(e.sources) > 1 else e.sources[0], e.target]
                        for e in mapping.entries],
            "mapping_names": _mapping_rows(mapping, sub.schema, schema),
            "undefined_targets": [int(i) for i in np.flatnonzero(~table.defined)],
            "dropped_source": [int(i) for i in mapping.dropped_sources],
            "labelled_fraction": [round(float(f), 6) for f in labelled],
            "epoch_share": round(float(share), 6),
        }
        if dump:
            entry["dump"] = _dump(table, dump, getattr(sub, "img_prefix", ""))
        sources.append(entry)
    results = check_dataset(dataset)
    return {
        "schema": {
            "name": schema.name, "keypoints": list(schema.keypoints),
            "flip_indices": schema.flip_indices, "upper_body_ids": schema.upper_body_ids,
            "lower_body_ids": schema.lower_body_ids,
            "sigmas": [round(float(s), 8) for s in schema.sigmas],
            "joint_weights": [round(float(w), 8) for w in schema.joint_weights],
        },
        "sources": sources,
        "length": len(dataset),
        "sampling": sampling_rule(dataset, sampler),
        "warnings": [str(f) for f in results.findings],
        "findings": [f.as_dict() for f in results.findings],
        "coverage": results.coverage,
        "comparisons": results.geometry.get("comparisons", []),
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(summary: dict) -> str:
    """The summary as text for a terminal."""
    schema = summary["schema"]
    names = schema["keypoints"]
    out = [f"Combined schema '{schema['name']}': {len(names)} keypoints, "
           f"{summary['length']} samples",
           f"sampling: {summary['sampling']}"]
    for src in summary["sources"]:
        filtered = ", ".join(f"{k}: {v}" for k, v in src["filtered"].items() if v) or "none"
        out += ["", f"== source '{src['name']}' ({src['type']}) ==",
                f"annotation file : {src['ann_file']}",
                f"images          : {src['images']}",
                f"instances kept  : {src['instances']}   filtered: {filtered}",
                f"epoch share     : {100 * src['epoch_share']:.1f}%",
                f"mapping ({len(src['mapping'])} pairs, source -> target):"]
        rows = [["source", "target", "match"]] + [
            [" + ".join(m["source"]), m["target"],
             "" if m["match"] == "exact" else m["match"].upper()]
            for m in src["mapping_names"]]
        out.append(_table(rows))
        undefined = [names[i] for i in src["undefined_targets"]]
        dropped = [src["keypoints"][i] for i in src["dropped_source"]]
        out.append(f"undefined targets: {', '.join(undefined) or 'none'}")
        out.append(f"dropped source keypoints: {', '.join(dropped) or 'none'}")
    out += ["", "labelled fraction per keypoint:"]
    rows = [["keypoint"] + [s["name"] for s in summary["sources"]]]
    for k, name in enumerate(names):
        rows.append([name] + [f"{s['labelled_fraction'][k]:.2f}" for s in summary["sources"]])
    out.append(_table(rows))
    if summary["findings"]:
        out += ["", "checks:"] + [f"- {w}" for w in summary["warnings"]]
    else:
        out += ["", "checks: no finding"]
    return "\n".join(out)
