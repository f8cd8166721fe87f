"""Write the demo datasets: a COCO-like and an AIC-like set of rendered people.

Each image is drawn from its own random generator seeded by (seed, dataset, split,
index), so the output does not depend on how many processes draw it. Everything is
written into a hidden sibling folder that is renamed into place at the end, with
``manifest.json`` written last: a folder that has a manifest is complete, and an
interrupted run leaves nothing that looks like data.

Labels follow what annotators of the real sets do: a keypoint outside the image (or on
its one-pixel border) is not labelled; one hidden behind a nearer person or the
person's own body is labelled occluded; an eye, nose or ear turned away behind the
person's own head is not labelled (as in COCO for faces seen from behind).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from posemix.demo.body import (
    AIC_INDICES,
    COCO_INDICES,
    COCO_NAMES,
    PosedBody,
    pose_body,
    sample_pose,
    sample_shape,
    sample_view,
)
from posemix.demo.render import (
    Sprite,
    paste,
    pixel_of,
    render_background,
    render_person,
    sample_grain,
    sample_light,
    sample_style,
    self_occlusion,
    sprite_window,
)
from posemix.errors import PosemixError
from posemix.keypoints import load_schema

DATA_VERSION = 1
DATASETS = ("coco-like", "aic-like")
SPLITS = ("train", "val")
MANIFEST = "manifest.json"
IMAGE_SIZES = ((320, 240), (384, 288), (448, 336), (480, 360), (240, 320), (288, 384),
               (360, 360))
PEOPLE_PER_IMAGE, PEOPLE_WEIGHTS = (1, 2, 3, 4), (0.35, 0.3, 0.2, 0.15)
JPEG_QUALITY = 90
MIN_IN_IMAGE = 0.6  # of a person's pixels when placed
MIN_UNCOVERED = 0.6  # of a person's pixels once nearer people are drawn
PLACEMENT_TRIES = 12
VAL_ID_OFFSET = 1_000_000  # COCO-like val image ids start here (train ids from 1)


@dataclass(frozen=True)
class ScenePerson:
    """One drawn person and its labels in the 19-joint layout (COCO visibility codes)."""

    keypoints: np.ndarray  # (19, 2) float64, image pixels, rounded to 0.01
    visibility: np.ndarray  # (19,) uint8: 0 not labelled, 1 occluded, 2 visible
    self_hidden: np.ndarray  # (19,) bool: hidden by the person's own body
    box: np.ndarray  # (4,) int64 first and last column and row of its pixels in the image
    area: int  # pixels of the person left visible in the image
    body: PosedBody
    sprite: Sprite
    offset: tuple[int, int]  # sprite shift into the image


@dataclass(frozen=True)
class Scene:
    """An image, the same image without people, and who owns each pixel (-1 nobody;
    people are drawn in list order, so a higher index is nearer the camera)."""

    image: np.ndarray
    background: np.ndarray
    owner: np.ndarray
    people: list[ScenePerson]


def image_rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    """The generator for one image: independent of every other image and of the order."""
    return np.random.default_rng([seed, DATASETS.index(dataset), SPLITS.index(split), index])


def make_scene(rng: np.random.Generator) -> Scene:
    """Draw 1-4 people (smaller ones first, i.e. further away) over a background."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    light = sample_light(rng)
    grain = sample_grain(rng, width, height)
    background = render_background(rng, width, height, grain)
    image, owner = background.copy(), np.full((height, width), -1, dtype=np.int8)
    count = PEOPLE_PER_IMAGE[rng.choice(len(PEOPLE_PER_IMAGE), p=PEOPLE_WEIGHTS)]
    lo, hi = (0.45, 0.95) if count == 1 else (0.35, 0.85)
    heights = sorted(rng.uniform(40, 80) if rng.random() < 0.05 else
                     rng.uniform(lo, hi) * height for _ in range(count))
    placed: list[tuple[PosedBody, Sprite, int, int]] = []
    pixels: list[int] = []  # each placed person's pixel count (all of it)
    for target in heights:
        shape = sample_shape(rng)
        body = pose_body(shape, sample_pose(rng), sample_view(rng), target / shape.standing_height)
        sprite = render_person(body, sample_style(rng), light)
        offset = _place(rng, sprite, owner, pixels)
        if offset is None:
            continue
        paste(image, owner, sprite, *offset, len(placed), grain)
        placed.append((body, sprite, *offset))
        pixels.append(int(sprite.mask.sum()))
    people = [_label(k, body, sprite, (dx, dy), owner)
              for k, (body, sprite, dx, dy) in enumerate(placed)]
    return Scene(image=image, background=background, owner=owner, people=people)


