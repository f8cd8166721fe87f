"""The shipped body8 configs with every dataset pointed at the small fixture files in each
real format (tests/data/fixtures): ``posemix train`` RTMPose-t (both pipeline stages) and
``posemix test`` on the eight-set evaluator, from the command line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from test_body8_datasets import source_cfgs

from posemix.cli import main

BODY8 = Path("src/posemix/configs/body_2d_keypoint/rtmpose/body8")
T_COCO17 = BODY8 / "rtmpose-t_8xb256-420e_body8-256x192.py"
T_HALPE26 = BODY8 / "rtmpose-t_8xb1024-700e_body8-halpe26-256x192.py"
TRAIN_SOURCES = ["coco", "aic", "crowdpose", "mpii", "jhmdb", "halpe", "posetrack18"]
TEST_SOURCES = ["coco", "aic", "crowdpose", "mpii", "jhmdb", "halpe", "ochuman", "posetrack18"]


def _point(prefix: str, cfg: dict) -> list[str]:
    return [f"{prefix}.data_root={cfg['data_root']}", f"{prefix}.ann_file={cfg['ann_file']}",
            f"{prefix}.data_prefix.img={cfg['data_prefix']['img']}"]


def body8_options(fixtures_dir: Path, halpe26: bool = False) -> list[str]:
    """--cfg-options that point every dataset of a body8 config at the fixtures (the
    halpe26 configs' COCO is COCO-WholeBody), the COCO val set at the fixture's detections,
    and the loaders at the main process."""
    sources = source_cfgs(fixtures_dir)
    if halpe26:  # COCO-WholeBody: its images are the COCO fixture's
        sources["coco"] = dict(data_root=str(fixtures_dir),
                               ann_file="coco_wholebody/coco_wholebody_val_v1.0.json",
                               data_prefix=dict(img="coco/"))
    options = []
    for i, name in enumerate(TRAIN_SOURCES):
        options += _point(f"train_dataloader.dataset.datasets.{i}", sources[name])
    for i, name in enumerate(TEST_SOURCES):
        options += _point(f"test_dataloader.dataset.datasets.{i}", sources[name])
    coco = fixtures_dir / "coco"
    if halpe26:  # validation is the eight-set test set
        for i, name in enumerate(TEST_SOURCES):
            options += _point(f"val_dataloader.dataset.datasets.{i}", sources[name])
    else:
        options += [f"val_dataloader.dataset.data_root={coco}",
                    "val_dataloader.dataset.ann_file=test_coco.json",
                    f"val_dataloader.dataset.bbox_file={coco / 'test_coco_det_AP_H_56.json'}",
                    "val_dataloader.dataset.data_prefix.img=",
                    f"val_evaluator.ann_file={coco / 'test_coco.json'}"]
    for split in ("train", "val", "test"):
        options += [f"{split}_dataloader.num_workers=0",
                    f"{split}_dataloader.persistent_workers=False"]
    return options


def run_recipe(config: Path, fixtures_dir: Path, work_dir: Path, halpe26: bool,
               capsys, epochs: int = 1) -> tuple[dict, str]:
    """``posemix train`` (``epochs``, the last one validated; the stage-2 pipeline for the
    last epoch), then ``posemix test`` on the last checkpoint."""
    options = body8_options(fixtures_dir, halpe26) + [
        "model.backbone.init_cfg=None", f"train_cfg.max_epochs={epochs}",
        f"train_cfg.val_interval={epochs}", f"default_hooks.checkpoint.interval={epochs}",
        f"custom_hooks.0.switch_epoch={epochs - 1}", "train_dataloader.batch_size=16",
        "val_dataloader.batch_size=32", "test_dataloader.batch_size=32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["train", str(config), "--work-dir", str(work_dir), "--device", "cpu",
                     "--cfg-options", *options])
        assert code == 0, capsys.readouterr().err
        trained = capsys.readouterr().out
        code = main(["test", str(config), str(work_dir / f"epoch_{epochs}.pth"),
                     "--work-dir", str(work_dir), "--cfg-options", *options])
        assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    print(out)  # the pooled and per-source metrics, for the log
    return json.loads(out[out.index("{"):]), trained


@pytest.mark.slow
def test_body8_t_trains_both_stages_and_tests_on_the_eight_sets(fixtures_dir, request,
                                                                tmp_path, capsys):
    """Stage 1 (photometric distortion, wide boxes) for epoch 1, stage 2 for epoch 2, COCO
    validation on the fixture's detections, then the eight-set test."""
    config = request.config.rootpath / T_COCO17
    metrics, trained = run_recipe(config, fixtures_dir, tmp_path, False, capsys, epochs=2)
    assert "training 38 samples for 2 epochs" in trained, trained
    assert "PipelineSwitchHook: epoch 2 on trains with switch_pipeline" in trained
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("coco/AP" in r for r in records)  # validation: CocoMetric on the detections
    for key in ("PCK", "AUC", "EPE"):  # pooled over the eight sets ...
        assert key in metrics
        for source in TEST_SOURCES:  # ... and per source, named after it
            assert f"{source}/{key}" in metrics, sorted(metrics)
    assert 0 <= metrics["PCK"] <= 1 and 0 <= metrics["AUC"] <= 0.95 and metrics["EPE"] > 0
    # MPII beside the COCO-17 model is scored on 12 of its 16 keypoints: the test's record and
    # printed result name the four left out
    assert metrics["mpii/scored_keypoints"] == 12
    (test_record,) = [r for r in records if r["mode"] == "test"]
    mpii_note = ("mpii: partial, scored on 12 of 16 keypoints; not scored: ['pelvis', "
                 "'thorax', 'upper_neck', 'head_top']")
    assert mpii_note in test_record["notes"]


@pytest.mark.slow
def test_body8_halpe26_t_trains_and_tests_with_the_wholebody_feet(fixtures_dir, request,
                                                                  tmp_path, capsys):
    """The halpe26 -t config: COCO-WholeBody gives the feet, validation and test are the
    eight-set PCK/AUC evaluator in Halpe-26."""
    config = request.config.rootpath / T_HALPE26
    metrics, _ = run_recipe(config, fixtures_dir, tmp_path, True, capsys)
    sources = ["coco_wholebody"] + TEST_SOURCES[1:]  # each named after its schema
    for key in ("PCK", "AUC"):
        assert key in metrics and all(f"{s}/{key}" in metrics for s in sources)
    assert "EPE" not in metrics
    assert "PCK/left_big_toe" in metrics  # scored: the COCO-WholeBody feet are labelled
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("mode") == "val" and "AUC" in r for r in records)
