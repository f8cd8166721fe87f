"""``posemix browse``: pictures of training samples exactly as the model will see them.

For every source of a config's dataset (one for a plain dataset) it writes, under
``{out}/{source}/``:

* ``sample_{i}.png``: the input crop after the full pipeline with the union skeleton
  (undefined keypoints absent, labelled-but-occluded ones hollow), titled with the
  source's name, beside the target heatmaps the loss will see;
* ``contact_sheet.png``: those samples in a grid;
* ``mapping.png``: one instance in its source's own keypoints and names | the same
  instance after conversion, in the combined names, with left and right in fixed hues
  on both sides, so that a swapped or misplaced mapping shows at a glance.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from posemix.data.datasets import SKIPPED_IMAGE
from posemix.data.sample import sample_from_table
from posemix.data.sources import SourceView, source_views
from posemix.data.table import InstanceTable
from posemix.errors import ConfigError, ImageError, PosemixError
from posemix.keypoints import KeypointSchema
from posemix.keypoints.vocabulary import side
from posemix.panels import contact_sheet, hstack_panels, vstack_panels
from posemix.transforms import LoadImage, PackPoseInputs
from posemix.visualization import (
    SIDE_COLORS,
    TEXT_COLOR,
    Color,
    draw_pose,
    heatmap_overlay,
    legend_strip,
    side_colors,
    text_block,
    write_png,
)

# What the pictures need beyond PackPoseInputs' default meta (it also adds
# ``transformed_keypoints`` with ``pack_transformed=True``).
EXTRA_META_KEYS = ("keypoints_occluded", "keypoints_defined", "sample_idx")
CROP_MARGIN = 0.2  # of the box's longer side, around the instance in the mapping panel
MAPPING_HEIGHT = 480  # pixels, each side of the mapping panel
MAPPING_MAX_WIDTH = 640
SHEET_COLUMNS = 4
SHOWCASE_TRIES = 10  # instances tried for the mapping panel before its images count as broken
MUTED: Color = (170, 170, 170)


def pick_samples(sources: Sequence[SourceView], per_source: int,
                 seed: int) -> list[tuple[SourceView, int, int]]:
    """``(source, i, dataset index)`` for the i-th of ``per_source`` samples of each source,
    round-robin across sources (every source's first, then every source's second, ...).

    Which samples a source gives is a permutation drawn from (seed, source position),
    so a seed always shows the same pictures.
    """
    picks = []
    for source in sources:
        order = np.random.default_rng([seed, source.index]).permutation(len(source.indices))
        picks.append([source.indices[int(j)] for j in order[:per_source]])
    return [(source, i, chosen[i]) for i in range(per_source)
            for source, chosen in zip(sources, picks, strict=True) if i < len(chosen)]


def keep_drawing_inputs(dataset: Any) -> None:
    """Make the dataset's PackPoseInputs steps also pack what the pictures need (the
    cropped keypoints, occlusion, definedness); add one if no pipeline has it."""
    pipelines = [dataset.pipeline] + [sub.pipeline for sub in getattr(dataset, "datasets", [])]
    found = False
    for pipeline in pipelines:
        for i, step in enumerate(pipeline.transforms):
            if isinstance(step, PackPoseInputs):
                keys = tuple(dict.fromkeys(step.meta_keys + EXTRA_META_KEYS))
                pipeline.transforms[i] = PackPoseInputs(meta_keys=keys, pack_transformed=True)
                found = True
    if not found:
        keys = PackPoseInputs().meta_keys + EXTRA_META_KEYS
        dataset.pipeline.transforms.append(PackPoseInputs(meta_keys=keys, pack_transformed=True))


def _first(value: Any) -> Any:
    """One encoder's value of a target that several encoders may have made (a list)."""
    return value[0] if isinstance(value, list) else value


def _crop_image(inputs: Any) -> np.ndarray:
    """The packed (C, H, W) input tensor as an (H, W, C) uint8 BGR image."""
    img = np.asarray(inputs).transpose(1, 2, 0)
    if img.dtype != np.uint8:  # LoadImage(to_float32=True)
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., 0] if img.shape[2] == 1 else img)


def learned_heatmaps(heatmaps: Any, keypoint_weights: Any) -> np.ndarray:
    """(K, h, w) target heatmaps of the keypoints the loss uses (weight > 0).

    Codecs with several maps per keypoint (UDP 'combined': heatmap and x/y offsets)
    contribute their first map.
    """
    weights = np.asarray(keypoint_weights, np.float32).reshape(-1)
    maps = np.asarray(heatmaps, np.float32)
    k = weights.size
    if maps.shape[0] != k and k and maps.shape[0] % k == 0:
        maps = maps.reshape(k, -1, *maps.shape[-2:])[:, 0]
    if maps.shape[0] == k:
        maps = maps * (weights > 0)[:, None, None]
    return maps


