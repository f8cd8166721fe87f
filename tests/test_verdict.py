"""The verdict on a mixed run: per source, mixed score vs the source trained alone."""

from __future__ import annotations

import json
import warnings

import pytest

import posemix.engine
from posemix.cli import main
from posemix.errors import ConfigError
from posemix.evaluation.verdict import judge, parse_references, verdict_line, write_verdict
from tests.test_combined import COMBINE, fixture_options

# the demo's measured regime (issue 15): 0.614 mixed vs 0.638 COCO-only
MIXED = {"coco/AP": 0.614, "aic/AP": 0.5312, "coco/PCK": 0.9}


def test_verdict_line_says_helped_or_hurt_and_by_how_much():
    verdicts = judge(MIXED, {"coco/AP": 0.638, "aic/AP": 0.5})
    # -0.024 / 0.638 = -3.76 %, +0.0312 / 0.5 = +6.24 %
    assert verdict_line(verdicts) == (
        "mixing verdict: coco AP 0.6140 mixed vs 0.6380 alone: hurt by 0.0240 (-3.8%); "
        "aic AP 0.5312 mixed vs 0.5000 alone: helped by 0.0312 (+6.2%)")
    assert [v.outcome for v in verdicts] == ["hurt", "helped"]
    assert verdicts[0].delta == pytest.approx(-0.024)


def test_ties_and_unmeasured_sources():
    tied, missing = judge(MIXED, {"coco/PCK": 0.90004, "mpii/AP": 0.7})
    assert tied.outcome == "tied" and tied.describe() == (
        "coco PCK 0.9000 mixed vs 0.9000 alone: tied")
    assert missing.outcome == "not measured" and missing.describe() == (
        "mpii AP: not measured by this run (reference 0.7000)")


def test_references_from_values_and_metrics_files(tmp_path):
    demo = tmp_path / "metrics.json"  # the demo report: model name → metrics
    demo.write_text(json.dumps({
        "combined": {"coco/AP": 0.614, "aic/AP": 0.40},
        "coco_only": {"coco/AP": 0.638, "coco/AR": 0.7},
        "aic_only": {"aic/AP": 0.45, "coco/AP": 0.1}}))  # only a model's own source counts
    flat = tmp_path / "test.json"  # `posemix test` output
    flat.write_text(json.dumps({"coco/AP": 0.65}))
    assert parse_references([str(demo)]) == {"coco/AP": 0.638, "coco/AR": 0.7, "aic/AP": 0.45}
    assert parse_references([str(demo), "coco=0.64", "aic/PCK=0.8"]) == {
        "coco/AP": 0.64, "coco/AR": 0.7, "aic/AP": 0.45, "aic/PCK": 0.8}
    assert parse_references([str(flat)]) == {"coco/AP": 0.65}


@pytest.mark.parametrize("content, item, match", [
    (None, "coco=high", "'high' is not a number"),
    (None, "coco=55.2", r"coco/AP is a fraction between 0 and 1 \(0.552, not 55.2\)"),
    (None, "coco/AP .5=-0.1", "fraction between 0 and 1"),
    (None, "nowhere.json", "neither source=score nor an existing metrics file"),
    ('{"combined": {"coco/AP": 0.6}}', "FILE", "no single-source scores found"),
    ('{"coco_only": {"coco/AP": "0.6"}}', "FILE", "must be a number"),
    ("[1, 2]", "FILE", "holds a JSON object"),
    ("{not json", "FILE", "not a readable JSON file"),
])
def test_bad_references_are_clear_errors(tmp_path, content, item, match):
    if content is not None:
        item = str(tmp_path / "m.json")
        (tmp_path / "m.json").write_text(content)
    with pytest.raises(ConfigError, match=match):
        parse_references([item])


def test_write_verdict_json(tmp_path):
    path = write_verdict(tmp_path / "verdict.json", judge(MIXED, {"coco/AP": 0.638}))
    saved = json.loads(path.read_text())
    assert saved["coco/AP"]["outcome"] == "hurt"
    assert saved["coco/AP"]["mixed"] == 0.614 and saved["coco/AP"]["reference"] == 0.638
    assert saved["coco/AP"]["delta"] == pytest.approx(-0.024)


def test_train_command_ends_with_the_verdict(fixtures_dir, request, tmp_path, capsys,
                                             monkeypatch):
    """The CLI wiring: references parsed before training, the verdict after its metrics."""
    calls = []

    def fake_train(cfg, **kwargs):
        calls.append(kwargs)
        return dict(MIXED)

    monkeypatch.setattr(posemix.engine, "train", fake_train)
    argv = ["train", str(request.config.rootpath / COMBINE), "--work-dir", str(tmp_path),
            "--reference", "coco=0.638", "--reference", "aic=0.5",
            "--cfg-options", *fixture_options(fixtures_dir)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("mixing verdict: coco AP 0.6140 mixed vs 0.6380 alone: hurt")
    assert json.loads((tmp_path / "verdict.json").read_text())["aic/AP"]["outcome"] == "helped"
    assert calls and calls[0]["work_dir"] == str(tmp_path)
    # a bad reference stops the command before any training
    calls.clear()
    assert main(argv[:4] + ["--reference", "coco=x"] + argv[8:]) == 2
    assert main(argv[:4] + ["--reference", "cocoo=0.6"] + argv[8:]) == 2
    assert "the run has no source 'cocoo'; its sources are coco, aic" \
        in capsys.readouterr().err
    assert not calls
