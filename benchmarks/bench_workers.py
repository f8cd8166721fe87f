"""Worker memory: does reading a big CombinedDataset through DataLoader workers copy it?

The seed's combine config (CombinedDataset of a COCO-17 and an AIC-14 source, its train
pipeline) on two generated sources of ``--instances`` instances each (``--full``:
150,000), read by a DataLoader with 2 workers for ``--samples`` samples in random
order. Every image is one tiny JPEG (32x24), so that decoding does not hide what the
benchmark is about: the workers' private memory (USS, and PSS) after the first batch
(once the workers have filled their prefetch queue) and at the end. With MMPose's list
of dicts, touching each instance's Python objects copies their pages into every worker
(copy-on-write on reference counts); posemix's tables are a few flat numpy arrays that
the workers only read.

The workers' memory is measured twice: with glibc's default malloc, whose dynamic mmap
threshold lets every worker's heap keep the freed 100 kB-15 MB buffers of the samples
and batches it passes on (hundreds of MB, the same with a dataset of constant tensors:
it is not the annotation index), and with the threshold pinned at 4 MiB in each worker
(``mallopt(M_MMAP_THRESHOLD)`` in ``worker_init_fn``), which returns the batch buffers to
the system and leaves only what the dataset itself holds.

Usage: ``.venv/bin/python benchmarks/bench_workers.py [--full] [--samples N]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from bench_index import generate
from common import build_train_dataset, combine_config, figure, private_memory

from posemix.data import workers

TINY = "tiny.jpg"
SETTLE = 1.0  # seconds: after the first batch, the workers fill their prefetch queue


def make_sources(work: Path, instances: int) -> dict[str, Path]:
    images = max(1, instances * 57 // 150)
    cv2.imwrite(str(work / TINY), np.random.default_rng(0).integers(0, 256, (24, 32, 3),
                                                                     dtype=np.uint8))
    files = {}
    for name, k, seed in (("coco", 17, 1), ("aic", 14, 2)):
        path = work / f"{name}_{instances}.json"
        if not path.exists():
            generate(path, instances, images, seed=seed, k=k, file_name=TINY)
        files[name] = path
    return files


def pin_mmap_threshold(_: int) -> None:
    """DataLoader ``worker_init_fn``: what posemix's training workers do."""
    workers.pin_mmap_threshold()


def worker_memory() -> list[tuple[int, int]]:
    """(USS, PSS) of each DataLoader worker (the children of this process)."""
    import psutil

    return [private_memory(child.pid) for child in psutil.Process().children()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="two 150,000-instance sources")
    parser.add_argument("--instances", type=int, help="instances per source")
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "posemix-bench")
    args = parser.parse_args()
    instances = args.instances or (150_000 if args.full else 30_000)
    work = args.data_dir / "workers"
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("POSEMIX_CACHE_DIR", str(args.data_dir / "cache"))

    files = make_sources(work, instances)
    prefix = "train_dataloader.dataset.datasets"
    cfg = combine_config(fixture_sources=False, options=[
        f"{prefix}.{i}.{key}={value}" for i, name in enumerate(("coco", "aic"))
        for key, value in (("data_root", work), ("ann_file", files[name].name),
                           ("data_prefix.img", ""))])
    dataset = build_train_dataset(cfg)
    print(f"# CombinedDataset: {len(dataset):,} samples from {dataset.original_lens} "
          f"instances; {args.samples:,} samples read by 2 workers, batch {args.batch_size}")
    keys = [(0, int(i)) for i in
            np.random.default_rng(0).permutation(len(dataset))[:args.samples]]
    for label, init in (("glibc default malloc", None),
                        ("mmap threshold pinned", pin_mmap_threshold)):
        read_through_workers(dataset, keys, args.batch_size, label, init)


def read_through_workers(dataset: object, keys: list, batch_size: int, label: str,
                         worker_init_fn: object) -> None:
    import torch

    from posemix.transforms import collate

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=keys,
                                         num_workers=2, collate_fn=collate,
                                         persistent_workers=True,
                                         worker_init_fn=worker_init_fn)
    batches = iter(loader)
    next(batches)
    time.sleep(SETTLE)  # the workers fill their prefetch queue, then wait
    first = worker_memory()
    start, n = time.perf_counter(), 0
    for batch in batches:
        n += len(batch["meta"])
    seconds = time.perf_counter() - start
    last = worker_memory()
    figure(f"{label}: samples read after the first batch", n / seconds, "samples/s")
    for w, ((uss0, pss0), (uss1, pss1)) in enumerate(zip(first, last, strict=True)):
        figure(f"{label}: worker {w} USS at the end", uss1 / 2**20, "MiB", uss1 / uss0,
               f"first batch ({uss0 / 2**20:.1f} MiB)", "<= 1.1", uss1 <= 1.1 * uss0)
        figure(f"{label}: worker {w} PSS at the end", pss1 / 2**20, "MiB", pss1 / pss0,
               f"first batch ({pss0 / 2**20:.1f} MiB)", "<= 1.1", pss1 <= 1.1 * pss0)
    del batches, loader

if __name__ == "__main__":
    main()
