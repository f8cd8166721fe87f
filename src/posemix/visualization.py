"""Drawing poses, labels and picture grids with OpenCV, on BGR uint8 images.

Every picture posemix makes (browse, infer, demo) is drawn here, so a pose looks the
same everywhere: skeleton and keypoints in the schema's colours, a hollow ring (and
dashed links) for keypoints that are labelled but occluded, nothing at all for
keypoints that are not labelled or that the source does not define. Line widths and
fonts follow the image size, so small crops and large photos both stay readable.
Drawing functions return a new image and leave their input untouched. Grids of
pictures are composed in :mod:`posemix.panels`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posemix.errors import ImageError, PosemixError
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.vocabulary import side

Color = tuple[int, int, int]

FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_HEIGHT = 22  # pixels of the title strip above a panel
PANEL_GAP = 4  # pixels between panels
BACKGROUND: Color = (38, 38, 38)
TEXT_COLOR: Color = (235, 235, 235)
OUTLINE: Color = (0, 0, 0)
# Body side hues (BGR), MMPose's convention: left green, right orange, centre light blue.
SIDE_COLORS: dict[str, Color] = {"left": (0, 255, 0), "right": (0, 128, 255),
                                 "": (255, 153, 51)}
_SUBPIXEL = 4  # cv2 drawing with fractional coordinates: 2**4 sub-pixel steps
_MIN_FONT = 0.3


def _as_color(value: Sequence[int] | np.ndarray) -> Color:
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def to_bgr(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise PosemixError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[2] != 3:
        raise PosemixError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    return img


def _unit(img: np.ndarray, scale: float) -> float:
    """Drawing size unit: 1.0 on a 256×192 crop, proportionally more on larger images."""
    return max(0.5, min(img.shape[:2]) / 192.0) * scale


def _fixed(point: np.ndarray) -> tuple[int, int]:
    """A float point as cv2's fixed-point coordinates (used with ``shift=_SUBPIXEL``)."""
    return (int(round(float(point[0]) * (1 << _SUBPIXEL))),
            int(round(float(point[1]) * (1 << _SUBPIXEL))))