def sample_picture(packed: dict, schema: KeypointSchema, source_name: str) -> np.ndarray:
    """The crop with its pose, titled with the source, beside the target heatmaps."""
    meta, targets = packed["meta"], packed["targets"]
    if meta.get("transformed_keypoints") is None:
        raise ConfigError("browse: the pipeline gives no cropped keypoints "
                          "(transformed_keypoints); it needs a TopdownAffine step")
    crop = _crop_image(packed["inputs"])
    k = schema.num_keypoints
    defined = np.asarray(meta.get("keypoints_defined", np.ones(k))).reshape(-1) > 0
    pose = draw_pose(crop, np.asarray(meta["transformed_keypoints"]).reshape(-1, 2), schema,
                     np.asarray(meta["keypoints_visible"]).reshape(-1) > 0,
                     meta.get("keypoints_occluded"), defined)
    title = f"{source_name} #{meta.get('sample_idx', '?')}" + (" flip" if meta.get("flip") else "")
    panels, titles = [pose], [title]
    heatmaps = _first(targets.get("heatmaps"))
    if heatmaps is not None:
        weights = _first(targets.get("keypoint_weights", np.ones(k)))
        panels.append(heatmap_overlay(crop, learned_heatmaps(heatmaps, weights), reduce="sum"))
        titles.append("target heatmaps")
    return hstack_panels(panels, titles)


def showcase_rows(table: InstanceTable) -> np.ndarray:
    """The instances in the order they show a mapping best: most labelled keypoints, then
    largest box."""
    labelled = (table.visibility > 0).sum(axis=1)
    box = table.bbox
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return np.lexsort((-area, -labelled))


def _showcase(sub: Any, tries: int = SHOWCASE_TRIES) -> tuple[int, dict, np.ndarray]:
    """(row, sample, image) of the best showcase instance whose image reads: a missing
    image must not cost the source its mapping panel. ImageError if none of the first
    ``tries`` read."""
    error = None
    for row in showcase_rows(sub.table)[:tries]:
        original = sample_from_table(sub.table, int(row), sub.img_prefix, sub.schema)
        try:
            return int(row), original, LoadImage()(dict(original))["img"]
        except ImageError as exc:
            error = error or exc
    assert error is not None
    raise error