def _place(rng: np.random.Generator, sprite: Sprite, owner: np.ndarray, pixels: list[int]
           ) -> tuple[int, int] | None:
    """A shift that keeps most of the person in the image and leaves every person
    already drawn mostly uncovered; None when no try works (the first person is always
    placed, at its best try)."""
    height, width = owner.shape
    sh, sw = sprite.part.shape
    total = int(sprite.mask.sum())
    visible = np.bincount(owner[owner >= 0], minlength=len(pixels))
    best, best_inside = None, -1.0
    for _ in range(PLACEMENT_TRIES):
        left = rng.uniform(-0.2 * sw, max(width - 0.8 * sw, -0.2 * sw + 1))
        top = rng.uniform(-0.1 * sh, max(height - 0.75 * sh, -0.1 * sh + 1))
        dx, dy = int(left) - sprite.x0, int(top) - sprite.y0
        window = sprite_window((height, width), sprite, dx, dy)
        if window is None:
            continue
        under = owner[window[0]][sprite.mask[window[1]]]  # who is drawn where it would go
        inside = len(under) / max(total, 1)
        if inside > best_inside:
            best, best_inside = (dx, dy), inside
        if inside < MIN_IN_IMAGE:
            continue
        lost = np.bincount(under[under >= 0], minlength=len(pixels))
        if all(visible[i] - lost[i] >= MIN_UNCOVERED * pixels[i] for i in range(len(pixels))):
            return dx, dy
    return best if not pixels else None


def _label(k: int, body: PosedBody, sprite: Sprite, offset: tuple[int, int],
           owner: np.ndarray) -> ScenePerson:
    """Keypoint labels, box and area of person ``k`` once the whole scene is drawn."""
    height, width = owner.shape
    keypoints = np.round(body.keypoints[:, :2] + offset, 2)
    pix = pixel_of(keypoints)
    inside = ((pix[:, 0] >= 1) & (pix[:, 0] <= width - 2) & (pix[:, 1] >= 1)
              & (pix[:, 1] <= height - 2))
    rows, cols = np.clip(pix[:, 1], 0, height - 1), np.clip(pix[:, 0], 0, width - 1)
    covered = owner[rows, cols] > k
    hidden, unseen = self_occlusion(body, sprite, pix - offset)
    visibility = np.where(hidden | covered, 1, 2).astype(np.uint8)
    visibility[~inside | unseen] = 0
    keypoints[visibility == 0] = 0
    target, source = sprite_window((height, width), sprite, *offset)  # placed: never None
    ys, xs = np.nonzero(sprite.mask[source])
    box = np.array([xs.min() + target[1].start, ys.min() + target[0].start,
                    xs.max() + target[1].start, ys.max() + target[0].start], dtype=np.int64)
    return ScenePerson(keypoints=keypoints, visibility=visibility, self_hidden=hidden, box=box,
                       area=int((owner == k).sum()), body=body, sprite=sprite, offset=offset)


def aic_image_id(seed: int, split: str, index: int) -> str:
    """A 40-hex-digit id like AI Challenger's (which are SHA-1 hashes)."""
    return hashlib.sha1(f"posemix-demo:{seed}:{split}:{index}".encode()).hexdigest()


