"""``posemix demo``: mixing two datasets with different keypoints, end to end.

Generates the demo data (if absent), trains the combined model (COCO-like + AIC-like,
19 union keypoints) and the COCO-like-only baseline with the same number of iterations,
evaluates every source in its own layout, and writes a report folder: the comparison
table, loss/AP curves, a grid of val predictions and the ``posemix inspect`` summary.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posemix.demo.generate import generate_demo_data

DEMO_ROOT_PREFIX = "demo_data/"
GRID_PER_SOURCE = 6


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


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def comparison_table(combined: dict[str, float], baseline: dict[str, float]) -> str:
    """Markdown: per source, AP of the single-source baseline vs the combined model, and
    PCK@0.1 of the two joints only the AIC-like set labels."""
    rows = ["| metric (own layout of each source) | COCO-like only | combined |",
            "|---|---|---|"]
    for key, label in (("coco/AP", "COCO-like val: COCO AP (17 keypoints)"),
                       ("aic/AP", "AIC-like val: AIC AP (14 keypoints, AIC sigmas)"),
                       ("coco/PCK", "COCO-like val: PCK@0.1"),
                       ("aic/PCK", "AIC-like val: PCK@0.1"),
                       ("aic/PCK/head_top", "AIC-like val: head top PCK@0.1"),
                       ("aic/PCK/neck", "AIC-like val: neck PCK@0.1")):
        rows.append(f"| {label} | {_fmt(baseline.get(key))} | {_fmt(combined.get(key))} |")
    rows.append("")
    rows.append("'—': the COCO-like-only model has no head top or neck output, so it cannot be "
                "scored in the AIC layout.")
    return "\n".join(rows)


def prediction_grid(checkpoint: Path, cfg: Any, out: Path) -> Path:
    """Val samples of each source with the combined model's predicted, named skeletons."""
    from posemix.api import build_dataset, load_model
    from posemix.transforms import collate
    from posemix.visualization import contact_sheet, draw_pose, write_png

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


def run_demo(out_dir: str, epochs: int | None = None, images: int = 2000,
             seed: int = 0) -> Path:
    """Everything ``make demo`` does (``epochs`` None: configs/demo/combine.py's); returns
    the report folder."""
    from posemix.api import build_dataset
    from posemix.engine import train
    from posemix.engine.checkpoint import best_or_last_checkpoint
    from posemix.inspection import format_summary, summarize

    started = time.time()
    out = Path(out_dir)
    data = generate_demo_data(out / "data", seed=seed, num_images=images)
    counts = data["instances"]
    coco, aic = counts["coco-like"]["train"], counts["aic-like"]["train"]
    combined_cfg = demo_config("combine", out / "data", epochs)
    epochs = combined_cfg.train_cfg.max_epochs
    # the same number of iterations for both: the baseline sees only the COCO-like data
    baseline_epochs = max(1, round(epochs * (coco + aic) / coco))
    baseline_cfg = demo_config("coco_only", out / "data", baseline_epochs)
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights, said once by inspect
        summary = summarize(build_dataset(combined_cfg, "train"))
    (report / "inspect.txt").write_text(format_summary(summary) + "\n", encoding="utf-8")
    print(f"== combined model: COCO-like + AIC-like, {epochs} epochs ==")
    combined = train(combined_cfg, work_dir=str(out / "combined"))
    print(f"== baseline: COCO-like only, {baseline_epochs} epochs (same iterations) ==")
    baseline = train(baseline_cfg, work_dir=str(out / "coco_only"))
    table = comparison_table(combined, baseline)
    for name in ("combined", "coco_only"):
        shutil.copyfile(out / name / "curves.png", report / f"curves_{name}.png")
    prediction_grid(best_or_last_checkpoint(out / "combined"), combined_cfg,
                    report / "predictions.png")
    minutes = (time.time() - started) / 60
    (report / "comparison.md").write_text(
        f"# posemix demo\n\n{table}\n\nTrained on {coco} COCO-like and {aic} AIC-like "
        f"instances; total time {minutes:.1f} min.\n", encoding="utf-8")
    (report / "metrics.json").write_text(json.dumps(
        {"combined": combined, "coco_only": baseline}, indent=1), encoding="utf-8")
    print("\n" + table + f"\n\nreport: {report} ({minutes:.1f} min)")
    return report
