"""Drawing the demo images: shaded people (per-pixel z-buffer) and textured backgrounds.

Every body part is a capsule or sphere (see :mod:`posemix.demo.body`), so each pixel's
depth and surface normal have a closed form: parts are z-buffered exactly, shading is a
smooth Lambert gradient, and the face marks (eyes, mouth, hair line) are painted on the
head sphere in the head's own frame, so they turn with it. Backgrounds mix a gradient,
low-frequency colour noise and random shapes and lines (some limb-like), so that "a
round-ended bar" alone does not mean "a limb". One sensor-grain field is added to the
background and to the people alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from posemix.demo.body import (
    BOTTOM,
    EYE_DIRECTION,
    FACE_MARKS,
    HEAD,
    LOWER_ARM,
    LOWER_LEG,
    MOUTH_DIRECTION,
    SHOE,
    SKIN,
    TOP,
    UPPER_ARM,
    PosedBody,
)

SIGHT_TOLERANCE_PX = 1.5  # depth slack when deciding whether a keypoint is hidden
_SCLERA_COS, _PUPIL_COS = np.cos(0.25), np.cos(0.13)
_WHITE = np.array([235.0, 240.0, 240.0], dtype=np.float32)


@dataclass(frozen=True)
class Style:
    """What one person looks like: colours (BGR, 0-255) per material and the hair line."""

    colours: np.ndarray  # (8, 3) float32, indexed by material
    hair: np.ndarray  # (3,)
    eyes: np.ndarray  # (3,)
    lips: np.ndarray  # (3,)
    hair_back: float  # head-frame z above which the head is hair (back of the head)
    hair_top: float  # head-frame -y above which the head is hair (crown, fringe)


def sample_style(rng: np.random.Generator) -> Style:
    """Skin tone, clothing (sleeve and leg length vary; never a colour per body side)."""
    tone = rng.uniform(0, 1)
    skin = (1 - tone) * np.array([175.0, 195.0, 235.0]) + tone * np.array([45.0, 70.0, 110.0])
    skin = skin + rng.normal(0, 8, 3)
    top, bottom, shoe = (rng.uniform(15, 240, 3) for _ in range(3))
    sleeves = rng.choice(3)  # 0 long, 1 short, 2 none
    colours = np.empty((8, 3), dtype=np.float32)
    colours[[SKIN, HEAD]] = skin
    colours[TOP] = top
    colours[UPPER_ARM] = top if sleeves < 2 else skin
    colours[LOWER_ARM] = top if sleeves == 0 else skin
    colours[BOTTOM] = bottom
    colours[LOWER_LEG] = bottom if rng.random() < 0.75 else skin
    colours[SHOE] = shoe * 0.5
    hair = rng.choice([[20.0, 20.0, 25.0], [25.0, 45.0, 80.0], [60.0, 130.0, 190.0],
                       [160.0, 160.0, 165.0]]) * rng.uniform(0.8, 1.2)
    return Style(colours=np.clip(colours, 0, 255), hair=np.clip(hair, 0, 255).astype(np.float32),
                 eyes=np.array([40.0, 35.0, 30.0], dtype=np.float32) * rng.uniform(0.5, 1.5),
                 lips=(skin * np.array([0.6, 0.55, 0.9])).astype(np.float32),
                 hair_back=float(rng.uniform(-0.2, 0.3)), hair_top=float(rng.uniform(0.45, 0.8)))


@dataclass(frozen=True)
class Light:
    """One directional light (towards the light, camera frame) plus ambient light."""

    direction: np.ndarray
    ambient: float


def sample_light(rng: np.random.Generator) -> Light:
    """Light from the front, mostly from above, from the left or the right."""
    direction = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-1.0, 0.2), -1.0])
    return Light(direction=direction / np.linalg.norm(direction),
                 ambient=float(rng.uniform(0.35, 0.6)))


@dataclass(frozen=True)
class Sprite:
    """A rendered person on its own canvas whose pixel (0, 0) is at (x0, y0) of the body's
    pixel frame: colours, depth (inf where empty) and which part is in front (-1 empty)."""

    x0: int
    y0: int
    colour: np.ndarray  # (h, w, 3) uint8
    depth: np.ndarray  # (h, w) float32
    part: np.ndarray  # (h, w) int8

    @property
    def mask(self) -> np.ndarray:
        return self.part >= 0


def pixel_of(coord: np.ndarray) -> np.ndarray:
    """The pixel (integer grid, pixel centres at integers) a coordinate falls in."""
    return np.floor(np.asarray(coord) + 0.5).astype(np.int64)


def render_person(body: PosedBody, style: Style, light: Light) -> Sprite:
    """Z-buffer the body's capsules onto a canvas just large enough to hold them."""
    lo = np.min([np.minimum(c.a[:2] - c.ra, c.b[:2] - c.rb) for c in body.parts], axis=0)
    hi = np.max([np.maximum(c.a[:2] + c.ra, c.b[:2] + c.rb) for c in body.parts], axis=0)
    x0, y0 = (int(v) - 1 for v in np.floor(lo))
    width, height = (int(v) + 2 for v in np.ceil(hi) - (x0, y0))
    depth = np.full((height, width), np.inf, dtype=np.float32)
    part = np.full((height, width), -1, dtype=np.int8)
    colour = np.zeros((height, width, 3), dtype=np.float32)
    for index, cap in enumerate(body.parts):
        c0 = np.floor(np.minimum(cap.a[:2] - cap.ra, cap.b[:2] - cap.rb)).astype(int)
        c1 = np.ceil(np.maximum(cap.a[:2] + cap.ra, cap.b[:2] + cap.rb)).astype(int) + 1
        xs = np.arange(c0[0], c1[0], dtype=np.float32)
        ys = np.arange(c0[1], c1[1], dtype=np.float32)
        z, normal = _capsule_surface(cap.a, cap.b, cap.ra, cap.rb, xs, ys)
        window = (slice(c0[1] - y0, c1[1] - y0), slice(c0[0] - x0, c1[0] - x0))
        front = z < depth[window]
        if not front.any():
            continue
        depth[window][front] = z[front]
        part[window][front] = index
        n = normal[front]
        shade = light.ambient + (1 - light.ambient) * np.clip(n @ light.direction, 0, 1)
        base = (_head_colours(n @ body.head_rotation, style) if cap.material == HEAD
                else style.colours[cap.material])
        colour[window][front] = base * shade[:, None].astype(np.float32)
    return Sprite(x0, y0, np.clip(colour + 0.5, 0, 255).astype(np.uint8), depth, part)