def coco_image_id(split: str, index: int) -> int:
    return (VAL_ID_OFFSET if split == "val" else 0) + index + 1


def image_path(root: Path, seed: int, dataset: str, split: str, index: int) -> Path:
    """Where an image goes under the output folder ``root``."""
    stem = (f"{coco_image_id(split, index):012d}" if dataset == "coco-like"
            else aic_image_id(seed, split, index))
    return root / dataset / "images" / f"{stem}.jpg"


def _produce(task: tuple[str, int, str, str, int]) -> dict[str, Any]:
    """Worker: draw one image, write its JPEG, return its labels (small and picklable)."""
    root, seed, dataset, split, index = task
    scene = make_scene(image_rng(seed, dataset, split, index))
    ok, data = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise PosemixError(f"OpenCV could not encode demo image {dataset}/{split}/{index}")
    image_path(Path(root), seed, dataset, split, index).write_bytes(data.tobytes())
    height, width = scene.image.shape[:2]
    return {"width": width, "height": height,
            "people": [(p.keypoints, p.visibility, p.box, p.area) for p in scene.people]}


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _records(tasks: list[tuple[str, int, str, str, int]], workers: int, progress: bool
             ) -> Iterator[dict[str, Any]]:
    """The labels of every task, in task order, drawn by ``workers`` processes."""
    bar = dict(total=len(tasks), desc="posemix demo-data", unit="img", disable=not progress)
    if workers <= 1:
        yield from tqdm(map(_produce, tasks), **bar)
        return
    # Spawned, not forked: a fork of a process whose OpenCV or PyTorch thread pools are
    # running can deadlock in the child.
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        yield from tqdm(pool.imap(_produce, tasks, chunksize=8), **bar)


