"""Annotation index: posemix's columnar tables against the JSON parse floor and against
MMPose's list of dicts.

Generates a COCO-layout person-keypoints file (polygon segmentations, areas, iscrowd with
RLE for crowds, 17 keypoints; ``--full``: 150,000 instances over 57,000 images, shaped like
person_keypoints_train2017.json), then measures side by side:

(a) the parse floor: ``orjson.loads`` of the file's bytes;
(b) posemix building its table from the file, cold (``read_coco``);
(c) posemix loading the same table from its on-disk cache, warm (key + load);
(d) the list-of-dicts approach (reference 5.3/5.7): ``json.load``, one dict with numpy
    arrays per instance, each pickled into one shared buffer;
plus the memory a cache-loaded table holds (RSS after gc, in a fresh process) and the
cost of the cache key's head+tail hash against a full-file hash.

Usage: ``.venv/bin/python benchmarks/bench_index.py [--full] [--instances N --images M]``
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import figure, rss_bytes, timed

QUICK = (30_000, 11_400)
FULL = (150_000, 57_000)
K = 17


def generate(path: Path, instances: int, images: int, seed: int = 0, k: int = K,
             file_name: str | None = None) -> None:
    """Write a COCO person-keypoints file of ``instances`` people over ``images`` images,
    with ``k`` keypoints; ``file_name`` names every image's file (default: COCO's names)."""
    import orjson

    rng = np.random.default_rng(seed)
    widths = rng.choice([640, 640, 500, 427, 612], images)
    heights = rng.choice([480, 427, 640, 375, 333], images)
    licenses = rng.integers(1, 8, images)
    image_records = [
        {"license": int(lic), "file_name": file_name or f"{i:012d}.jpg",
         "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
         "height": int(h), "width": int(w), "date_captured": "2013-11-14 16:28:13",
         "flickr_url": f"http://farm4.staticflickr.com/3153/{i}_e5a07b3d7c_z.jpg", "id": int(i)}
        for i, (w, h, lic) in enumerate(zip(widths, heights, licenses, strict=True), start=1)
    ]
    owner = np.sort(rng.integers(0, images, instances))
    w_img, h_img = widths[owner], heights[owner]
    bw = w_img * rng.uniform(0.03, 0.6, instances)
    bh = np.minimum(bw * rng.uniform(1.2, 2.6, instances), h_img - 1)
    x = rng.uniform(0, 1, instances) * (w_img - bw)
    y = rng.uniform(0, 1, instances) * (h_img - bh)
    # keypoints: v 0 / 1 / 2; unlabelled ones are (0, 0, 0) as in COCO
    v = rng.choice([0, 1, 2], (instances, k), p=[0.35, 0.1, 0.55])
    kx = np.floor(x[:, None] + rng.uniform(0, 1, (instances, k)) * bw[:, None])
    ky = np.floor(y[:, None] + rng.uniform(0, 1, (instances, k)) * bh[:, None])
    v[:, 0] = 2  # every instance labels at least one keypoint
    kpts = np.stack([np.where(v > 0, kx, 0), np.where(v > 0, ky, 0), v], axis=-1)
    kpts = kpts.reshape(instances, 3 * k).astype(np.int64).tolist()
    # polygons: 15-60 points around the box, two decimals (COCO's typical outline)
    points = rng.integers(15, 60, instances)
    starts = np.concatenate([[0], np.cumsum(points)])
    u = rng.uniform(0, 1, (starts[-1], 2))
    poly_x = np.round(x.repeat(points) + u[:, 0] * bw.repeat(points), 2)
    poly_y = np.round(y.repeat(points) + u[:, 1] * bh.repeat(points), 2)
    flat = np.stack([poly_x, poly_y], axis=1).ravel().tolist()
    crowd = rng.uniform(0, 1, instances) < 0.01
    area = np.round(bw * bh * rng.uniform(0.4, 0.7, instances), 4).tolist()
    boxes = np.round(np.stack([x, y, bw, bh], axis=1), 2).tolist()
    annotations = []
    for j in range(instances):
        if crowd[j]:
            segmentation = {"counts": rng.integers(0, 500, 80).tolist(),
                            "size": [int(h_img[j]), int(w_img[j])]}
        else:
            segmentation = [flat[2 * starts[j]:2 * starts[j + 1]]]
        annotations.append({
            "segmentation": segmentation, "num_keypoints": int((v[j] > 0).sum()),
            "area": area[j], "iscrowd": int(crowd[j]), "keypoints": kpts[j],
            "image_id": int(owner[j] + 1), "bbox": boxes[j], "category_id": 1,
            "id": int(183_000 + j),
        })
    data = {"info": {"description": "posemix benchmark data"}, "licenses": [],
            "images": image_records, "annotations": annotations,
            "categories": [{"supercategory": "person", "id": 1, "name": "person",
                            "keypoints": [f"k{i}" for i in range(k)], "skeleton": []}]}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data))
    os.replace(tmp, path)


def list_of_dicts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MMPose's way: json → one dict per kept instance (reference 5.3) → pickle each into
    one buffer (5.7). Returns (buffer, addresses)."""
    with open(path) as f:
        data = json.load(f)
    images = {img["id"]: img for img in data["images"]}
    by_image: dict[int, list] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    infos = []
    for image_id in images:
        img = images[image_id]
        w, h = img["width"], img["height"]
        for ann in by_image.get(image_id, []):
            if "bbox" not in ann or "keypoints" not in ann:
                continue
            x, y, bw, bh = ann["bbox"]
            x1, y1 = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
            x2, y2 = np.clip(x + bw, 0, w - 1), np.clip(y + bh, 0, h - 1)
            raw = np.array(ann["keypoints"], dtype=np.float32).reshape(1, -1, 3)
            info = {
                "img_id": ann["image_id"], "img_path": "train2017/" + img["file_name"],
                "bbox": np.array([x1, y1, x2, y2], dtype=np.float32).reshape(1, 4),
                "bbox_score": np.ones(1, dtype=np.float32),
                "num_keypoints": ann["num_keypoints"], "keypoints": raw[..., :2],
                "keypoints_visible": np.minimum(1, raw[..., 2]),
                "iscrowd": ann.get("iscrowd", 0), "segmentation": ann.get("segmentation"),
                "area": np.array(ann["area"], dtype=np.float32), "id": ann["id"],
                "category_id": np.array(ann["category_id"]),
                "raw_ann_info": copy.deepcopy(ann),
            }
            if (info["iscrowd"] or info["num_keypoints"] == 0 or x2 <= x1 or y2 <= y1
                    or raw[..., :2].max() <= 0):
                continue
            infos.append(info)
    del data, images, by_image
    chunks = [np.frombuffer(pickle.dumps(info, protocol=4), dtype=np.uint8) for info in infos]
    addresses = np.cumsum([len(c) for c in chunks])
    buffer = np.concatenate(chunks)
    del infos, chunks
    gc.collect()
    return buffer, addresses