def crop_around(img: np.ndarray, bbox: np.ndarray, margin: float = CROP_MARGIN,
                height: int = MAPPING_HEIGHT,
                max_width: int = MAPPING_MAX_WIDTH) -> tuple[np.ndarray,
                                                             Callable[[np.ndarray], np.ndarray]]:
    """The box (xyxy) with ``margin`` around it, scaled to ``height`` (at most ``max_width``
    wide), and the function taking image coordinates into the crop's."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in bbox)
    pad = margin * max(x1 - x0, y1 - y0)
    left, top = max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad))
    right, bottom = min(w, math.ceil(x1 + pad)), min(h, math.ceil(y1 + pad))
    if right - left < 2 or bottom - top < 2:  # degenerate box: show the whole image
        left, top, right, bottom = 0, 0, w, h
    region = img[top:bottom, left:right]
    factor = min(height / region.shape[0], max_width / region.shape[1])
    size = (max(1, round(region.shape[1] * factor)), max(1, round(region.shape[0] * factor)))
    crop = cv2.resize(region, size, interpolation=cv2.INTER_AREA if factor < 1
                      else cv2.INTER_LINEAR)
    scale = np.array([size[0] / region.shape[1], size[1] / region.shape[0]])
    offset = np.array([left, top], np.float64)

    def to_crop(points: np.ndarray) -> np.ndarray:  # pixel centres map to pixel centres
        return (np.asarray(points, np.float64) - offset + 0.5) * scale - 0.5

    return crop, to_crop


def _side_color(names: Sequence[str]) -> Color:
    sides = {side(n) for n in names}
    return SIDE_COLORS[sides.pop() if len(sides) == 1 else ""]


def _name_list_lines(label: str, names: Sequence[str], per_line: int) -> list[list]:
    """``label: a, b, c`` wrapped after ``per_line`` characters."""
    lines: list[list] = []
    current = f"{label}: "
    for n, name in enumerate(names):
        piece = name + (", " if n < len(names) - 1 else "")
        if len(current) + len(piece) > per_line and current.strip():
            lines.append([(current, MUTED)])
            current = "    "
        current += piece
    return lines + [[(current, MUTED)]]


def mapping_lines(source: SourceView, target: KeypointSchema,
                  chars_per_line: int = 80) -> tuple[list[list], list[list]]:
    """(one line per mapping entry, summary lines): source names -> target name, each
    in its side's hue; then dropped source keypoints and targets the source leaves out,
    wrapped after ``chars_per_line``."""
    src_schema: KeypointSchema = source.dataset.schema
    entries = []
    for e in source.mapping.entries:
        names = [src_schema.keypoints[s] for s in e.sources]
        target_name = target.keypoints[e.target]
        entries.append([(" + ".join(names), _side_color(names)), ("  ->  ", MUTED),
                        (target_name, _side_color([target_name]))])
    summary: list[list] = []
    dropped = [src_schema.keypoints[i] for i in source.mapping.dropped_sources]
    undefined = [target.keypoints[i] for i in np.flatnonzero(~np.asarray(source.table.defined))]
    if dropped:
        summary += _name_list_lines(f"dropped {source.name} keypoints", dropped,
                                    chars_per_line)
    if undefined:
        summary += _name_list_lines(f"not annotated by {source.name}", undefined,
                                    chars_per_line)
    return entries, summary


def mapping_picture(source: SourceView, schema: KeypointSchema) -> np.ndarray | None:
    """One instance in the source's own layout | the same one in ``schema``'s, named and
    coloured by side, above the mapping written out; a single panel when the source is
    trained in its own layout (a plain dataset); None for an empty source."""
    sub = source.dataset
    if not len(sub.table):
        return None
    row, original, img = _showcase(sub)
    crop, to_crop = crop_around(img, original["bbox"][0])
    layouts = [(original, sub.schema)]
    titles = [f"{source.name} original ({sub.schema.num_keypoints} keypoints, "
              f"{sub.schema.name} names)"]
    converted = sub.schema is not schema
    if converted:
        layouts.append((sample_from_table(source.table, row, sub.img_prefix, schema), schema))
        titles.append(f"as trained ({schema.num_keypoints} keypoints, {schema.name} names)")
    else:
        titles[0] += ", trained as is"
    panels = []
    for info, layout in layouts:
        colors, links = side_colors(layout)
        panels.append(draw_pose(
            crop, to_crop(info["keypoints"][0]), layout, info["keypoints_visible"][0] > 0,
            info["keypoints_occluded"][0], info["keypoints_defined"][0] > 0, names=True,
            colors=colors, link_colors=links))
    top = hstack_panels(panels, titles)
    width = top.shape[1]
    blocks = [top, legend_strip([("left", SIDE_COLORS["left"], False),
                                 ("right", SIDE_COLORS["right"], False),
                                 ("centre", SIDE_COLORS[""], False),
                                 ("labelled, occluded", TEXT_COLOR, True)], width)]
    if converted:
        entries, summary = mapping_lines(source, schema, chars_per_line=max(20, width // 9))
        blocks.append(text_block(entries, width))
        if summary:
            blocks.append(text_block(summary, width, columns=1))
    return vstack_panels(blocks)


def load_sample(dataset: Any, index: int, picture: str) -> dict | None:
    """``dataset[index]``; None, with a warning that ``picture`` is not drawn and names the
    image, when its image cannot be read (as training skips it): one broken file must not
    stop the other pictures."""
    try:
        packed = dataset[index]
    except ImageError as exc:  # test mode: the dataset raises instead of marking the sample
        error = str(exc)
    else:
        if SKIPPED_IMAGE not in packed:
            return packed
        error = packed["error"]
    warnings.warn(f"browse: no {picture}: {error}", stacklevel=2)
    return None


def folder_name(source_name: str) -> str:
    """A source name usable as one folder name."""
    return re.sub(r"[^\w.-]+", "_", source_name).strip("._") or "source"


def browse_dataset(dataset: Any, out_dir: str | Path, per_source: int = 8,
                   seed: int = 0) -> list[Path]:
    """Write every source's sample pictures, contact sheet and mapping panel; return the
    files written (samples first, in the order they were drawn)."""
    if isinstance(per_source, bool) or not isinstance(per_source, int) or per_source < 1:
        raise PosemixError(f"browse: the number of samples per source must be a positive "
                           f"integer, got {per_source!r}")
    out_dir = Path(out_dir)
    sources = source_views(dataset)
    folders = {s.name: out_dir / folder_name(s.name) for s in sources}
    keep_drawing_inputs(dataset)
    written: list[Path] = []
    pictures: dict[str, list[np.ndarray]] = {s.name: [] for s in sources}
    for source, i, index in tqdm(pick_samples(sources, per_source, seed), desc="browse",
                                 unit="sample", disable=None):
        packed = load_sample(dataset, index, f"sample_{i}.png for '{source.name}'")
        if packed is None:
            continue
        picture = sample_picture(packed, dataset.schema, source.name)
        pictures[source.name].append(picture)
        written.append(write_png(folders[source.name] / f"sample_{i}.png", picture))
    for source in sources:
        if pictures[source.name]:
            sheet = contact_sheet(pictures[source.name], SHEET_COLUMNS)
            written.append(write_png(folders[source.name] / "contact_sheet.png", sheet))
        try:
            panel = mapping_picture(source, dataset.schema)
        except ImageError as exc:
            warnings.warn(f"browse: no mapping.png for '{source.name}': none of the images of "
                          f"its best-labelled instances can be read; the first: {exc}",
                          stacklevel=2)
            continue
        if panel is not None:
            written.append(write_png(folders[source.name] / "mapping.png", panel))
    return written


def browse(cfg: Any, out_dir: str | Path, per_source: int = 8, split: str = "train",
           seed: int = 0) -> list[Path]:
    """Browse the ``split`` dataset of config ``cfg`` (see the module docstring)."""
    from posemix.api import build_dataset

    return browse_dataset(build_dataset(cfg, split), out_dir, per_source, seed)
