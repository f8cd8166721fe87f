"""The seed configs end to end on the fixtures: an overfit check that proves the whole chain
(targets, loss, decode, coordinates back to the image, output subset, metric) and one
epoch of the merge and combine configs from the command line."""

from __future__ import annotations

import json
import warnings

import pytest
from test_combined import COMBINE, MERGE, fixture_options

from posemix.api import load_config
from posemix.cli import main
from posemix.engine import train


def val_options(fixtures_dir) -> list[str]:
    """The seed's COCO val set pointed at the fixture (GT file + its detections)."""
    coco = fixtures_dir / "coco"
    return [f"val_dataloader.dataset.data_root={coco}",
            "val_dataloader.dataset.ann_file=test_coco.json",
            f"val_dataloader.dataset.bbox_file={coco / 'test_coco_det_AP_H_56.json'}",
            "val_dataloader.dataset.data_prefix.img=",
            f"val_evaluator.ann_file={coco / 'test_coco.json'}",
            "val_dataloader.num_workers=0", "train_dataloader.num_workers=0",
            "val_dataloader.persistent_workers=False",
            "train_dataloader.persistent_workers=False",
            "test_dataloader=None"]


@pytest.mark.slow
def test_overfit_combine_config_on_fixtures(fixtures_dir, request, tmp_path):
    """A small model on the combine config, trained on the 21 fixture instances without
    augmentation: the loss falls at least 5x and COCO AP on the training images passes 0.5
    (evaluated through the 19 -> 17 output subset and back in image coordinates)."""
    codec = dict(type="MSRAHeatmap", input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)
    steps = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
             dict(type="TopdownAffine", input_size=(96, 128))]
    options = fixture_options(fixtures_dir) + val_options(fixtures_dir) + [
        "model.head.in_channels=32", "train_dataloader.batch_size=21",
        "val_dataloader.dataset.bbox_file=None",  # score the training instances themselves
        "optim_wrapper.optimizer.lr=0.008", "train_cfg.max_epochs=100",
        "train_cfg.val_interval=100", "default_hooks.checkpoint.interval=100",
        "default_hooks.logger.interval=10", "auto_scale_lr=None"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), options)
        cfg.model.backbone = dict(type="TinyResFPN")
        cfg.model.head.decoder = codec
        cfg.train_dataloader.dataset.pipeline = steps + [
            dict(type="GenerateTarget", encoder=codec), dict(type="PackPoseInputs")]
        cfg.val_dataloader.dataset.pipeline = steps + [dict(type="PackPoseInputs")]
        cfg.param_scheduler = [dict(type="LinearLR", begin=0, end=20, start_factor=0.1,
                                    by_epoch=False)]
        metrics = train(cfg, work_dir=str(tmp_path))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[0] / losses[-1] >= 5, (losses[0], losses[-1])
    assert metrics["coco/AP"] > 0.5, metrics


@pytest.mark.slow
@pytest.mark.parametrize("config", [MERGE, COMBINE])
def test_seed_config_runs_one_epoch_from_the_command_line(config, fixtures_dir, request,
                                                          tmp_path, capsys):
    """HRNet-W32 as shipped (no download: init_cfg off), one epoch on the fixtures, then
    validation on the COCO fixture's detections with flip test and CocoMetric."""
    options = fixture_options(fixtures_dir) + val_options(fixtures_dir) + [
        "model.backbone.init_cfg=None", "train_cfg.max_epochs=1", "train_cfg.val_interval=1",
        "default_hooks.checkpoint.interval=1", "val_dataloader.batch_size=64",
        "train_dataloader.batch_size=21"]
    argv = ["train", str(request.config.rootpath / config), "--work-dir", str(tmp_path),
            "--device", "cpu", "--cfg-options", *options]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "epoch_1.pth").is_file()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("coco/AP" in r for r in records)
