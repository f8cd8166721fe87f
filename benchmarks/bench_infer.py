"""Inference: PyTorch eager against onnxruntime, per person, end to end (``predict``: flip
test as configured, decoding, image space), for RTMPose-t, HRNet-W32 and the demo model.

CPU (always): ``--threads`` (2) threads for both backends, at batch 1 and batch 8.
GPU (``--device cuda``): the same on the GPU (onnxruntime's CUDA provider; needs
onnxruntime-gpu). Random weights: the time does not depend on them. A model whose types
this posemix lacks (RTMPose-t needs CSPNeXt and RTMCCHead) is reported as skipped.

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
from posemix.errors import PosemixError
from posemix.registry import MODELS

PREPROCESSOR = dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
SIMCC = dict(type="SimCCLabel", input_size=(192, 256), sigma=(4.9, 5.66), simcc_split_ratio=2.0,
             normalize=False, use_dark=False)
# MMPose's rtmpose-t_8xb256-420e_body8-256x192 model (BN for SyncBN), 17 COCO keypoints
RTMPOSE_T = dict(
    type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR,
    metainfo=dict(from_file="configs/_base_/datasets/coco.py"),
    backbone=dict(type="CSPNeXt", arch="P5", expand_ratio=0.5, deepen_factor=0.167,
                  widen_factor=0.375, out_indices=(4,), channel_attention=True,
                  norm_cfg=dict(type="BN"), act_cfg=dict(type="SiLU")),
    head=dict(type="RTMCCHead", in_channels=384, out_channels=17, input_size=(192, 256),
              in_featuremap_size=(6, 8), simcc_split_ratio=2.0, final_layer_kernel_size=7,
              gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0,
                           drop_path=0.0, act_fn="SiLU", use_rel_bias=False, pos_enc=False),
              loss=dict(type="KLDiscretLoss", use_target_weight=True, beta=10.0,
                        label_softmax=True),
              decoder=SIMCC),
    test_cfg=dict(flip_test=True))


def model_configs() -> dict[str, dict]:
    """name -> {model, val_pipeline}: what a checkpoint of that model stores."""
    hrnet = combine_config(fixture_sources=False)
    hrnet.model.backbone.init_cfg = None  # random weights: no download
    demo = Config.fromfile(packaged_configs_dir() / "demo" / "combine.py")
    rtm_pipeline = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                    dict(type="TopdownAffine", input_size=(192, 256)),
                    dict(type="PackPoseInputs")]
    return {"RTMPose-t": dict(model=RTMPOSE_T, val_pipeline=rtm_pipeline),
            "HRNet-W32": dict(model=hrnet.model, val_pipeline=hrnet.val_pipeline),
            "demo": dict(model=demo.model, val_pipeline=demo.val_pipeline)}


def missing_types(cfg: dict) -> list[str]:
    wanted = [cfg["model"]["backbone"]["type"], cfg["model"]["head"]["type"]]
    return [t for t in wanted if t not in MODELS]


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
                missing = missing_types(cfg)
                if missing:
                    print(f"{name}: skipped: this posemix has no {', '.join(missing)}")
                    continue
                try:
                    model, onnx_path = prepare(name, cfg, Path(tmp))
                except PosemixError as exc:
                    print(f"{name}: skipped: {exc}")
                    continue
                bench_model(name, model, onnx_path, args.device, args.threads, args.repeat,
                            args.batch)


if __name__ == "__main__":
    main()
