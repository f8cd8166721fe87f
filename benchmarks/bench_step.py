"""Training step: forward + backward + optimizer step of a pose model on random inputs.

``--model hrnet-w32`` (default): the seed's HRNet-W32 256x192 (19 outputs). CPU (always):
ms per iteration at ``--batch`` (8) with the default NCHW layout and with channels_last
(model and inputs), same random weights and inputs.
GPU (``--device cuda``): images/s at ``--gpu-batch`` (64) in fp32 NCHW against bf16
autocast + channels_last, and how many CPU cores running the posemix train pipeline
(one process per core, at the one-process crop-first rate on the fixtures, measured here
or given with ``--pipeline-rate``) keep that GPU fed.

``--model rtmpose-t``: RTMPose-t 256x192 (body8 config, 17 outputs, BatchNorm, AdamW) at
``--batch`` (32) in NCHW and channels_last, beside HRNet-W32 in channels_last (the layout
``posemix train`` uses) at the same batch, against MMPose's 836 ms for the same step on
this kind of machine (2 threads).

Usage: ``.venv/bin/python benchmarks/bench_step.py [--model rtmpose-t] [--iters N]
[--device cuda]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from typing import Any

import torch
from common import REPO, build_train_dataset, combine_config, figure

HEATMAP = (64, 48)
MMPOSE_RTMPOSE_T_MS = 836  # MMPose 1.3.2, batch 32, random inputs, BN, 2 CPU threads
NAMES = {"hrnet-w32": "HRNet-W32", "rtmpose-t": "RTMPose-t"}
RTMPOSE_T_CONFIG = (REPO / "configs/body_2d_keypoint/rtmpose/body8/"
                    "rtmpose-t_8xb256-420e_body8-256x192.py")


def rtmpose_t_config() -> Any:
    """The model of the shipped rtmpose-t_8xb256-420e_body8-256x192.py (SyncBN is BatchNorm
    in one process), without its pretrained backbone (no download)."""
    from posemix.api import load_config

    model = load_config(str(RTMPOSE_T_CONFIG)).model
    model.backbone.init_cfg = None
    return model


def build_model(name: str, device: str, channels_last: bool) -> torch.nn.Module:
    from posemix.registry import MODELS

    if name == "rtmpose-t":
        cfg = rtmpose_t_config()
    else:
        cfg = combine_config().model
        cfg.backbone.init_cfg = None  # random weights: no download
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights for 19 keypoints
        model = MODELS.build(cfg).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def random_targets(model: torch.nn.Module, batch: int, generator: torch.Generator,
                   device: str) -> dict[str, torch.Tensor]:
    """Random targets of the shapes the model's head trains on."""
    k = model.num_keypoints
    if "heatmaps" in model.head.TARGET_KEYS:
        targets = {"heatmaps": torch.rand((batch, k, *HEATMAP), generator=generator)}
    else:
        targets = {"keypoint_x_labels": torch.rand((batch, k, model.head.cls_x.out_features),
                                                   generator=generator),
                   "keypoint_y_labels": torch.rand((batch, k, model.head.cls_y.out_features),
                                                   generator=generator)}
    targets["keypoint_weights"] = torch.ones((batch, k))
    return {key: value.to(device) for key, value in targets.items()}


def step_seconds(name: str, device: str, batch: int, iters: int, channels_last: bool,
                 bf16: bool = False) -> tuple[float, float]:
    """Median seconds of one forward + backward + optimizer step: wall clock, and this
    process's CPU time (all threads; on a shared machine it shows the work itself, where
    the wall clock also counts waiting for the cores)."""
    model = build_model(name, device, channels_last)
    optimizer = (torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.05)
                 if name == "rtmpose-t" else torch.optim.Adam(model.parameters(), lr=5e-4))
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (batch, 3, 256, 192), dtype=torch.uint8,
                           generator=generator).to(device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    targets = random_targets(model, batch, generator, device)
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())
    times, cpu_times = [], []
    for i in range(iters + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
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
            cpu_times.append(time.process_time() - cpu_start)
    return statistics.median(times), statistics.median(cpu_times)


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


def cpu_figures(name: str, batch: int, iters: int, layouts: tuple[bool, ...] = (False, True)
                ) -> tuple[float, float]:
    """Print the CPU steps of ``name`` in NCHW and/or channels_last (wall clock and process
    CPU time); returns channels_last's (wall, CPU) seconds, else the last layout's."""
    label = f"CPU step, {NAMES[name]} 256x192, batch {batch}"
    plain = None
    for channels_last in layouts:
        wall, cpu = step_seconds(name, "cpu", batch, iters, channels_last)
        layout = "channels_last" if channels_last else "NCHW"
        ratio = (wall / plain, "NCHW") if plain else (None, "")
        figure(f"{label}, {layout}", wall * 1e3, "ms/iter", *ratio)
        figure(f"{label}, {layout}, process CPU time", cpu * 1e3, "ms/iter")
        plain = plain or wall
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="hrnet-w32", choices=sorted(NAMES))
    parser.add_argument("--batch", type=int, help="CPU batch (default: 8 for hrnet-w32, 32 "
                                                  "for rtmpose-t)")
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
    batch = args.batch or (32 if args.model == "rtmpose-t" else 8)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    wall, cpu = cpu_figures(args.model, batch, args.iters)
    if args.model == "rtmpose-t":
        hrnet_wall, hrnet_cpu = cpu_figures("hrnet-w32", batch, args.iters, (True,))
        figure(f"CPU step, RTMPose-t vs HRNet-W32, batch {batch}, channels_last",
               wall * 1e3, "ms/iter", wall / hrnet_wall, "HRNet-W32",
               target=f"<= {MMPOSE_RTMPOSE_T_MS} ms (MMPose RTMPose-t, 2 threads)"
               if batch == 32 else "", ok=wall * 1e3 <= MMPOSE_RTMPOSE_T_MS)
        figure(f"CPU step, RTMPose-t vs HRNet-W32, batch {batch}, process CPU time",
               cpu * 1e3, "ms/iter", cpu / hrnet_cpu, "HRNet-W32")
    if args.device != "cuda":
        return
    print(f"# {torch.cuda.get_device_name()}")
    fp32 = args.gpu_batch / step_seconds(args.model, "cuda", args.gpu_batch, args.gpu_iters,
                                         False)[0]
    figure(f"GPU step, batch {args.gpu_batch}, fp32 NCHW", fp32, "images/s", 1.0, "fp32")
    fast = args.gpu_batch / step_seconds(args.model, "cuda", args.gpu_batch, args.gpu_iters,
                                         True, bf16=True)[0]
    figure(f"GPU step, batch {args.gpu_batch}, bf16 autocast + channels_last", fast,
           "images/s", fast / fp32, "fp32")
    rate = args.pipeline_rate or pipeline_rate()
    figure("posemix train pipeline, one core (fixtures, crop-first)", rate, "samples/s")
    figure("CPU cores of pipeline to feed the GPU, fp32", fp32 / rate, "cores")
    figure("CPU cores of pipeline to feed the GPU, bf16 + channels_last", fast / rate,
           "cores", fast / fp32, "fp32")


if __name__ == "__main__":
    main()
