"""``posemix demo``: does mixing two datasets with different keypoints pay?

Generates the demo data (if absent): a small COCO-like target set beside a larger
AIC-like one (or, ``--regime abundant``, two sets of the same size). Trains each source's
single-source baseline and the mixed models (union head, a head per source, sources
balanced by rule; 19 union keypoints), all with the same number of iterations, scores
every source in its own layout, and writes a report folder: the comparison table with a
verdict per mixed model and source, loss/AP curves, a grid of val predictions and the
``posemix inspect`` summary.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posemix.demo.generate import generate_demo_data
from posemix.demo.report import best_mixed, comparison_table, verdicts
from posemix.errors import ConfigError

DEMO_ROOT_PREFIX = "demo_data/"
GRID_PER_SOURCE = 6
# model name (metrics.json, work folder) → packaged config in configs/demo/
MODELS = {"coco_only": "coco_only", "aic_only": "aic_only", "union": "combine",
          "per_source_heads": "per_source_heads", "balanced": "balanced"}
# what fits `make demo`'s 15 minutes on 2 cores: the baselines, the union model and the
# better of the other two mixed models (by the mean of their per-source APs on the scarce
# demo: balanced, T=4, 0.490 + 0.120, beat per-source heads, 0.437 + 0.129); --full
# trains all
DEFAULT_MODELS = ("coco_only", "aic_only", "union", "balanced")
DEFAULT_OUT = {"scarce": "demo_out", "abundant": "demo_out_abundant"}
REGIME_NOTES = {
    "scarce": "Scarce target: a small COCO-like set beside an AIC-like set 4x its size, "
              "the case that makes people mix.",
    "abundant": "Abundant target: COCO-like and AIC-like sets of the same size, at equal "
                "compute.",
}


def retarget(node: Any, data_dir: Path) -> None:
    """Point every ``data_root`` written as 'demo_data/...' at ``data_dir``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data_root" and isinstance(value, str) \
                    and value.startswith(DEMO_ROOT_PREFIX):
                node[key] = str(data_dir / value[len(DEMO_ROOT_PREFIX):]) + "/"
            else:
                retarget(value, data_dir)
    elif isinstance(node, list):
        for value in node:
            retarget(value, data_dir)


def demo_config(name: str, data_dir: Path, epochs: int | None = None) -> Any:
    """A packaged demo config, pointed at the data and set to ``epochs`` epochs (None: the
    config's own schedule)."""
    from posemix.config import Config, packaged_configs_dir

    cfg = Config.fromfile(packaged_configs_dir() / "demo" / f"{name}.py")
    retarget(cfg, data_dir)
    if epochs is None:
        return cfg
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.get("by_epoch", True):
            scheduler["end"] = epochs
            scheduler["T_max"] = epochs
    return cfg