def _capsule_surface(a: np.ndarray, b: np.ndarray, ra: float, rb: float, xs: np.ndarray,
                     ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth of the nearest surface (inf outside) and unit normals on the pixel grid.

    The axis point nearest in the image plane stands in for the 3D nearest point, which
    is exact for parts parallel to the image and close enough for foreshortened ones.
    """
    d = (b - a).astype(np.float32)
    px = xs[None, :] - np.float32(a[0])
    py = ys[:, None] - np.float32(a[1])
    length2 = float(d[0] ** 2 + d[1] ** 2)
    if length2 > 1e-9:
        t = np.clip((px * d[0] + py * d[1]) / np.float32(length2), 0, 1)
    else:
        t = np.zeros(np.broadcast_shapes(px.shape, py.shape), dtype=np.float32)
    ox, oy = px - t * d[0], py - t * d[1]
    radius = np.float32(ra) + np.float32(rb - ra) * t
    rise2 = radius * radius - ox * ox - oy * oy
    inside = rise2 > 0
    rise = np.sqrt(np.where(inside, rise2, 0))
    z = np.where(inside, np.float32(a[2]) + t * d[2] - rise, np.inf).astype(np.float32)
    normal = np.stack([ox, oy, -rise], axis=-1) / np.maximum(radius, 1e-6)[..., None]
    return z, normal


def _head_colours(u: np.ndarray, style: Style) -> np.ndarray:
    """Skin, hair, eyes and mouth for head-frame unit normals ``u`` (n, 3)."""
    colours = np.repeat(style.colours[HEAD][None], len(u), axis=0)
    colours[(u[:, 2] > style.hair_back) | (u[:, 1] < -style.hair_top)] = style.hair
    mouth = (np.abs(u[:, 0]) < 0.22) & (np.abs(u[:, 1] - MOUTH_DIRECTION[1]) < 0.05) & (
        u[:, 2] < 0)
    colours[mouth] = style.lips
    for sx in (1.0, -1.0):
        cos = u @ (EYE_DIRECTION * [sx, 1.0, 1.0])
        colours[cos > _SCLERA_COS] = _WHITE
        colours[cos > _PUPIL_COS] = style.eyes
    return colours


def self_occlusion(body: PosedBody, sprite: Sprite, pixels: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Which keypoints the person's own body hides, and which of those nobody would label.

    ``pixels`` (K, 2) are the keypoints' pixels (x, y) in the body's pixel frame. A
    keypoint is hidden when the part in front at its pixel is not one of the keypoint's
    own parts and lies clearly in front of it (see ``PosedBody``). It is also unseen,
    i.e. left unlabelled, when it is a face mark behind its own head (a face turned away)
    or when its pixel falls just off the body (an eye seen edge-on at the head's outline).
    """
    n = len(body.keypoints)
    hidden, unseen = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    cols, rows = pixels[:, 0] - sprite.x0, pixels[:, 1] - sprite.y0
    height, width = sprite.part.shape
    for j in range(n):
        on_canvas = 0 <= rows[j] < height and 0 <= cols[j] < width
        front = int(sprite.part[rows[j], cols[j]]) if on_canvas else -1
        if front < 0:
            hidden[j] = unseen[j] = True
        elif front not in body.keypoint_parts[j]:
            limit = body.keypoints[j, 2] - body.keypoint_depth[j] - SIGHT_TOLERANCE_PX
            hidden[j] = sprite.depth[rows[j], cols[j]] < limit
            unseen[j] = hidden[j] and j in FACE_MARKS and front in body.head_parts
    return hidden, unseen


def sample_grain(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Per-pixel luminance noise (h, w) float32, shared by background and people."""
    return rng.standard_normal((height, width), dtype=np.float32) * np.float32(
        rng.uniform(1.5, 6.0))


def render_background(rng: np.random.Generator, width: int, height: int,
                      grain: np.ndarray) -> np.ndarray:
    """A textured scene without people: gradient, blotches, shapes, lines, grain."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * np.arange(width, dtype=np.float32)[None, :] / width
            + np.sin(angle) * np.arange(height, dtype=np.float32)[:, None] / height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = c0.astype(np.float32) + ramp[..., None] * (c1 - c0).astype(np.float32)
    blotches = rng.normal(0, rng.uniform(10, 45), (int(rng.integers(3, 9)),
                                                   int(rng.integers(3, 9)), 3))
    image += cv2.resize(blotches.astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 15))):
        _draw_shape(rng, image)
    return _add_grain(image, grain)


