"""Pipeline throughput: the seed's train pipeline (MSRA targets, 256x192) against the
JPEG-decode floor, in one process, then with a DataLoader of 2 workers.

Three sample sets, each through the same train pipeline (LoadImage, GetBBoxCenterScale,
RandomFlip, RandomHalfBody, RandomBBoxTransform, TopdownAffine, GenerateTarget,
PackPoseInputs), epoch after epoch (new augmentation draws each epoch):

* ``fixtures``: the seed's CombinedDataset (COCO + AIC) on tests/data/fixtures;
* ``small people``: 40-120 px tall boxes in the fixture photos (the crop enlarges them);
* ``large people``: the COCO fixtures upscaled 3x (as from a 12 MP camera), so crops
  shrink the image by 3x and more.

For each set: samples/s with posemix's speed-ups (crop-first decoding, the default for
training) and without them (``LoadImage(crop_first=False)``: full decode, exact OpenCV-4
warp), beside the decode-only rate (read + ``cv2.imdecode`` of each sample's file); the
crops of the two pipelines compared (PSNR) and their targets checked identical. Timed
runs are interleaved round by round and the median is reported. OpenCV runs
single-threaded (``cv2.setNumThreads(1)``) as in a DataLoader worker.

``--profile`` adds a cProfile of each set's crop-first pipeline: the functions that take
the most time of their own, as shares of the whole, to show what bounds the rate.

The ``rtmpose`` set runs RTMPose's body8 train pipeline (stage 1: LoadImage,
GetBBoxCenterScale, RandomFlip, RandomHalfBody, RandomBBoxTransform, TopdownAffine,
mmdet.YOLOXHSVRandomAug, PhotometricDistortion, Albumentation[Blur, MedianBlur,
CoarseDropout], GenerateTarget(SimCCLabel), PackPoseInputs) on the COCO fixtures with
crop-first decoding, against the same pipeline without the colour steps, and prints the
colour steps' share of the whole pipeline's time (target <= 0.25) and each colour step's
mean cost per crop.
``--rtmpose-only`` runs just that set.

Usage: ``.venv/bin/python benchmarks/bench_pipeline.py [--epochs N] [--rounds R]
[--profile] [--rtmpose-only]``
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import FIXTURES, build_train_dataset, combine_config, figure, median_rate

SETS = ("fixtures", "small people", "large people")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def coco_dataset(ann_file: Path, data_root: Path, pipeline: list) -> Any:
    from posemix.registry import DATASETS

    return DATASETS.build(dict(type="CocoDataset", ann_file=str(ann_file),
                               data_root=str(data_root), data_prefix=dict(img=""),
                               pipeline=pipeline, cache=False))


def small_people_file(out: Path, seed: int = 0) -> Path:
    """A COCO file of 4 small people (40-120 px tall) in every JPEG fixture photo."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for j, path in enumerate(sorted(FIXTURES.glob("*/*.jpg")), start=1):
        h, w = cv2.imread(str(path)).shape[:2]
        images.append({"id": j, "file_name": str(path.relative_to(FIXTURES)), "width": w,
                       "height": h})
        for _ in range(4):
            bh = rng.uniform(40, 120)
            bw = bh * rng.uniform(0.35, 0.7)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            kx = x + rng.uniform(0, bw, 17)
            ky = y + rng.uniform(0, bh, 17)
            kpts = np.stack([kx, ky, np.full(17, 2.0)], axis=1).round(1).ravel().tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": j, "category_id": 1,
                                "bbox": [x, y, bw, bh], "keypoints": kpts,
                                "num_keypoints": 17, "area": bw * bh * 0.6, "iscrowd": 0})
    path = out / "small_people.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "person"}]}))
    return path


def large_people_file(out: Path, factor: int = 3) -> Path:
    """The COCO fixtures, photos and annotations, upscaled ``factor`` times."""
    data = json.loads((FIXTURES / "coco" / "test_coco.json").read_text())
    for img in data["images"]:
        photo = cv2.imread(str(FIXTURES / "coco" / img["file_name"]))
        big = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(out / img["file_name"]), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        img["width"], img["height"] = big.shape[1], big.shape[0]
    for ann in data["annotations"]:
        ann["bbox"] = [v * factor for v in ann["bbox"]]
        kpts = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        kpts[:, :2] *= factor
        ann["keypoints"] = kpts.ravel().tolist()
        if "area" in ann:
            ann["area"] *= factor ** 2
        ann.pop("segmentation", None)
    path = out / "large_people.json"
    path.write_text(json.dumps(data))
    return path


def without_speedups(pipeline: list) -> list:
    """The pipeline with posemix's speed-ups switched off (LoadImage decodes in full)."""
    steps = copy.deepcopy(pipeline)
    for step in steps:
        if step.get("type") == "LoadImage":
            step["crop_first"] = False
    return steps


def build_sets(work: Path) -> dict[str, tuple[Any, Any]]:
    """Per set: (dataset with speed-ups, the same without)."""
    cfg = combine_config()
    fast = build_train_dataset(cfg)
    off = combine_config(options=["train_dataloader.dataset.pipeline.0.crop_first=False"])
    sets = {"fixtures": (fast, build_train_dataset(off))}
    pipeline = list(cfg.train_pipeline)
    for name, ann_file, root in (("small people", small_people_file(work), FIXTURES),
                                 ("large people", large_people_file(work), work)):
        sets[name] = (coco_dataset(ann_file, root, pipeline),
                      coco_dataset(ann_file, root, without_speedups(pipeline)))
    return sets


# RTMPose body8 stage 1 (reference section 6.2), at 256x192
RTMPOSE_COLOUR = [
    dict(type="mmdet.YOLOXHSVRandomAug"),
    dict(type="PhotometricDistortion"),
    dict(type="Albumentation", transforms=[
        dict(type="Blur", p=0.1), dict(type="MedianBlur", p=0.1),
        dict(type="CoarseDropout", max_holes=1, max_height=0.4, max_width=0.4, min_holes=1,
             min_height=0.2, min_width=0.2, p=1.0)]),
]


def rtmpose_pipeline(colour: bool) -> list:
    """The body8 train pipeline, with or without its colour steps."""
    codec = dict(type="SimCCLabel", input_size=(192, 256), sigma=(4.9, 5.66),
                 simcc_split_ratio=2.0, normalize=False, use_dark=False)
    return [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
            dict(type="RandomFlip", direction="horizontal"), dict(type="RandomHalfBody"),
            dict(type="RandomBBoxTransform", scale_factor=[0.6, 1.4], rotate_factor=80),
            dict(type="TopdownAffine", input_size=(192, 256)),
            *(copy.deepcopy(RTMPOSE_COLOUR) if colour else []),
            dict(type="GenerateTarget", encoder=codec), dict(type="PackPoseInputs")]


def colour_step_costs(draws: int = 300) -> dict[str, float]:
    """Mean seconds per call of each colour step on a 256x192 crop over ``draws`` draws."""
    from posemix.registry import TRANSFORMS

    crop = np.random.default_rng(0).integers(0, 256, (256, 192, 3), dtype=np.uint8)
    costs = {}
    for cfg in RTMPOSE_COLOUR:
        step = TRANSFORMS.build(copy.deepcopy(cfg))
        start = time.perf_counter()
        for i in range(draws):
            step({"img": crop.copy(), "rng": np.random.default_rng(i)})
        costs[cfg["type"]] = (time.perf_counter() - start) / draws
    return costs


def rtmpose_set(epochs: range, rounds: int) -> None:
    """Print the rate of the body8 pipeline and its colour steps' share of its time."""
    ann_file, root = FIXTURES / "coco" / "test_coco.json", FIXTURES / "coco"
    full = coco_dataset(ann_file, root, rtmpose_pipeline(colour=True))
    base = coco_dataset(ann_file, root, rtmpose_pipeline(colour=False))
    for dataset in (full, base):
        run_samples(dataset, range(1))
    rates = interleaved({"full": lambda: run_samples(full, epochs),
                         "base": lambda: run_samples(base, epochs)}, rounds)
    share = 1 - rates["full"] / rates["base"]  # colour time / the whole pipeline's time
    print(f"# rtmpose: {len(full)} samples x {len(epochs)} epochs per run, median of "
          f"{rounds} runs")
    figure("rtmpose: body8 pipeline without colour steps, crop-first", rates["base"],
           "samples/s")
    figure("rtmpose: body8 pipeline with colour steps, crop-first", rates["full"], "samples/s",
           rates["full"] / rates["base"], "without")
    figure("rtmpose: colour steps' share of the pipeline's time", share, "ratio", share / 0.25,
           "the 0.25 budget", "<= 0.25", share <= 0.25)
    per_sample = 1 / rates["full"]
    costs = colour_step_costs()
    for name, cost in costs.items():
        figure(f"rtmpose: {name} per 256x192 crop", cost * 1e6, "us", cost / per_sample,
               "the pipeline's time per sample")
    total = sum(costs.values()) / per_sample  # steadier than the difference of two rates
    figure("rtmpose: colour steps' share, from their costs per crop", total, "ratio",
           total / 0.25, "the 0.25 budget", "<= 0.25", total <= 0.25)


def run_samples(dataset: Any, epochs: range) -> tuple[int, float]:
    """(samples, seconds) for every index of ``dataset`` in each of ``epochs``."""
    start, n = time.perf_counter(), 0
    for epoch in epochs:
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            dataset[index]
            n += 1
    return n, time.perf_counter() - start


def decode_only(paths: list[str]) -> tuple[int, float]:
    start = time.perf_counter()
    for path in paths:
        data = np.fromfile(path, dtype=np.uint8)
        cv2.imdecode(data, cv2.IMREAD_COLOR)
    return len(paths), time.perf_counter() - start


def sample_paths(dataset: Any, epochs: range) -> list[str]:
    paths = []
    for epoch in epochs:
        dataset.set_epoch(epoch)
        paths += [dataset.get_data_info(i)["img_path"] for i in range(len(dataset))]
    return paths


def agreement(fast: Any, exact: Any, epochs: range) -> tuple[float, float, bool]:
    """(min, median) PSNR of the crops of the two pipelines, and whether every target
    (heatmaps, weights) is identical."""
    values, same = [], True
    for epoch in epochs:
        fast.set_epoch(epoch)
        exact.set_epoch(epoch)
        for index in range(len(fast)):
            a, b = fast[index], exact[index]
            values.append(psnr(a["inputs"].numpy(), b["inputs"].numpy()))
            same &= all(np.array_equal(a["targets"][k].numpy(), b["targets"][k].numpy())
                        for k in a["targets"])
    return min(values), float(np.median(values)), same


def profile_shares(dataset: Any, epochs: range, top: int = 10) -> list[tuple[float, str]]:
    """(share of the total time, function) of the ``top`` functions by their own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run_samples, dataset, epochs)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]  # type: ignore
    return [(own / total, f"{Path(file).name}:{line} {name}" if line else name)
            for (file, line, name), (_, _, own, _, _) in rows]


def loader_rate(dataset: Any, epochs: range, workers: int, batch_size: int
                ) -> tuple[float, float]:
    """Samples/s through a DataLoader with ``workers`` processes, from its first batch on,
    and how many cores the main process and the workers kept busy meanwhile."""
    import psutil
    import torch

    from posemix.transforms import collate

    keys = [(e, i) for e in epochs for i in range(len(dataset))]
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=keys,
                                         num_workers=workers, collate_fn=collate,
                                         worker_init_fn=_single_threaded)
    batches = iter(loader)
    first = next(batches)
    processes = [psutil.Process()] + psutil.Process().children()

    def cpu_seconds() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in processes)

    start, cpu_start, n = time.perf_counter(), cpu_seconds(), 0
    for _ in range(len(loader) - 2):  # the workers live until the last batch is taken
        n += len(next(batches)["meta"])
    wall, busy = time.perf_counter() - start, cpu_seconds() - cpu_start
    for _ in batches:
        pass
    del first
    return n / wall, busy / wall


def _single_threaded(_: int) -> None:
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def interleaved(runs: dict[str, Callable[[], tuple[int, float]]],
                rounds: int) -> dict[str, float]:
    """Median rate of each run, the runs taking turns ``rounds`` times."""
    results: dict[str, list] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(run())
    return {name: median_rate(r) for name, r in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6, help="passes over each set per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed runs")
    parser.add_argument("--loader-epochs", type=int, default=40,
                        help="passes over the fixtures through the 2-worker DataLoader")
    parser.add_argument("--profile", action="store_true",
                        help="also profile each set's crop-first pipeline (cProfile)")
    parser.add_argument("--rtmpose-only", action="store_true",
                        help="run only the RTMPose body8 pipeline set")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)
    epochs = range(args.epochs)
    if args.rtmpose_only:
        rtmpose_set(epochs, args.rounds)
        return
    one_process = {}
    with tempfile.TemporaryDirectory() as tmp:
        sets = build_sets(Path(tmp))
        for name in SETS:
            fast, exact = sets[name]
            for dataset in (fast, exact):  # warm the page cache and the code paths
                run_samples(dataset, range(1))
            paths = sample_paths(fast, epochs)
            rates = interleaved({
                "decode": lambda paths=paths: decode_only(paths),
                "fast": lambda d=fast: run_samples(d, epochs),
                "exact": lambda d=exact: run_samples(d, epochs),
            }, args.rounds)
            one_process[name] = rates["fast"]
            print(f"# {name}: {len(fast)} samples x {args.epochs} epochs per run, "
                  f"median of {args.rounds} runs")
            figure(f"{name}: decode only (read + cv2.imdecode)", rates["decode"], "samples/s",
                   1.0, "decode-only")
            figure(f"{name}: pipeline, speed-ups off", rates["exact"], "samples/s",
                   rates["exact"] / rates["decode"], "decode-only",
                   ">= 0.7" if name == "fixtures" else "", rates["exact"] >= 0.7 * rates["decode"]
                   if name == "fixtures" else None)
            figure(f"{name}: pipeline, crop-first decoding", rates["fast"], "samples/s",
                   rates["fast"] / rates["decode"], "decode-only",
                   ">= 1.3" if name != "large people" else "",
                   rates["fast"] >= 1.3 * rates["decode"] if name != "large people" else None)
            figure(f"{name}: speed-up of crop-first", rates["fast"] / rates["exact"], "x",
                   rates["fast"] / rates["exact"], "speed-ups off")
            low, mid, same = agreement(fast, exact, range(args.epochs, 2 * args.epochs))
            figure(f"{name}: crop PSNR, crop-first vs full decode (min; median {mid:.1f})",
                   low, "dB", low / 28, "28 dB", ">= 28 dB", low >= 28)
            figure(f"{name}: targets identical", float(same), "(1 = yes)", target="identical",
                   ok=same)
            if args.profile:
                print(f"# {name}: cProfile of the crop-first pipeline, own time per function")
                for share, function in profile_shares(fast, epochs):
                    print(f"#   {100 * share:5.1f} %  {function}")
        fixtures = sets["fixtures"][0]
        rate, busy = loader_rate(fixtures, range(args.loader_epochs), workers=2, batch_size=16)
        figure("fixtures: DataLoader, 2 workers, crop-first", rate, "samples/s",
               rate / one_process["fixtures"], "one process", ">= 1.7",
               rate >= 1.7 * one_process["fixtures"])
        figure("fixtures: DataLoader, cores busy (main process + 2 workers)", busy, "cores",
               busy / 2, "the machine's 2 cores")
    rtmpose_set(epochs, args.rounds)


if __name__ == "__main__":
    main()
