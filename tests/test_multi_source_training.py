"""Per-source heads through the engine: the demo's combined model with a head per source,
one epoch on the fixtures, validated per head, tested and loaded for inference from its
checkpoint."""

from __future__ import annotations

import json
import warnings

import torch

from posemix import engine
from posemix.api import load_model
from posemix.config import Config, packaged_configs_dir
from posemix.models.heads import layouts_from_state_dict, per_source_head_cfg


def per_source_heads_config(fixtures_dir):
    """configs/demo/combine.py on the fixtures, its head made one per source + the union."""
    cfg = Config.fromfile(packaged_configs_dir() / "demo" / "combine.py")
    for split in ("train", "val"):
        for i, kind in enumerate(("coco", "aic")):
            source = cfg[f"{split}_dataloader"]["dataset"]["datasets"][i]
            source.update(data_root=str(fixtures_dir / kind), ann_file=f"test_{kind}.json",
                          data_prefix=dict(img=""))
        loader = cfg[f"{split}_dataloader"]
        loader.update(num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint.update(interval=1)
    cfg.param_scheduler = []
    cfg.model.head = per_source_head_cfg(cfg.model.head, ["coco", "aic"],
                                         loss_weights=dict(union=0.5))
    cfg.model.test_cfg.output_head = "coco"
    return cfg


def test_per_source_heads_train_validate_test_and_infer(fixtures_dir, tmp_path, capsys):
    cfg = per_source_heads_config(fixtures_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        torch.manual_seed(0)
        metrics = engine.train(cfg, work_dir=str(tmp_path), device="cpu")
        # each source through its own head and through the union head
        assert {"coco/AP", "aic/AP", "union/coco/AP", "union/aic/AP"} <= set(metrics)
        records = [json.loads(line) for line in
                   (tmp_path / "metrics.jsonl").read_text().splitlines()]
        logged = set().union(*[set(r) for r in records if r.get("mode") == "train"])
        assert {"loss_kpt/coco", "loss_kpt/aic", "loss_kpt/union"} <= logged
        checkpoint = tmp_path / "epoch_1.pth"
        saved = torch.load(checkpoint, weights_only=True)
        layouts = layouts_from_state_dict(saved["state_dict"])
        assert {n: s.num_keypoints for n, s in layouts.items()} == {"coco": 17, "aic": 14,
                                                                   "union": 19}
        # `posemix test` rebuilds the model from the config and scores every head again
        tested = engine.test(cfg, str(checkpoint), device="cpu")
        assert tested == metrics
        # inference names its outputs by test_cfg.output_head's layout
        model, _, (schema, outputs) = load_model(checkpoint)
        assert schema.num_keypoints == 19 and outputs.num_keypoints == 17
        assert model.head.output_head == "coco"