def _clip_segment(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of segment p0-p1 inside the box [lo, hi] (Liang-Barsky), None if it misses
    the box: cv2 takes only int32 coordinates, and a point far off the picture (a bad
    label, a diverged prediction) would overflow them."""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for axis in range(2):
        for step, room in ((-d[axis], p0[axis] - lo[axis]), (d[axis], hi[axis] - p0[axis])):
            if step == 0:
                if room < 0:
                    return None
                continue
            t = room / step
            if step < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
    if t0 > t1:
        return None
    return p0 + t0 * d, p0 + t1 * d


def _mask(values: np.ndarray | Sequence[bool] | None, k: int, name: str,
          default: bool) -> np.ndarray:
    if values is None:
        return np.full(k, default)
    arr = np.asarray(values).reshape(-1)
    if arr.shape != (k,):
        raise PosemixError(f"draw_pose: '{name}' has {arr.size} values for {k} keypoints")
    return arr.astype(bool)


def schema_colors(schema: KeypointSchema) -> tuple[np.ndarray, np.ndarray]:
    """(keypoint colours (K, 3), link colours (L, 3)) in BGR.

    Schemas keep MMPose's metainfo colours, which are RGB; OpenCV images are BGR.
    """
    return schema.colors[:, ::-1].copy(), schema.link_colors[:, ::-1].copy()


def side_colors(schema: KeypointSchema) -> tuple[np.ndarray, np.ndarray]:
    """(keypoint colours, link colours) by body side, derived from the keypoint names.

    The same side gets the same hue in every schema, so a mapping that sends a left
    keypoint to a right one shows up as a change of colour. A link gets its ends' side
    when both ends agree and the centre hue otherwise.
    """
    sides = [side(name) for name in schema.keypoints]
    points = np.array([SIDE_COLORS[s] for s in sides], np.uint8).reshape(-1, 3)
    links = np.array([SIDE_COLORS[sides[a]] if sides[a] == sides[b] else SIDE_COLORS[""]
                      for a, b in schema.skeleton], np.uint8).reshape(-1, 3)
    return points, links


def _dashed_line(img: np.ndarray, p0: np.ndarray, p1: np.ndarray, color: Color,
                 thickness: int, dash: float) -> None:
    length = float(np.hypot(*(p1 - p0)))
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        a = p0 + (p1 - p0) * (i / steps)
        b = p0 + (p1 - p0) * (min(i + 1, steps) / steps)
        cv2.line(img, _fixed(a), _fixed(b), color, thickness, cv2.LINE_AA, _SUBPIXEL)


def _text_on_shade(img: np.ndarray, text: str, corner: tuple[int, int], color: Color,
                   font_scale: float, pad: int) -> None:
    """Text on a darkened box (the picture stays visible through it), in place."""
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, 1)
    x0, y0 = corner
    box = img[max(0, y0):max(0, y0 + th + base + 2 * pad), max(0, x0):max(0, x0 + tw + 2 * pad)]
    box[:] = (box * 0.3).astype(np.uint8)
    cv2.putText(img, text, (x0 + pad, y0 + pad + th), FONT, font_scale, color, 1, cv2.LINE_AA)


def _place_names(img: np.ndarray, items: list[tuple[str, np.ndarray, Color]], radius: int,
                 font_scale: float, occupied: np.ndarray) -> None:
    """Write each name beside its point, at whichever of eight spots covers the least of
    what is drawn (``occupied``: links and dots), of names already written (8× worse)
    and of the outside of the image (4× worse)."""
    h, w = img.shape[:2]
    cost_map = occupied.astype(np.float32)
    pad = 1
    for text, point, color in items:
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, 1)
        bw, bh = tw + 2 * pad, th + base + 2 * pad
        x, y = int(round(point[0])), int(round(point[1]))
        gap = radius + 1
        corners = [  # right, left, above, below, then the diagonals
            (x + gap, y - bh // 2), (x - gap - bw, y - bh // 2), (x - bw // 2, y - gap - bh),
            (x - bw // 2, y + gap), (x + gap, y - gap - bh), (x - gap - bw, y - gap - bh),
            (x + gap, y + gap), (x - gap - bw, y + gap),
        ]

        def cost(corner: tuple[int, int], bw: int = bw, bh: int = bh) -> float:
            x0, y0 = corner
            cx0, cy0 = min(max(x0, 0), w), min(max(y0, 0), h)
            cx1, cy1 = min(max(x0 + bw, 0), w), min(max(y0 + bh, 0), h)
            outside = bw * bh - (cx1 - cx0) * (cy1 - cy0)
            return float(cost_map[cy0:cy1, cx0:cx1].sum()) + 4.0 * outside

        x0, y0 = min(corners, key=cost)
        cost_map[max(0, y0):max(0, y0 + bh), max(0, x0):max(0, x0 + bw)] += 8.0
        _text_on_shade(img, text, (x0, y0), color, font_scale, pad)


def draw_pose(img: np.ndarray, keypoints: np.ndarray, schema: KeypointSchema,
              labelled: np.ndarray | Sequence[bool],
              occluded: np.ndarray | Sequence[bool] | None = None,
              defined: np.ndarray | Sequence[bool] | None = None, names: bool = False,
              scale: float = 1.0, colors: np.ndarray | None = None,
              link_colors: np.ndarray | None = None) -> np.ndarray:
    """One instance's pose drawn on a copy of ``img``.

    A keypoint is drawn when it is labelled, defined by its source and finite: a filled
    dot, or a hollow ring when ``occluded``; one far off the picture gets no dot, only its
    links, cut at the picture's edge. Links join such keypoints only, dashed when an end
    is occluded. ``colors`` / ``link_colors`` (BGR, e.g. from ``side_colors``)
    replace the schema's. ``names`` writes each drawn keypoint's schema name beside it.
    """
    k = schema.num_keypoints
    points = np.asarray(keypoints, np.float64)
    if points.shape != (k, 2):
        raise PosemixError(f"draw_pose: keypoints of shape {points.shape} do not fit schema "
                           f"'{schema.name}' with {k} keypoints (expected ({k}, 2))")
    shown = (_mask(labelled, k, "labelled", True) & _mask(defined, k, "defined", True)
             & np.isfinite(points).all(axis=1))
    hollow = _mask(occluded, k, "occluded", False)
    default_points, default_links = schema_colors(schema)
    point_colors = default_points if colors is None else np.asarray(colors)
    line_colors = default_links if link_colors is None else np.asarray(link_colors)

    base = np.ascontiguousarray(to_bgr(img))
    out = base.copy()
    unit = _unit(out, scale)
    radius = max(2, int(round(3 * unit)))
    thickness = max(1, int(round(1.6 * unit)))
    # what lies beyond this margin around the picture cannot show: links are cut at it,
    # dots beyond it are left out
    margin = radius + thickness + 2
    lo = np.array([-margin, -margin], np.float64)
    hi = np.array([out.shape[1] - 1 + margin, out.shape[0] - 1 + margin], np.float64)
    for (a, b), color in zip(schema.skeleton, line_colors, strict=True):
        if not (shown[a] and shown[b]):
            continue
        visible = _clip_segment(points[a], points[b], lo, hi)
        if visible is None:
            continue
        if hollow[a] or hollow[b]:
            _dashed_line(out, *visible, _as_color(color), thickness, 4 * unit)
        else:
            cv2.line(out, _fixed(visible[0]), _fixed(visible[1]), _as_color(color), thickness,
                     cv2.LINE_AA, _SUBPIXEL)
    shown &= ((points >= lo) & (points <= hi)).all(axis=1)  # dots (and names) on the picture
    radius_fixed = radius << _SUBPIXEL
    for i in np.flatnonzero(shown):
        center, color = _fixed(points[i]), _as_color(point_colors[i])
        if hollow[i]:
            cv2.circle(out, center, radius_fixed, OUTLINE, thickness + 2, cv2.LINE_AA,
                       _SUBPIXEL)
            cv2.circle(out, center, radius_fixed, color, thickness, cv2.LINE_AA, _SUBPIXEL)
        else:
            cv2.circle(out, center, radius_fixed + (1 << _SUBPIXEL), OUTLINE, -1, cv2.LINE_AA,
                       _SUBPIXEL)
            cv2.circle(out, center, radius_fixed, color, -1, cv2.LINE_AA, _SUBPIXEL)
    if names:
        items = [(schema.keypoints[i], points[i], _as_color(point_colors[i]))
                 for i in np.flatnonzero(shown)]
        drawn = np.any(out != base, axis=2)
        _place_names(out, items, radius, min(0.5, max(_MIN_FONT, 0.25 * unit)), drawn)
    return out


def fit_font(text: str, width: int, font_scale: float) -> tuple[str, float]:
    """Shrink the font (down to a minimum), then shorten the text, until it fits ``width``."""
    while font_scale > _MIN_FONT and cv2.getTextSize(text, FONT, font_scale, 1)[0][0] > width:
        font_scale = max(_MIN_FONT, font_scale - 0.05)
    while len(text) > 1 and cv2.getTextSize(text, FONT, font_scale, 1)[0][0] > width:
        text = text[:-2] + "~"
    return text, font_scale


def draw_label(img: np.ndarray, text: str, color: Color = TEXT_COLOR,
               background: Color = BACKGROUND, scale: float = 1.0,
               bottom: bool = False) -> np.ndarray:
    """A copy of ``img`` with a banner (e.g. the source's name) in its top-left corner
    (bottom-left with ``bottom``)."""
    out = np.ascontiguousarray(to_bgr(img)).copy()
    unit = _unit(out, scale)
    pad = max(2, int(round(3 * unit)))
    text, font_scale = fit_font(text, out.shape[1] - 2 * pad, 0.45 * unit)
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, 1)
    y0 = out.shape[0] - th - base - 2 * pad if bottom else 0
    cv2.rectangle(out, (0, y0), (tw + 2 * pad, y0 + th + base + 2 * pad), background, -1)
    cv2.putText(out, text, (pad, y0 + pad + th), FONT, font_scale, color, 1, cv2.LINE_AA)
    return out


def heatmap_overlay(img: np.ndarray, heatmaps: np.ndarray, reduce: str = "max",
                    strength: float = 0.85) -> np.ndarray:
    """``heatmaps`` (K, h, w) reduced over keypoints ('max' or 'sum', clipped to [0, 1]),
    stretched over ``img``, colour-mapped and blended where it is hot on a dimmed copy."""
    maps = np.asarray(heatmaps, np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise PosemixError(f"heatmap_overlay: expected (K, h, w) heatmaps, got {maps.shape}")
    if reduce not in ("max", "sum"):
        raise PosemixError(f"heatmap_overlay: reduce must be 'max' or 'sum', got '{reduce}'")
    base = to_bgr(img)
    combined = maps.max(axis=0) if reduce == "max" else maps.sum(axis=0)
    combined = np.clip(np.nan_to_num(combined), 0.0, 1.0)
    h, w = base.shape[:2]
    heat = cv2.resize(combined, (w, h), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (heat * strength)[..., None]
    dimmed = base.astype(np.float32) * 0.55
    return np.clip(dimmed * (1 - alpha) + colored * alpha, 0, 255).astype(np.uint8)


def legend_strip(items: Sequence[tuple[str, Color, bool]], width: int,
                 scale: float = 1.0) -> np.ndarray:
    """One row of ``(text, colour, hollow)`` entries, each a dot (or ring) and its text."""
    font_scale = 0.45 * scale
    radius = max(3, int(round(5 * scale)))
    height = max(TITLE_HEIGHT, 2 * radius + 8)
    strip = np.full((height, width, 3), BACKGROUND, np.uint8)
    x, y = 6, height // 2
    for text, color, hollow in items:
        cv2.circle(strip, (x + radius, y), radius, color, 2 if hollow else -1, cv2.LINE_AA)
        x += 2 * radius + 5
        (tw, th), _ = cv2.getTextSize(text, FONT, font_scale, 1)
        cv2.putText(strip, text, (x, y + th // 2), FONT, font_scale, TEXT_COLOR, 1, cv2.LINE_AA)
        x += tw + 16
    return strip


def text_block(lines: Sequence[Sequence[tuple[str, Color]]], width: int,
               columns: int | None = None, scale: float = 1.0) -> np.ndarray:
    """Lines of coloured text segments laid out in ``columns`` filled top to bottom
    (by default as many as the widest line allows)."""
    font_scale = 0.45 * scale
    line_h = int(round(TITLE_HEIGHT * scale))
    if columns is None:
        widest = max((sum(cv2.getTextSize(t, FONT, font_scale, 1)[0][0] for t, _ in line)
                      for line in lines), default=0)
        columns = min(max(1, len(lines)), max(1, (width - 6) // (widest + 24)))
    columns = max(1, columns)
    per_column = max(1, -(-len(lines) // columns))
    column_w = width // columns
    block = np.full((per_column * line_h + 8, width, 3), BACKGROUND, np.uint8)
    for n, segments in enumerate(lines):
        x = 6 + (n // per_column) * column_w
        y = (n % per_column) * line_h + (line_h + 10) // 2 + 3
        for text, color in segments:
            cv2.putText(block, text, (x, y), FONT, font_scale, color, 1, cv2.LINE_AA)
            x += cv2.getTextSize(text, FONT, font_scale, 1)[0][0]
    return block


def write_png(path: str | Path, img: np.ndarray) -> Path:
    """Write ``img`` as PNG atomically (a temporary file renamed into place), creating
    folders; a reader never sees a half-written picture."""
    path = Path(path)
    try:
        ok, data = cv2.imencode(".png", np.ascontiguousarray(img))
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"cannot encode an image of shape {np.shape(img)} as PNG for '{path}'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # beside the target (same file system: the rename is atomic), umask-respecting mode
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ImageError(f"cannot write '{path}': {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.tobytes())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ImageError(f"cannot write '{path}': {exc.strerror or exc}") from exc
        raise
    return path