def prediction_grid(checkpoint: Path, cfg: Any, out: Path) -> Path:
    """Val samples of each source with the combined model's predicted, named skeletons."""
    from posemix.api import build_dataset, load_model
    from posemix.panels import contact_sheet
    from posemix.transforms import collate
    from posemix.visualization import draw_pose, write_png

    model, _, (_, outputs) = load_model(checkpoint, device="cpu")
    dataset = build_dataset(cfg, "val")
    pictures, titles = [], []
    starts = np.concatenate([[0], np.cumsum(dataset.lens)[:-1]])
    for source, start in enumerate(starts):
        length = dataset.lens[source]
        indices = sorted({int(start) + int(i) for i in
                          np.linspace(0, length - 1, min(GRID_PER_SOURCE, length))})
        batch = collate([dataset[(0, i)] for i in indices])
        with torch.no_grad():
            preds = model.predict(batch["inputs"], batch["meta"])
        for pred, meta in zip(preds, batch["meta"], strict=True):
            import cv2

            image = cv2.imread(meta["img_path"])
            drawn = draw_pose(image, pred["keypoints"][0], outputs,
                              labelled=pred["keypoint_scores"][0] > 0.3, names=False)
            x0, y0, x1, y1 = np.asarray(meta["bbox"], int).reshape(4)
            pad = int(0.15 * max(x1 - x0, y1 - y0))
            crop = drawn[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
            pictures.append(cv2.resize(crop, (150, int(150 * crop.shape[0] /
                                                        max(crop.shape[1], 1)))))
            titles.append(dataset.source_names[source])
    return write_png(out, contact_sheet(pictures, GRID_PER_SOURCE, titles))


def run_demo(out_dir: str | None = None, epochs: int | None = None, images: int = 2000,
             seed: int = 0, regime: str = "scarce", full: bool = False,
             models: Sequence[str] | None = None) -> Path:
    """Everything ``make demo`` does (``epochs`` None: configs/demo/combine.py's); returns
    the report folder. ``models``: which of MODELS to train (default DEFAULT_MODELS, or
    all of them with ``full``)."""
    from posemix.api import build_dataset
    from posemix.engine.checkpoint import best_or_last_checkpoint
    from posemix.inspection import format_summary, summarize

    started = time.time()
    counts = regime_images(regime, images)
    chosen = list(models or (MODELS if full else DEFAULT_MODELS))
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        raise ConfigError(f"demo models must be among {list(MODELS)}, got {unknown}")
    out = Path(out_dir or DEFAULT_OUT[regime])
    data = generate_demo_data(out / "data", seed=seed, num_images=counts,
                              num_val=max(1, images // 10))
    mixed_cfg = demo_config(MODELS["union"], out / "data", epochs)
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    mixed = build_dataset(mixed_cfg, "train")
    (report / "inspect.txt").write_text(format_summary(summarize(mixed)) + "\n",
                                        encoding="utf-8")
    instances = dict(zip(mixed.source_names, mixed.original_lens, strict=True))
    total = sum(instances.values())
    results: dict[str, dict[str, float]] = {}
    for name in chosen:
        cfg = demo_config(MODELS[name], out / "data", epochs)
        if name.endswith("_only"):  # a baseline's epoch draws as many samples as a mixed one
            cfg.train_dataloader.dataset.sample_ratio_factor = [
                total / instances[name[: -len("_only")]]]
        results[name] = _train_one(name, cfg, out, report, total)
    best = best_mixed(results)
    if best is not None:
        prediction_grid(best_or_last_checkpoint(out / best),
                        demo_config(MODELS[best], out / "data", epochs),
                        report / "predictions.png")
    minutes = (time.time() - started) / 60
    table = comparison_table(results)
    verdict = "\n".join(f"- {line}" for line in verdicts(results))
    (report / "comparison.md").write_text(
        f"# posemix demo, {regime} regime\n\n{REGIME_NOTES[regime]}\n\n{table}\n\n{verdict}"
        f"\n\nTrained on {instances['coco']} COCO-like and {instances['aic']} AIC-like "
        f"instances, every model {results[name]['iterations']} iterations; total time "
        f"{minutes:.1f} min (data: {data['seconds']:.0f} s).\n",
        encoding="utf-8")
    (report / "metrics.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"\n{table}\n\n{verdict}\n\nreport: {report} ({minutes:.1f} min)")
    return report


def regime_images(regime: str, images: int) -> dict[str, int]:
    """Train images per dataset: the AIC-like set has ``images``, the COCO-like a quarter
    of it when the target is scarce (real AIC is 2.5x COCO) or as many when abundant."""
    if regime not in REGIME_NOTES:
        raise ConfigError(f"demo regime must be one of {sorted(REGIME_NOTES)}, got {regime!r}")
    coco = max(1, images // 4) if regime == "scarce" else images
    return {"coco-like": coco, "aic-like": images}


def _train_one(name: str, cfg: Any, out: Path, report: Path, instances: int
               ) -> dict[str, float]:
    """Train one model on epochs of ``instances`` samples; its metrics plus iterations and
    minutes, and its curves."""
    from posemix.engine import train

    epochs = cfg.train_cfg.max_epochs
    iterations = epochs * math.ceil(instances / cfg.train_dataloader.batch_size)
    print(f"== {name}: {MODELS[name]}.py, {epochs} epochs, {iterations} iterations ==")
    tick = time.time()
    shutil.rmtree(out / name, ignore_errors=True)  # a demo rerun trains each model afresh
    metrics = train(cfg, work_dir=str(out / name))
    shutil.copyfile(out / name / "curves.png", report / f"curves_{name}.png")
    return {**metrics, "iterations": iterations,
            "minutes": round((time.time() - tick) / 60, 2)}