def _draw_shape(rng: np.random.Generator, image: np.ndarray) -> None:
    """One random filled shape or thick line, in place."""
    height, width = image.shape[:2]
    colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
    kind = rng.choice(4)
    centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    size = int(rng.integers(5, max(6, min(width, height) // 2)))
    if kind == 0:
        corner = (centre[0] + int(rng.integers(-size, size)),
                  centre[1] + int(rng.integers(-size, size)))
        cv2.rectangle(image, centre, corner, colour, -1)
    elif kind == 1:
        axes = (size, int(rng.integers(3, size + 1)))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    elif kind == 2:
        points = rng.integers(-size, size, (int(rng.integers(3, 7)), 2)) + centre
        cv2.fillPoly(image, [points.astype(np.int32)], colour)
    else:  # a line, sometimes as thick as a limb
        end = (centre[0] + int(rng.integers(-2 * size, 2 * size)),
               centre[1] + int(rng.integers(-2 * size, 2 * size)))
        cv2.line(image, centre, end, colour, int(rng.integers(1, 16)), cv2.LINE_AA)


def _add_grain(pixels: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """uint8 pixels (..., 3) plus grain (...) of the same leading shape."""
    return np.clip(pixels.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8)


def paste(image: np.ndarray, owner: np.ndarray, sprite: Sprite, dx: int, dy: int, index: int,
          grain: np.ndarray) -> None:
    """Draw ``sprite`` shifted by (dx, dy) over ``image`` (in place), marking its pixels
    as ``index`` in ``owner``; what falls outside the image is dropped."""
    window = sprite_window(image.shape[:2], sprite, dx, dy)
    if window is None:
        return
    target, source = window
    mask = sprite.mask[source]
    image[target][mask] = _add_grain(sprite.colour[source][mask], grain[target][mask])
    owner[target][mask] = index


def sprite_window(shape: tuple[int, int], sprite: Sprite, dx: int, dy: int
                  ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """The overlap of a shifted sprite with an image of ``shape``: (image, sprite) slices."""
    height, width = sprite.part.shape
    left, top = sprite.x0 + dx, sprite.y0 + dy
    x_lo, y_lo = max(left, 0), max(top, 0)
    x_hi, y_hi = min(left + width, shape[1]), min(top + height, shape[0])
    if x_lo >= x_hi or y_lo >= y_hi:
        return None
    return ((slice(y_lo, y_hi), slice(x_lo, x_hi)),
            (slice(y_lo - top, y_hi - top), slice(x_lo - left, x_hi - left)))