def parse_floor(path: Path, repeat: int) -> float:
    """Seconds ``orjson.loads`` takes on the file's bytes (already in memory)."""
    import orjson

    data = path.read_bytes()
    return timed(lambda: orjson.loads(data), repeat)[0]


def table_memory(cache_file: str) -> None:
    """(In a fresh process) print the RSS growth of loading the cached table, per instance."""
    from posemix.data.table import InstanceTable

    gc.collect()
    before = rss_bytes()
    table = InstanceTable.load(cache_file)
    gc.collect()
    print(json.dumps({"bytes": rss_bytes() - before, "instances": len(table),
                      "nbytes": table.nbytes}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="150,000 instances, 57,000 images")
    parser.add_argument("--instances", type=int)
    parser.add_argument("--images", type=int)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the fast figures")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "posemix-bench")
    parser.add_argument("--table-memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table_memory:
        table_memory(args.table_memory)
        return
    instances, images = FULL if args.full else QUICK
    instances, images = args.instances or instances, args.images or images
    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["POSEMIX_CACHE_DIR"] = str(args.data_dir / "cache")

    from posemix.data.cache import cache_path, cached_table, file_fingerprint
    from posemix.data.readers import read_coco

    path = args.data_dir / f"person_keypoints_{instances}x{images}.json"
    if not path.exists():
        seconds, _ = timed(lambda: generate(path, instances, images))
        print(f"# generated {path} in {seconds:.1f} s")
    print(f"# {path.name}: {path.stat().st_size / 1e6:.0f} MB, {instances:,} instances, "
          f"{images:,} images; python {sys.version.split()[0]}")

    floor = parse_floor(path, args.repeat)
    figure("(a) parse floor, orjson.loads of the bytes", floor, "s", 1.0, "floor")
    cold, table = timed(lambda: read_coco(path, num_keypoints=K), args.repeat)
    n = len(table)
    figure("(b) posemix cold build (read_coco -> InstanceTable)", cold, "s", cold / floor,
           "floor", "<= 1.5", cold <= 1.5 * floor)

    options = {"benchmark": "bench_index", "num_keypoints": K}
    for old in (args.data_dir / "cache").glob("*"):
        old.unlink()
    write, _ = timed(lambda: cached_table(path, lambda: table, options))
    figure("    first run: cold build + cache write", cold + write, "s",
           (cold + write) / floor, "floor")
    warm, cached = timed(lambda: cached_table(path, lambda: read_coco(path, K), options),
                         args.repeat)
    assert np.array_equal(cached.keypoints, table.keypoints)
    figure("(c) posemix warm load (cache key + load)", warm, "s", warm / floor, "floor",
           "<= 0.1", warm <= 0.1 * floor)
    edges, _ = timed(lambda: file_fingerprint(path), args.repeat)
    full, _ = timed(lambda: file_fingerprint(path, full_hash=True), args.repeat)
    figure("    cache key, head+tail hash", edges * 1e3, "ms", edges / floor, "floor")
    figure("    cache key, full-file hash (not used)", full * 1e3, "ms", full / floor, "floor")

    dicts, (buffer, addresses) = timed(lambda: list_of_dicts(path))
    assert len(addresses) == n, (len(addresses), n)
    figure("(d) list of dicts + per-instance pickle (MMPose)", dicts, "s", dicts / cold,
           "posemix cold", ">= 5", dicts >= 5 * cold)
    figure("    pickled buffer, per instance", (buffer.nbytes + addresses.nbytes) / n, "B",
           (buffer.nbytes + addresses.nbytes) / table.nbytes, "posemix table")

    cache_file = str(cache_path(path, options))
    out = subprocess.run([sys.executable, __file__, "--table-memory", cache_file],
                         check=True, capture_output=True, text=True).stdout
    memory = json.loads(out.splitlines()[-1])
    per_instance = memory["bytes"] / memory["instances"]
    figure("memory of the cache-loaded table (RSS after gc), per instance", per_instance, "B",
           per_instance / 250, "target", "<= 250 B", per_instance <= 250)
    figure("    arrays alone (table.nbytes), per instance",
           memory["nbytes"] / memory["instances"], "B")


if __name__ == "__main__":
    main()
