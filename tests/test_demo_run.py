"""``posemix demo`` end to end at a tiny scale, its comparison table and its verdicts."""

from __future__ import annotations

import json

import pytest
import torch

from posemix.cli import main
from posemix.config import Config, packaged_configs_dir
from posemix.demo.report import best_mixed, comparison_table, verdicts
from posemix.demo.run import DEFAULT_MODELS, MODELS, regime_images
from posemix.errors import ConfigError
from posemix.models.builder import build_model

RESULTS = {
    "coco_only": {"coco/AP": 0.58, "coco/PCK": 0.87, "iterations": 2700, "minutes": 2.5},
    "aic_only": {"aic/AP": 0.30, "aic/PCK": 0.80, "aic/PCK/head_top": 0.9},
    "union": {"coco/AP": 0.61, "aic/AP": 0.28, "aic/PCK/head_top": 0.93},
    "per_source_heads": {"coco/AP": 0.62, "aic/AP": 0.31},
}


def test_comparison_table_has_a_column_per_model_and_dashes_outside_a_layout():
    lines = comparison_table(RESULTS).splitlines()
    assert lines[0] == ("| metric (own layout of each source) | coco_only | aic_only | union "
                        "| per_source_heads |")
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2] == "| COCO-like val: COCO AP (17 keypoints) | 0.580 | — | 0.610 | 0.620 |"
    assert lines[3] == ("| AIC-like val: AIC AP (14 keypoints, AIC sigmas) | — | 0.300 | 0.280 "
                        "| 0.310 |")
    assert "| AIC-like val: head top PCK@0.1 | — | 0.900 | 0.930 | — |" in lines
    assert "| training iterations | 2700 | — | — | — |" in lines
    assert "| minutes (training + evaluation) | 2.5 | — | — | — |" in lines
    assert not any("neck" in line for line in lines)  # no model measured it


def test_best_mixed_is_the_highest_mean_of_the_source_aps():
    # union (0.61 + 0.28) / 2 = 0.445 < per_source_heads (0.62 + 0.31) / 2 = 0.465
    assert best_mixed(RESULTS) == "per_source_heads"
    assert best_mixed({"coco_only": {"coco/AP": 0.5}}) is None


def test_verdicts_per_mixed_model_and_the_goal():
    lines = verdicts(RESULTS)
    assert lines[0] == ("union: mixing verdict: coco AP 0.6100 mixed vs 0.5800 alone: helped "
                        "by 0.0300 (+5.2%); aic AP 0.2800 mixed vs 0.3000 alone: hurt by "
                        "0.0200 (-6.7%)")
    assert lines[1].startswith("per_source_heads: mixing verdict: coco AP 0.6200 mixed vs "
                               "0.5800 alone: helped by 0.0400")
    assert lines[2] == ("goal (the best mixed model, per_source_heads, at or above each "
                        "source's single-source AP): met")
    worse = {**RESULTS, "per_source_heads": {"coco/AP": 0.62, "aic/AP": 0.29}}
    assert verdicts(worse)[-1].endswith("(the best mixed model, per_source_heads, at or above "
                                        "each source's single-source AP): missed")


def test_regimes_size_the_sets():
    assert regime_images("scarce", 2000) == {"coco-like": 500, "aic-like": 2000}
    assert regime_images("abundant", 2000) == {"coco-like": 2000, "aic-like": 2000}
    with pytest.raises(ConfigError, match="regime must be one of"):
        regime_images("plenty", 2000)


@pytest.mark.parametrize(("config", "keypoints", "shapes"), [
    ("combine", 19, [(2, 19, 64, 48)]),  # heatmaps at half the 96x128 input
    ("coco_only", 17, [(2, 17, 64, 48)]),
    ("aic_only", 14, [(2, 14, 64, 48)]),
    ("balanced", 19, [(2, 19, 64, 48)]),
    ("combine_rtmpose", 19, [(2, 19, 192), (2, 19, 256)]),  # SimCC: 2 bins per pixel
])
def test_demo_configs_build_their_models(config, keypoints, shapes):
    cfg = Config.fromfile(packaged_configs_dir() / "demo" / f"{config}.py")
    model = build_model(cfg["model"], keypoints).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 128, 96), mode="tensor")
    outs = out if isinstance(out, (tuple, list)) else [out]
    assert [tuple(o.shape) for o in outs] == shapes


def test_per_source_heads_config_has_a_head_per_source_beside_the_union():
    cfg = Config.fromfile(packaged_configs_dir() / "demo" / "per_source_heads.py")
    head = cfg["model"]["head"]
    assert head["type"] == "MultiSourceHead" and sorted(head["heads"]) == ["aic", "coco"]
    assert head["union"] == head["heads"]["coco"] == Config.fromfile(
        packaged_configs_dir() / "demo" / "combine.py")["model"]["head"]


@pytest.mark.slow
def test_demo_command_writes_the_report(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--images", "24",
                 "--full"]) == 0
    report = tmp_path / "report"
    for name in ("comparison.md", "predictions.png", "inspect.txt", "metrics.json",
                 *(f"curves_{model}.png" for model in MODELS)):
        assert (report / name).is_file(), name
    metrics = json.loads((report / "metrics.json").read_text())
    assert list(metrics) == list(MODELS)
    for mixed in ("union", "per_source_heads", "balanced"):
        assert {"coco/AP", "aic/AP", "aic/PCK/head_top", "aic/PCK/neck"} <= set(metrics[mixed])
    assert {"union/coco/AP", "union/aic/AP"} <= set(metrics["per_source_heads"])
    assert "aic/AP" not in metrics["coco_only"]  # 17 outputs: no AIC layout
    assert "coco/AP" not in metrics["aic_only"]  # 14 outputs: no COCO layout
    # the same number of iterations for every model: 6 COCO-like and 24 AIC-like images
    assert len({m["iterations"] for m in metrics.values()}) == 1
    assert "19 keypoints" in (report / "inspect.txt").read_text()
    out = capsys.readouterr().out
    assert "| COCO-like val: COCO AP" in out
    assert "union: mixing verdict: coco AP" in out
    assert "goal (the best mixed model" in (report / "comparison.md").read_text()


@pytest.mark.slow
def test_demo_default_trains_the_models_that_fit_the_budget(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--images", "8",
                 "--regime", "abundant"]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert tuple(metrics) == DEFAULT_MODELS
    assert "Abundant target" in (tmp_path / "report" / "comparison.md").read_text()
