"""The mapping report: one self-contained HTML page to review a mix of datasets before training.

It shows, for a (combined) dataset: the findings of every check with what to do about
each, the mapping matrix (which source keypoint feeds each union keypoint, and how sure
the match is), how many instances label each keypoint, the mean skeleton of every source
drawn on one canvas in the normalised body frame (a left/right swap or a keypoint defined
differently stands out as a skeleton that disagrees), the per-keypoint comparison numbers
and the union schema itself. The canvas is drawn with OpenCV, embedded in the page and
also written beside it as ``mean_skeleton.png``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posemix.checks import CheckResults, Finding, check_dataset
from posemix.data.sources import SourceView, source_views
from posemix.keypoints import KeypointSchema, canonical

# one colour per source (BGR), reused in the HTML as hex
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (189, 103, 148), (75, 86, 140),
           (194, 119, 227), (34, 189, 188), (207, 190, 23), (127, 127, 127)]
FLAG = (40, 40, 214)
CANVAS = (760, 900)  # width, height of the drawing area
LEGEND_ROW = 24

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 8px;border:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.error{color:#b00020;font-weight:600}.warning{color:#a15c00;font-weight:600}
.finding{margin:10px 0;padding:8px 12px;border-left:4px solid #a15c00;background:#fffaf0}
.finding.error-box{border-color:#b00020;background:#fff0f0}.advice{color:#333}
.mapped{background:#d9f2d9}.alias{background:#c9e7f7}.user-alias{background:#d7dcf7}
.guess{background:#ffe7a8}
.averaged{background:#e3d7f5}.mismatch{background:#ffc9a8}.undefined{background:#eee;color:#999}
.flagged{outline:3px solid #d62728;outline-offset:-3px}
.bar{display:flex;width:320px;height:14px;background:#eee;border:1px solid #ccc}
.bar span{display:block;height:100%}.rare{color:#b00020;font-weight:600}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.small{color:#666;font-size:12px}
"""


