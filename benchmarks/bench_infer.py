"""Inference: PyTorch eager against onnxruntime, per person, end to end (``predict``: flip
test as configured, decoding, image space), for RTMPose-t, HRNet-W32 and the demo model.

CPU (always): ``--threads`` (2) threads for both backends, at batch 1 and batch 8. On a
machine busier than its cores, PyTorch's threads wait on each other at every op and its
2-thread times swing tenfold and more; ``--threads 1`` then gives steady figures.
GPU (``--device cuda``): the same on the GPU (onnxruntime's CUDA provider; needs
onnxruntime-gpu). Random weights: the time does not depend on them. RTMPose-t is the
shipped body8 config (BN for SyncBN), HRNet-W32 the seed's combine config.

Usage: ``.venv/bin/python benchmarks/bench_infer.py [--repeat N] [--device cuda]``
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from common import combine_config, figure, timed

from posemix.config import Config, packaged_configs_dir
from posemix.engine.checkpoint import save_checkpoint
from posemix.registry import MODELS

RTMPOSE_T = ("body_2d_keypoint/rtmpose/body8/"
             "rtmpose-t_8xb256-420e_body8-256x192.py")


def rtmpose_t_config() -> Config:
    """The shipped RTMPose-t config with BN for SyncBN (one process), no pretrained
    download, and the model given the training set's schema (COCO-17), as a trained
    checkpoint of it would carry."""
    from posemix.api import load_config

    cfg = load_config(str(packaged_configs_dir() / RTMPOSE_T))
    cfg.model.backbone.norm_cfg = dict(type="BN")
    cfg.model.backbone.init_cfg = None
    cfg.model.metainfo = cfg.train_dataloader.dataset.metainfo
    return cfg


def model_configs() -> dict[str, dict]:
    """name -> {model, val_pipeline}: what a checkpoint of that model stores."""
    hrnet = combine_config(fixture_sources=False)
    hrnet.model.backbone.init_cfg = None  # random weights: no download
    demo = Config.fromfile(packaged_configs_dir() / "demo" / "combine.py")
    rtmpose = rtmpose_t_config()
    return {"RTMPose-t": dict(model=rtmpose.model, val_pipeline=rtmpose.val_pipeline),
            "HRNet-W32": dict(model=hrnet.model, val_pipeline=hrnet.val_pipeline),
            "demo": dict(model=demo.model, val_pipeline=demo.val_pipeline)}


def prepare(name: str, cfg: dict, folder: Path) -> tuple[torch.nn.Module, Path]:
    """A random-weight model, its checkpoint and its ONNX export."""
    from posemix.deploy.export import export_onnx

    torch.manual_seed(0)
    model = MODELS.build(cfg["model"]).eval()
    ckpt = folder / f"{name}.pth"
    save_checkpoint(ckpt, {"state_dict": model.state_dict(),
                           "config": Config(dict(cfg)).pretty_text})
    return model, export_onnx(ckpt, folder / f"{name}.onnx")


def ms_per_person(predict, inputs: torch.Tensor, metas: list[dict], repeat: int) -> float:
    predict(inputs, metas)  # warm-up: allocations, onnxruntime's first-run optimisation
    seconds, _ = timed(lambda: predict(inputs, metas), repeat)
    return seconds / len(inputs) * 1000


def bench_model(name: str, model: torch.nn.Module, onnx_path: Path, device: str,
                threads: int, repeat: int, batches: list[int]) -> None:
    from posemix.deploy.onnx_runtime import OnnxPoseModel

    runtime = OnnxPoseModel(onnx_path, device=device, threads=threads)
    model.to(device)
    w, h = runtime.info.input_size
    rng = np.random.default_rng(0)
    where = f"cpu {threads} threads" if device == "cpu" else device
    for batch in batches:
        inputs = torch.from_numpy(rng.integers(0, 256, (batch, 3, h, w), dtype=np.uint8))
        metas = [dict(input_size=(w, h), input_center=np.array([w / 2, h / 2]),
                      input_scale=np.array([w, h], float))] * batch
        with torch.no_grad():
            eager = ms_per_person(model.predict, inputs, metas, repeat)
        ort = ms_per_person(runtime.predict, inputs, metas, repeat)
        figure(f"{name} batch {batch} {where} PyTorch eager", eager, "ms/person")
        figure(f"{name} batch {batch} {where} onnxruntime", ort, "ms/person", eager / ort,
               "faster than PyTorch eager")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", nargs="+", help="a subset of RTMPose-t HRNet-W32 demo")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights for 19 keypoints
        configs = model_configs()
        with tempfile.TemporaryDirectory() as tmp:
            for name, cfg in configs.items():
                if args.models and name not in args.models:
                    continue
                model, onnx_path = prepare(name, cfg, Path(tmp))
                bench_model(name, model, onnx_path, args.device, args.threads, args.repeat,
                            args.batch)


if __name__ == "__main__":
    main()
