"""RTMPose in training and in the engine: a step on SimCC targets, the keypoint count from
the schema, SyncBN under DDP and one epoch through the runner."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from test_rtmpose import CODEC, rtmpose_cfg
from torch import nn

import posemix.models  # noqa: F401  (registers the model types)
from posemix.codecs import SimCCLabel
from posemix.engine.dist import DistContext, convert_sync_batchnorm
from posemix.errors import PosemixError
from posemix.models import RTMCCHead
from posemix.registry import MODELS


def test_rtmpose_training_step_with_codec_targets():
    torch.manual_seed(0)
    model = MODELS.build(rtmpose_cfg(0.167, 0.125, 128))
    model.head.set_out_channels(17, "test")
    inputs = torch.randint(0, 256, (2, 3, 256, 192), dtype=torch.uint8)
    codec = SimCCLabel(input_size=(192, 256), sigma=(4.9, 5.66), normalize=False)
    keypoints = np.random.default_rng(0).uniform(10, 180, (2, 17, 2)).astype(np.float32)
    visible = np.ones((2, 17), np.float32)
    visible[:, 3] = 0  # keypoint 3 unlabelled everywhere
    encoded = codec.encode(keypoints, visible)
    targets = {k: torch.from_numpy(v) for k, v in encoded.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = model(inputs, targets, mode="loss")
    assert set(losses) == {"loss_kpt", "acc_pose"}
    # an unlabelled keypoint's labels do not matter (the GAU mixes keypoints, so its
    # filters still learn from the others)
    changed = dict(targets, keypoint_x_labels=targets["keypoint_x_labels"].clone())
    changed["keypoint_x_labels"][:, 3] = torch.rand(2, 384)
    model.eval()  # same BN statistics for the comparison
    with torch.no_grad():
        torch.testing.assert_close(model.loss(inputs, changed)["loss_kpt"],
                                   model.loss(inputs, targets)["loss_kpt"])
    model.train()
    losses["loss_kpt"].backward()
    optimizer.step()
    after = model.loss(inputs, targets)["loss_kpt"].detach()
    assert float(after) < float(losses["loss_kpt"].detach())
    with pytest.raises(PosemixError, match="lack keypoint_x_labels.*SimCCLabel"):
        model.loss(inputs, {"heatmaps": torch.zeros(2, 17, 64, 48),
                            "keypoint_weights": torch.ones(2, 17)})


def test_rtmcc_head_out_channels_from_schema_keeps_key_order():
    cfg = rtmpose_cfg(0.167, 0.125, 128)
    del cfg["head"]["out_channels"]  # from the training data's schema
    model = MODELS.build(dict(cfg, num_keypoints=26))
    keys = [k for k in model.state_dict() if k.startswith("head.")]
    assert keys[:3] == ["head.final_layer.weight", "head.final_layer.bias", "head.mlp.0.g"]
    assert model.head.final_layer.weight.shape == (26, 128, 7, 7)
    with pytest.raises(PosemixError, match="in_featuremap_size"):
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, 128, 96, dtype=torch.uint8))


def test_syncbn_converts_only_under_ddp_on_accelerators():
    model = MODELS.build(rtmpose_cfg(0.167, 0.125, 128))
    single = DistContext(0, 1, 0, torch.device("cpu"))
    assert convert_sync_batchnorm(model, single) is model
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    cpu_ddp = DistContext(0, 2, 0, torch.device("cpu"))
    with pytest.warns(UserWarning, match="SyncBatchNorm needs an accelerator"):
        convert_sync_batchnorm(model, cpu_ddp)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    gpu_ddp = DistContext(0, 2, 0, torch.device("meta"))  # any non-CPU device converts
    weight = model.backbone.stem[0].bn.weight
    convert_sync_batchnorm(model, gpu_ddp)
    converted = model.backbone.stem[0].bn
    assert type(converted) is nn.SyncBatchNorm and converted.weight is weight
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == sum(
        k.endswith("running_mean") for k in model.state_dict())
    plain = MODELS.build(rtmpose_cfg(0.167, 0.125, 128, norm="BN"))
    convert_sync_batchnorm(plain, gpu_ddp)  # 'BN' layers stay BatchNorm2d ...
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in plain.modules())
    convert_sync_batchnorm(plain, gpu_ddp, every_bn=True)  # ... unless sync_bn asks
    assert isinstance(plain.backbone.stem[0].bn, nn.SyncBatchNorm)


@pytest.mark.slow
def test_rtmpose_trains_and_validates_through_the_runner(fixtures_dir, request, tmp_path):
    """The seed's combine data with a tiny RTMPose: SimCC targets through GenerateTarget
    and collate, the KL loss in the training loop, flip test + decode + the 19 → 17 output
    subset in validation, CocoMetric on the result, and the checkpoint reloads."""
    from test_combined import COMBINE, fixture_options
    from test_end_to_end import val_options

    from posemix.api import load_config, load_model
    from posemix.engine import train

    codec = dict(CODEC, input_size=(96, 128), sigma=(2.45, 2.83))
    steps = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
             dict(type="TopdownAffine", input_size=(96, 128))]
    options = fixture_options(fixtures_dir) + val_options(fixtures_dir) + [
        "train_dataloader.batch_size=8", "train_cfg.max_epochs=1", "train_cfg.val_interval=1",
        "default_hooks.checkpoint.interval=1", "auto_scale_lr=None"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), options)
        model = rtmpose_cfg(0.167, 0.125, 128)
        model["head"].update(out_channels=None, input_size=(96, 128),
                             in_featuremap_size=(3, 4), decoder=codec)
        model.update(test_cfg=dict(flip_test=True, output_keypoint_indices=list(range(17))),
                     metainfo=cfg.model.metainfo)  # coco_aic: 19 keypoints, flip partners
        cfg.model = model
        cfg.train_dataloader.dataset.pipeline = steps + [
            dict(type="GenerateTarget", encoder=codec), dict(type="PackPoseInputs")]
        cfg.val_dataloader.dataset.pipeline = steps + [dict(type="PackPoseInputs")]
        metrics = train(cfg, work_dir=str(tmp_path))
        reloaded, _, _ = load_model(tmp_path / "epoch_1.pth", device="cpu")
    assert 0 <= metrics["coco/AP"] <= 1
    assert isinstance(reloaded.head, RTMCCHead) and reloaded.num_keypoints == 19
    records = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
               if "loss" in r]
    assert records and all(math.isfinite(r["loss"]) for r in records)


def test_backbone_pretrained_from_a_whole_pose_checkpoint(golden_dir, tmp_path):
    """The body8 configs' backbone init: ``Pretrained`` with ``prefix='backbone.'`` from a
    full pose model's checkpoint (MMPose's layout, 'state_dict'), loaded at init_weights."""
    state = np.load(golden_dir / "tiny_rtmpose_body8_state_dict.npz")
    path = tmp_path / "pose.pth"
    torch.save({"state_dict": {k: torch.from_numpy(state[k]) for k in state.files}}, path)
    cfg = rtmpose_cfg(0.167, 0.125, 128, norm="BN")
    cfg["backbone"]["init_cfg"] = dict(type="Pretrained", prefix="backbone.",
                                       checkpoint=str(path))
    model = MODELS.build(cfg)  # building reads no file
    (report,) = model.init_weights()
    assert report.clean
    torch.testing.assert_close(model.backbone.stage4[2].attention.fc.weight,
                               torch.from_numpy(state["backbone.stage4.2.attention.fc.weight"]))
    assert not torch.equal(model.head.cls_x.weight,
                           torch.from_numpy(state["head.cls_x.weight"]))  # head untouched