def _hex(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def _color(s: int) -> tuple[int, int, int]:
    return PALETTE[s % len(PALETTE)]


def _e(text: object) -> str:
    return html.escape(str(text))


# -- the mean skeleton canvas -------------------------------------------------------------
def _bounds(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame box holding every mean and its spread, within sane limits."""
    spread = np.nan_to_num(std, nan=0.0)
    pts = np.concatenate([(mean - spread).reshape(-1, 2), (mean + spread).reshape(-1, 2)])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return np.array([-1.0, -1.0]), np.array([1.0, 2.0])
    lo = np.clip(pts.min(axis=0), [-3.0, -2.0], [0.0, 0.0]) - 0.15
    hi = np.clip(pts.max(axis=0), [0.0, 1.0], [3.0, 4.0]) + 0.15
    return lo, hi


def draw_mean_skeletons(geometry: dict[str, Any], schema: KeypointSchema) -> np.ndarray:
    """Every source's mean skeleton in the body frame, as seen from the front (BGR image).

    Dots are mean positions, faint ellipses one standard deviation; a red ring and a red
    line from the reference's position mark each flagged keypoint.
    """
    mean, std, count = geometry["mean"], geometry["std"], geometry["count"]
    sources = geometry["sources"]
    legend_h = LEGEND_ROW * (len(sources) + 2)
    width, height = CANVAS
    img = np.full((height + legend_h, width, 3), 255, np.uint8)
    lo, hi = _bounds(mean, std)
    # as seen from the front: the person's right (x > 0) is drawn on the left
    scale = min((width - 40) / (hi[0] - lo[0]), (height - 40) / (hi[1] - lo[1]))
    centre_x = width / 2 + scale * (hi[0] + lo[0]) / 2

    def px(p: np.ndarray) -> tuple[int, int]:
        return (int(round(centre_x - scale * p[0])),
                int(round(legend_h + 20 + scale * (p[1] - lo[1]))))

    for v in np.arange(np.ceil(lo[0] * 2) / 2, hi[0], 0.5):
        colour = (170, 170, 170) if v == 0 else (230, 230, 230)
        cv2.line(img, px((v, lo[1])), px((v, hi[1])), colour, 1)
    for v in np.arange(np.ceil(lo[1] * 2) / 2, hi[1], 0.5):
        colour = (170, 170, 170) if v == 0 else (230, 230, 230)
        cv2.line(img, px((lo[0], v)), px((hi[0], v)), colour, 1)

    overlay = img.copy()
    for s in range(len(sources)):
        for k in np.flatnonzero(count[s] > 0):
            if np.isfinite(std[s, k]).all():
                axes = (max(1, int(scale * std[s, k, 0])), max(1, int(scale * std[s, k, 1])))
                cv2.ellipse(overlay, px(mean[s, k]), axes, 0, 0, 360, _color(s), 1, cv2.LINE_AA)
    img = cv2.addWeighted(overlay, 0.35, img, 0.65, 0)
    for s in range(len(sources)):
        for a, b in schema.skeleton:
            if count[s, a] and count[s, b]:
                cv2.line(img, px(mean[s, a]), px(mean[s, b]), _color(s), 2, cv2.LINE_AA)
        for k in np.flatnonzero(count[s] > 0):
            cv2.circle(img, px(mean[s, k]), 4, _color(s), -1, cv2.LINE_AA)

    labels = _Labels(img)
    for c in geometry["comparisons"]:
        if c["flagged"]:
            k, s, r = c["keypoint"], c["source"], c["reference"]
            cv2.line(img, px(mean[r, k]), px(mean[s, k]), FLAG, 2, cv2.LINE_AA)
            cv2.circle(img, px(mean[s, k]), 10, FLAG, 2, cv2.LINE_AA)
            labels.put(f"{schema.keypoints[k]} ({sources[s]})", px(mean[s, k]), FLAG)
    for k, name in enumerate(schema.keypoints):
        defining = np.flatnonzero(count[:, k] > 0)
        if len(defining):
            labels.put(name, px(mean[defining[0], k]), (90, 90, 90))

    img[:legend_h] = 255
    for s, name in enumerate(sources):
        y = LEGEND_ROW * (s + 1)
        cv2.rectangle(img, (16, y - 12), (32, y + 2), _color(s), -1)
        cv2.putText(img, f"{name}  ({geometry['usable'][s]} people in the frame)", (40, y),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (30, 30, 30), 1, cv2.LINE_AA)
    note = "seen from the front: person's right on the left; unit = torso length"
    cv2.putText(img, note, (16, LEGEND_ROW * (len(sources) + 1) + 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (110, 110, 110), 1, cv2.LINE_AA)
    return img


class _Labels:
    """Places keypoint names beside their dots, skipping any that would overlap another."""

    FONT, SIZE = cv2.FONT_HERSHEY_SIMPLEX, 0.42

    def __init__(self, img: np.ndarray):
        self.img = img
        self.taken: list[tuple[int, int, int, int]] = []

    def put(self, text: str, at: tuple[int, int], colour: tuple[int, int, int]) -> None:
        (w, h), _ = cv2.getTextSize(text, self.FONT, self.SIZE, 1)
        for dx, dy in ((8, -6), (8, h + 6), (-w - 8, -6), (-w - 8, h + 6)):
            x, y = at[0] + dx, at[1] + dy
            box = (x, y - h, x + w, y + 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in self.taken):
                self.taken.append(box)
                cv2.putText(self.img, text, (x, y), self.FONT, self.SIZE, colour, 1, cv2.LINE_AA)
                return


# -- HTML sections ------------------------------------------------------------------------
def _findings_html(findings: list[Finding]) -> str:
    if not findings:
        return "<p>No findings: the mappings, the data and the coverage look consistent.</p>"
    out = []
    for f in findings:
        box = "finding error-box" if f.level == "error" else "finding"
        where = f" &middot; {_e(f.source)}" if f.source else ""
        keypoints = f" &middot; {_e(', '.join(f.keypoints))}" if f.keypoints else ""
        out.append(f'<div class="{box}"><span class="{f.level}">{f.level.upper()}</span> '
                   f"<code>{_e(f.code)}</code>{where}{keypoints}<br>{_e(f.message)}"
                   f'<br><span class="advice"><b>What to do:</b> {_e(f.advice)}</span></div>')
    return "\n".join(out)


def _cell(src: SourceView, target: int, flagged: set[tuple[str, int]]) -> str:
    """One matrix cell: the source keypoint(s) feeding ``target`` and how they match."""
    mapping, schema = src.mapping, src.schema
    entry = next((e for e in mapping.entries if e.target == target), None)
    if entry is None:
        return '<td class="undefined">&mdash;</td>'
    names = [schema.keypoints[i] for i in entry.sources]
    if len(names) > 1:
        state = "averaged"
    else:
        s_canon, s_kind = canonical(names[0], schema.name, mapping.aliases)
        t_canon, t_kind = canonical(mapping.target_schema.keypoints[target],
                                    mapping.target_schema.name)
        kinds = (s_kind, t_kind, entry.match)
        state = next((k for k in ("guess", "user alias", "alias") if k in kinds), "mapped")
        state = "mismatch" if s_canon != t_canon else state
    extra = " flagged" if (src.name, target) in flagged else ""
    css = state.replace(" ", "-")
    return f'<td class="{css}{extra}" title="{state}">{_e(" + ".join(names))}</td>'


def _matrix_html(schema: KeypointSchema, sources: list[SourceView],
                 flagged: set[tuple[str, int]]) -> str:
    head = "".join(f'<th><span class="swatch" style="background:{_hex(_color(s))}"></span>'
                   f"{_e(src.name)}</th>" for s, src in enumerate(sources))
    rows = [f"<tr><td>{k}</td><td><b>{_e(name)}</b></td>"
            + "".join(_cell(src, k, flagged) for src in sources) + "</tr>"
            for k, name in enumerate(schema.keypoints)]
    legend = " ".join(f'<span class="{c}" style="padding:0 6px">{label}</span>' for c, label in (
        ("mapped", "same name"), ("alias", "known synonym"), ("user-alias", "user alias"),
        ("guess", "guessed synonym"),
        ("averaged", "mean of several"), ("mismatch", "names differ"),
        ("undefined", "not defined"), ("flagged", "flagged by the data check")))
    return (f"<p class='small'>Each cell names the source keypoint that feeds the union "
            f"keypoint. {legend}</p><table><tr><th>#</th><th>union keypoint</th>{head}</tr>"
            + "\n".join(rows) + "</table>")


def _coverage_html(cov: dict[str, Any], min_fraction: float) -> str:
    total = float(np.dot(cov["instances"], cov["factors"])) or 1.0
    rows = []
    for k, name in enumerate(cov["keypoints"]):
        segments, parts = [], []
        for s, src in enumerate(cov["sources"]):
            n = cov["labelled"][s][k]
            if n:
                share = 100 * n * cov["factors"][s] / total
                segments.append(f'<span style="width:{share:.3f}%;'
                                f'background:{_hex(_color(s))}" title="{_e(src)}: {n}"></span>')
                parts.append(f"{_e(src)} {n}")
            elif not cov["defined"][s][k]:
                parts.append(f"<span class='small'>{_e(src)} undefined</span>")
        fraction = cov["fraction"][k]
        cls = ' class="rare"' if fraction < min_fraction else ""
        rows.append(f"<tr><td>{_e(name)}</td><td><div class='bar'>{''.join(segments)}</div></td>"
                    f"<td{cls}>{100 * fraction:.1f}%</td><td>{', '.join(parts)}</td></tr>")
    return ("<p class='small'>Share of an epoch's instances (after sample_ratio_factor) that "
            "label each keypoint, coloured by source.</p><table><tr><th>keypoint</th>"
            "<th>labelled</th><th>share</th><th>labelled instances per source</th></tr>"
            + "\n".join(rows) + "</table>")


def _comparisons_html(geometry: dict[str, Any]) -> str:
    if geometry["frame"] is None:
        return f"<p>Not available: {_e(geometry['reason'])}.</p>"
    if not geometry["comparisons"]:
        return (f"<p>No keypoint has {geometry['min_instances']} or more usable instances in "
                "two sources, so nothing was compared.</p>")
    names, sources = geometry["keypoints"], geometry["sources"]
    rows = []
    for c in geometry["comparisons"]:
        verdict = ("left/right swap" if c["swap"] else "drift") if c["flagged"] else "ok"
        cls = ' class="error"' if c["swap"] else ' class="warning"' if c["flagged"] else ""
        rows.append(f"<tr><td>{_e(names[c['keypoint']])}</td><td>{_e(sources[c['source']])}"
                    f" vs {_e(sources[c['reference']])}</td><td>{c['n']} / {c['n_reference']}"
                    f"</td><td>{c['distance']:.3f}</td><td>{c['standardized']:.2f}</td>"
                    f"<td{cls}>{verdict}</td></tr>")
    return (f"<p class='small'>Flagged when the standardised distance exceeds "
            f"{geometry['threshold']:g} and the distance exceeds {geometry['min_distance']:g} "
            f"torso lengths (sources with at least {geometry['min_instances']} usable "
            f"instances).</p><table><tr><th>keypoint</th><th>source vs reference</th><th>n</th>"
            f"<th>distance (torso lengths)</th><th>standardised</th><th>verdict</th></tr>"
            + "\n".join(rows) + "</table>")


def _schema_html(schema: KeypointSchema) -> str:
    rows = [f"<tr><td>{k}</td><td>{_e(n)}</td><td>{_e(schema.types[k])}</td>"
            f"<td>{_e(schema.swaps[k])}</td><td>{schema.sigmas[k]:.6g}</td>"
            f"<td>{schema.joint_weights[k]:.6g}</td></tr>"
            for k, n in enumerate(schema.keypoints)]
    links = ", ".join(f"{_e(a)}&ndash;{_e(b)}" for a, b in schema.links)
    return ("<table><tr><th>#</th><th>keypoint</th><th>type</th><th>mirror</th><th>sigma</th>"
            "<th>joint weight</th></tr>" + "\n".join(rows)
            + f"</table><p class='small'>Skeleton: {links}</p>")


def write_report(dataset: Any, out_dir: str | Path, results: CheckResults | None = None,
                 min_fraction: float | None = None) -> Path:
    """Write ``index.html`` and ``mean_skeleton.png`` into ``out_dir``; return the page's path.

    ``results`` are the checks already run on ``dataset`` (:func:`check_dataset`); without
    them the checks run here with their defaults.
    """
    from posemix.checks.coverage import MIN_FRACTION

    results = check_dataset(dataset) if results is None else results
    min_fraction = MIN_FRACTION if min_fraction is None else min_fraction
    schema: KeypointSchema = dataset.schema
    sources = source_views(dataset)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    geometry = results.geometry
    flagged = {(geometry["sources"][c["source"]], c["keypoint"])
               for c in geometry["comparisons"] if c["flagged"]}
    if geometry["frame"] is not None:
        _, png = cv2.imencode(".png", draw_mean_skeletons(geometry, schema))
        (out / "mean_skeleton.png").write_bytes(png.tobytes())
        picture = (f'<img alt="mean skeleton of every source" src="data:image/png;base64,'
                   f'{base64.b64encode(png.tobytes()).decode()}">')
    else:
        picture = f"<p>Not available: {_e(geometry['reason'])}.</p>"
    errors = len(results.errors)
    warnings = len(results.findings) - errors
    source_list = ", ".join(
        f'<span class="swatch" style="background:{_hex(_color(s))}"></span>{_e(src.name)} '
        f"({len(src.table)} instances, {_e(src.label)})" for s, src in enumerate(sources))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>posemix mapping report: {_e(schema.name)}</title>
<style>{CSS}</style></head><body>
<h1>Mapping report: {_e(schema.name)}</h1>
<p>Combined schema '{_e(schema.name)}' ({_e(schema.source)}): {schema.num_keypoints} keypoints
from {len(sources)} source(s): {source_list}.</p>
<p><span class="error">{errors} error(s)</span>, <span class="warning">{warnings} warning(s)</span>.
<code>posemix train</code> refuses to start on errors unless <code>--force</code>.</p>
<h2 id="findings">Findings</h2>
{_findings_html(results.findings)}
<h2 id="mapping">Mapping matrix</h2>
{_matrix_html(schema, sources, flagged)}
<h2 id="coverage">Coverage</h2>
{_coverage_html(results.coverage, min_fraction)}
<h2 id="skeletons">Mean skeletons in the body frame</h2>
<p class="small">Each source's people normalised by their shoulders and hips (origin:
mid-shoulder; unit: torso length); dots are mean positions, faint ellipses one standard
deviation. Where the sources agree, their skeletons lie on top of each other.</p>
{picture}
<h2 id="comparisons">Keypoint positions compared across sources</h2>
{_comparisons_html(geometry)}
<h2 id="schema">Combined schema</h2>
{_schema_html(schema)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
