"""``posemix demo`` end to end at a tiny scale, and its comparison table."""

from __future__ import annotations

import json

import pytest

from posemix.cli import main
from posemix.demo.run import comparison_table


def test_comparison_table_rows():
    table = comparison_table(
        {"coco/AP": 0.61, "aic/AP": 0.52, "coco/PCK": 0.9, "aic/PCK": 0.88,
         "aic/PCK/head_top": 0.93, "aic/PCK/neck": 0.95},
        {"coco/AP": 0.58, "coco/PCK": 0.87})
    lines = table.splitlines()
    assert lines[2] == "| COCO-like val: COCO AP (17 keypoints) | 0.580 | 0.610 |"
    assert lines[3] == "| AIC-like val: AIC AP (14 keypoints, AIC sigmas) | — | 0.520 |"
    assert "| AIC-like val: head top PCK@0.1 | — | 0.930 |" in lines


@pytest.mark.slow
def test_demo_command_writes_the_report(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--images", "24"]) == 0
    report = tmp_path / "report"
    for name in ("comparison.md", "curves_combined.png", "curves_coco_only.png",
                 "predictions.png", "inspect.txt", "metrics.json"):
        assert (report / name).is_file(), name
    metrics = json.loads((report / "metrics.json").read_text())
    assert {"coco/AP", "aic/AP", "aic/PCK/head_top", "aic/PCK/neck"} <= set(metrics["combined"])
    assert "aic/AP" not in metrics["coco_only"]  # 17 outputs: no AIC layout
    assert "19 keypoints" in (report / "inspect.txt").read_text()
    assert "| COCO-like val: COCO AP" in capsys.readouterr().out