def _coco_file(split: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A COCO person-keypoints file for one split."""
    schema = load_schema("coco")
    images, annotations = [], []
    for index, record in enumerate(records):
        image_id = coco_image_id(split, index)
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg",
                       "width": record["width"], "height": record["height"]})
        for keypoints, visibility, box, area in record["people"]:
            xyv = np.concatenate([keypoints[COCO_INDICES], visibility[COCO_INDICES, None]], 1)
            # Pixel centres sit at integer coordinates: pixel c spans [c - 0.5, c + 0.5].
            x1, y1 = max(box[0] - 0.5, 0.0), max(box[1] - 0.5, 0.0)
            x2 = min(box[2] + 0.5, record["width"])
            y2 = min(box[3] + 0.5, record["height"])
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": area, "iscrowd": 0,
                "num_keypoints": int((visibility[COCO_INDICES] > 0).sum()),
                "keypoints": [float(v) if i % 3 < 2 else int(v)
                              for i, v in enumerate(xyv.reshape(-1))]})
    return {
        "info": {"description": f"posemix demo data, COCO-like {split} split",
                 "version": str(DATA_VERSION)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person",
                        "keypoints": list(COCO_NAMES),
                        "skeleton": [[a + 1, b + 1] for a, b in schema.skeleton]}],
    }


def _aic_file(seed: int, split: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An AI Challenger keypoint file (the original release format) for one split."""
    native_code = np.array([3, 2, 1])  # COCO v 0, 1, 2 -> AIC 3 (none), 2 (occluded), 1
    entries = []
    for index, record in enumerate(records):
        keypoint_annotations, human_annotations = {}, {}
        for n, (keypoints, visibility, box, _) in enumerate(record["people"], start=1):
            xy = pixel_of(keypoints[AIC_INDICES])
            code = native_code[visibility[AIC_INDICES]]
            keypoint_annotations[f"human{n}"] = [
                int(v) for v in np.concatenate([xy, code[:, None]], 1).reshape(-1)]
            human_annotations[f"human{n}"] = [int(v) for v in box]
        entries.append({"image_id": aic_image_id(seed, split, index),
                        "keypoint_annotations": keypoint_annotations,
                        "human_annotations": human_annotations})
    return entries


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of complete demo data in ``out_dir``, or None if there is none."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PosemixError(f"{path}: unreadable demo-data manifest ({exc})") from None
    return manifest if isinstance(manifest, dict) else None


def generate_demo_data(out_dir: str | os.PathLike, seed: int = 0,
                       num_images: int | Mapping[str, int] = 2000,
                       num_val: int | None = None, workers: int | None = None,
                       progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Write ``coco-like/`` and ``aic-like/`` under ``out_dir``; return the manifest.

    ``num_images`` train images per dataset, one number for both or one per dataset
    (``{'coco-like': 500, 'aic-like': 2000}``: the demo's scarce target beside a larger
    auxiliary set), and ``num_val`` (default a tenth of the train images, at least 1) val
    images. Image i of a split is the same whatever the counts. Data already there with
    the same seed, counts and version is kept (``generated`` False) unless ``force``. The
    returned dict is the manifest plus ``root``, ``generated`` and ``seconds``.
    """
    out = Path(out_dir)
    counts = _split_counts(num_images, num_val)
    wanted = {"version": DATA_VERSION, "seed": seed, "images": counts}
    existing = read_manifest(out)
    if existing is not None and not force and all(existing.get(k) == v
                                                  for k, v in wanted.items()):
        return {**existing, "root": str(out), "generated": False, "seconds": 0.0}
    if existing is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PosemixError(f"{out} exists and is not posemix demo data (no {MANIFEST}); "
                           "choose another --out or remove it")
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        manifest = _write_all(staging, seed, counts, workers, progress)
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {**manifest, "root": str(out), "generated": True,
            "seconds": round(time.perf_counter() - start, 2)}


def _split_counts(num_images: int | Mapping[str, int], num_val: int | None
                  ) -> dict[str, dict[str, int]]:
    """Images per dataset and split, checked."""
    train = (dict(num_images) if isinstance(num_images, Mapping)
             else dict.fromkeys(DATASETS, num_images))
    if set(train) != set(DATASETS):
        raise PosemixError(f"demo-data needs train image counts for exactly {list(DATASETS)}, "
                           f"got {sorted(train)}")
    counts = {d: {"train": train[d], "val": max(1, train[d] // 10) if num_val is None
                  else num_val} for d in DATASETS}
    for d, split in counts.items():
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in split.values()):
            raise PosemixError(f"demo-data needs at least 1 image per split, got {d} "
                               f"train={split['train']} val={split['val']}")
    return counts


def _write_all(root: Path, seed: int, counts: dict[str, dict[str, int]], workers: int | None,
               progress: bool) -> dict[str, Any]:
    for dataset in DATASETS:
        (root / dataset / "images").mkdir(parents=True)
        (root / dataset / "annotations").mkdir()
    tasks = [(str(root), seed, dataset, split, index)
             for dataset in DATASETS for split in SPLITS
             for index in range(counts[dataset][split])]
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    records = list(_records(tasks, workers, progress))
    instances: dict[str, dict[str, int]] = {dataset: {} for dataset in DATASETS}
    position = 0
    for dataset in DATASETS:
        for split in SPLITS:
            chunk = records[position:position + counts[dataset][split]]
            position += counts[dataset][split]
            content = (_coco_file(split, chunk) if dataset == "coco-like"
                       else _aic_file(seed, split, chunk))
            path = root / dataset / "annotations" / f"{split}.json"
            path.write_text(json.dumps(content, separators=(",", ":")))
            instances[dataset][split] = sum(len(r["people"]) for r in chunk)
    manifest = {
        "name": "posemix demo data", "version": DATA_VERSION, "seed": seed,
        "images": counts, "instances": instances,
        "formats": {"coco-like": "COCO person keypoints (17)",
                    "aic-like": "AI Challenger keypoints, original release format (14)"},
        "opencv": cv2.__version__,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename the finished folder to ``out``, replacing older demo data or an empty folder."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
