"""Training step: the seed's HRNet-W32 256x192 (19 outputs), forward + backward + Adam step.

CPU (always): ms per iteration at ``--batch`` (8) with the default NCHW layout and with
channels_last (model and inputs), same random weights and inputs.
GPU (``--device cuda``): images/s at ``--gpu-batch`` (64) in fp32 NCHW against bf16
autocast + channels_last, and how many CPU cores running the posemix train pipeline
(one process per core, at the one-process crop-first rate on the fixtures, measured here
or given with ``--pipeline-rate``) keep that GPU fed.

Usage: ``.venv/bin/python benchmarks/bench_step.py [--iters N] [--device cuda]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings

import torch
from common import build_train_dataset, combine_config, figure

HEATMAP = (64, 48)


def build_model(device: str, channels_last: bool) -> torch.nn.Module:
    from posemix.registry import MODELS

    cfg = combine_config().model
    cfg.backbone.init_cfg = None  # random weights: no download
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights for 19 keypoints
        model = MODELS.build(cfg).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def step_seconds(device: str, batch: int, iters: int, channels_last: bool,
                 bf16: bool = False) -> float:
    """Median seconds of one forward + backward + optimizer step."""
    model = build_model(device, channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (batch, 3, 256, 192), dtype=torch.uint8,
                           generator=generator).to(device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    k = combine_config().model.head.out_channels
    targets = {"heatmaps": torch.rand((batch, k, *HEATMAP), generator=generator).to(device),
               "keypoint_weights": torch.ones((batch, k)).to(device)}
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())
    times = []
    for i in range(iters + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            losses = model.loss(inputs, targets)
            loss = sum(v for key, v in losses.items() if key.startswith("loss"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def pipeline_rate(epochs: int = 8) -> float:
    """One-process samples/s of the seed's train pipeline (crop-first) on the fixtures."""
    import cv2

    cv2.setNumThreads(1)
    dataset = build_train_dataset(combine_config())
    dataset[0]
    start, n = time.perf_counter(), 0
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            dataset[index]
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--gpu-iters", type=int, default=20)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--pipeline-rate", type=float,
                        help="one-core pipeline samples/s (default: measured on the fixtures)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    plain = step_seconds("cpu", args.batch, args.iters, channels_last=False)
    figure(f"CPU step, HRNet-W32 256x192, batch {args.batch}, NCHW", plain * 1e3, "ms/iter",
           1.0, "NCHW")
    last = step_seconds("cpu", args.batch, args.iters, channels_last=True)
    figure(f"CPU step, HRNet-W32 256x192, batch {args.batch}, channels_last", last * 1e3,
           "ms/iter", last / plain, "NCHW")
    if args.device != "cuda":
        return
    print(f"# {torch.cuda.get_device_name()}")
    fp32 = args.gpu_batch / step_seconds("cuda", args.gpu_batch, args.gpu_iters, False)
    figure(f"GPU step, batch {args.gpu_batch}, fp32 NCHW", fp32, "images/s", 1.0, "fp32")
    fast = args.gpu_batch / step_seconds("cuda", args.gpu_batch, args.gpu_iters, True,
                                         bf16=True)
    figure(f"GPU step, batch {args.gpu_batch}, bf16 autocast + channels_last", fast,
           "images/s", fast / fp32, "fp32")
    rate = args.pipeline_rate or pipeline_rate()
    figure("posemix train pipeline, one core (fixtures, crop-first)", rate, "samples/s")
    figure("CPU cores of pipeline to feed the GPU, fp32", fp32 / rate, "cores")
    figure("CPU cores of pipeline to feed the GPU, bf16 + channels_last", fast / rate,
           "cores", fast / fp32, "fp32")


if __name__ == "__main__":
    main()
