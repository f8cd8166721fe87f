"""Models: MMPose fidelity (golden tiny HRNet, state-dict keys, parameter counts), the loss,
flip test, training sanity, schema-driven output size and safe checkpoint loading."""

from __future__ import annotations

import ast
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import posemix.codecs  # noqa: F401  (registers the MSRAHeatmap decoder)
import posemix.models  # noqa: F401  (registers the model types)
from posemix.errors import CheckpointError, ConfigError, PosemixError
from posemix.models import (
    HeatmapHead,
    KeypointMSELoss,
    PoseDataPreprocessor,
    flip_heatmaps,
    heatmap_pck_accuracy,
)
from posemix.registry import MODELS

COCO_AIC_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 17, 18]
PREPROCESSOR = dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
CODEC = dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
TEST_CFG = dict(flip_test=True, flip_mode="heatmap", shift_heatmap=True,
                output_keypoint_indices=list(range(17)))


def _stage(modules, block, blocks, channels):
    return dict(num_modules=modules, num_branches=len(channels), block=block,
                num_blocks=blocks, num_channels=channels)


TINY_EXTRA = dict(
    stage1=_stage(1, "BOTTLENECK", (1,), (16,)),
    stage2=_stage(1, "BASIC", (1, 1), (8, 16)),
    stage3=_stage(1, "BASIC", (1, 1, 1), (8, 16, 32)),
    stage4=_stage(1, "BASIC", (1, 1, 1, 1), (8, 16, 32, 64)))


def _w_extra(width):
    c = (width, 2 * width, 4 * width, 8 * width)
    return dict(stage1=_stage(1, "BOTTLENECK", (4,), (64,)),
                stage2=_stage(1, "BASIC", (4, 4), c[:2]),
                stage3=_stage(4, "BASIC", (4, 4, 4), c[:3]),
                stage4=_stage(3, "BASIC", (4, 4, 4, 4), c))


def tiny_model(**overrides):
    cfg = dict(type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR,
               backbone=dict(type="HRNet", in_channels=3, extra=TINY_EXTRA),
               head=dict(type="HeatmapHead", in_channels=8, out_channels=19,
                         deconv_out_channels=None,
                         loss=dict(type="KeypointMSELoss", use_target_weight=True),
                         decoder=CODEC),
               test_cfg=TEST_CFG)
    cfg.update(overrides)
    return MODELS.build(cfg)


def read_key_list(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in path.read_text().splitlines():
        key, shape = line.split("\t")
        rows.append((key, tuple(ast.literal_eval(shape))))
    return rows


def key_shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def golden(golden_dir):
    state = np.load(golden_dir / "tiny_hrnet_combine_state_dict.npz")
    io = np.load(golden_dir / "tiny_hrnet_combine_io.npz")
    return {k: torch.from_numpy(state[k]) for k in state.files}, {k: io[k] for k in io.files}


def golden_metas(io, indices, flip_indices=True):
    metas = []
    for i in indices:
        meta = dict(input_size=(192, 256), input_center=io["input_center"][i],
                    input_scale=io["input_scale"][i])
        if flip_indices:
            meta["flip_indices"] = COCO_AIC_FLIP
        metas.append(meta)
    return metas


# ---------------------------------------------------------------- golden fidelity


def test_tiny_hrnet_reproduces_mmpose(golden):
    state, io = golden
    model = tiny_model()
    assert [k for k, _ in key_shapes(model)] == list(state)  # same keys, same order
    model.load_state_dict(state, strict=True)
    model.eval()
    inputs = torch.from_numpy(io["inputs_uint8"])
    pre = model.data_preprocessor(inputs)
    np.testing.assert_allclose(pre.numpy(), io["preprocessed"], atol=1e-5)
    with torch.no_grad():
        heatmaps = model.head(model.backbone(pre))
    np.testing.assert_allclose(heatmaps.numpy(), io["heatmaps"], atol=1e-4)
    results = model.predict(inputs, golden_metas(io, range(len(inputs))))
    keypoints = np.concatenate([r["keypoints"] for r in results])
    scores = np.concatenate([r["keypoint_scores"] for r in results])
    assert keypoints.shape == (12, 17, 2) and scores.shape == (12, 17)
    np.testing.assert_allclose(keypoints, io["pred_keypoints"], atol=1e-3)
    np.testing.assert_allclose(scores, io["pred_scores"], atol=1e-5)


def test_pretrained_init_and_channels_last_reproduce_golden(golden, tmp_path):
    state, io = golden
    # MMPose checkpoint quirks that must still load clean: numpy arrays in the metadata,
    # 0.x head names, the preprocessor's mean/std, a BN without its step counter
    legacy = {k.replace("head.", "keypoint_head.", 1) if k.startswith("head.") else k: v
              for k, v in state.items() if k != "backbone.bn1.num_batches_tracked"}
    legacy["data_preprocessor.mean"] = torch.zeros(3, 1, 1)
    path = tmp_path / "tiny.pth"
    torch.save({"state_dict": legacy, "meta": {"sigmas": np.ones(19, np.float32)}}, path)
    model = tiny_model(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    (report,) = model.init_weights()
    assert report.clean
    model.eval().to(memory_format=torch.channels_last)
    assert model.backbone.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    inputs = torch.from_numpy(io["inputs_uint8"][:2])
    results = model.predict(inputs, golden_metas(io, range(2)))
    np.testing.assert_allclose(np.concatenate([r["keypoints"] for r in results]),
                               io["pred_keypoints"][:2], atol=1e-3)
    with torch.no_grad():
        heatmaps = model(inputs)  # mode='tensor'
    np.testing.assert_allclose(heatmaps.numpy(), io["heatmaps"][:2], atol=1e-4)


def test_model_schema_gives_out_channels_and_flip_indices(golden):
    state, io = golden
    with warnings.catch_warnings():  # MMPose's coco_aic.py has 18 joint weights for 19 points
        warnings.simplefilter("ignore")
        model = tiny_model(head=dict(type="HeatmapHead", in_channels=8,
                                     deconv_out_channels=None, decoder=CODEC),
                           metainfo=dict(from_file="configs/_base_/datasets/coco_aic.py"))
    assert model.num_keypoints == 19
    assert model.head.final_layer.weight.shape == (19, 8, 1, 1)
    model.load_state_dict(state, strict=True)
    model.eval()
    # no flip_indices in the metas: the model's own schema supplies them
    results = model.predict(torch.from_numpy(io["inputs_uint8"][:1]),
                            golden_metas(io, [0], flip_indices=False))
    np.testing.assert_allclose(results[0]["keypoints"][0], io["pred_keypoints"][0], atol=1e-3)


# ---------------------------------------------------------------- architectures


def test_hrnet_w32_matches_mmpose_keys_and_parameter_count(data_dir):
    model = MODELS.build(dict(
        type="TopdownPoseEstimator",
        backbone=dict(type="HRNet", in_channels=3, extra=_w_extra(32)),
        head=dict(type="HeatmapHead", in_channels=32, out_channels=17,
                  deconv_out_channels=None)))
    assert key_shapes(model) == read_key_list(data_dir / "reference" / "hrnet_w32_keys.txt")
    assert n_params(model.backbone) == 28_535_552
    assert n_params(model) == 28_536_113
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 256, 192, dtype=torch.uint8))
    assert out.shape == (1, 17, 64, 48)


def test_hrnet_w48_parameter_count():
    backbone = MODELS.build(dict(type="HRNet", extra=_w_extra(48)))
    assert round((n_params(backbone) + 48 * 17 + 17) / 1e6, 1) == 63.6  # HRNet paper, Table 1


def test_hrnet_bottleneck_branches_and_multiscale_output():
    extra = dict(TINY_EXTRA, stage2=_stage(1, "BOTTLENECK", (1, 1), (4, 8)),
                 stage4=dict(TINY_EXTRA["stage4"], multiscale_output=True))
    backbone = MODELS.build(dict(type="HRNet", extra=extra)).eval()
    with torch.no_grad():
        outs = backbone(torch.zeros(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4),
                                              (1, 64, 2, 2)]
    # stage 2 bottleneck branches are 4x wider: 16 and 32 channels
    assert backbone.stage2[0].branches[1][0].conv3.weight.shape == (32, 8, 1, 1)


def test_frozen_stages_norm_eval_and_checkpointing():
    backbone = MODELS.build(dict(type="HRNet", extra=TINY_EXTRA, frozen_stages=2,
                                 norm_eval=True, with_cp=True)).train()
    frozen = {name.split(".")[0] for name, p in backbone.named_parameters()
              if not p.requires_grad}
    assert frozen == {"conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2",
                      "transition2"}
    assert not any(m.training for m in backbone.modules() if isinstance(m, nn.BatchNorm2d))
    x = torch.rand(1, 3, 64, 64)
    backbone(x)[0].sum().backward()  # checkpointed blocks still give gradients
    assert backbone.stage4[0].branches[0][0].conv1.weight.grad is not None
    resnet = MODELS.build(dict(type="ResNet", depth=18, frozen_stages=1)).train()
    assert not resnet.layer1[0].conv1.weight.requires_grad and not resnet.bn1.training
    assert resnet.layer2[0].conv1.weight.requires_grad and resnet.layer2[0].bn1.training


def test_resnet50_simplebaseline_matches_mmpose_keys(data_dir):
    model = MODELS.build(dict(
        type="TopdownPoseEstimator", backbone=dict(type="ResNet", depth=50),
        head=dict(type="HeatmapHead", in_channels=2048, out_channels=17)))
    assert key_shapes(model) == read_key_list(data_dir / "reference" / "res50_keys.txt")
    assert n_params(model.backbone) == 23_508_032
    assert n_params(model.head) == 10_491_665


@pytest.mark.parametrize("depth, params", [(18, 11_176_512), (34, 21_284_672),
                                           (101, 42_500_160)])
def test_resnet_depths_match_torchvision_sizes(depth, params):
    # torchvision's ImageNet models minus the 1000-way fc layer
    backbone = MODELS.build(dict(type="ResNet", depth=depth))
    assert n_params(backbone) == params
    assert "layer1.0.downsample.0.weight" not in backbone.state_dict() or depth == 101
    assert backbone.state_dict()["layer2.0.downsample.0.weight"].shape[1] == (
        256 if depth == 101 else 64)


def test_resnet18_is_stride_32_and_deconv_head_upsamples_8x():
    model = MODELS.build(dict(
        type="TopdownPoseEstimator", backbone=dict(type="ResNet", depth=18),
        head=dict(type="HeatmapHead", in_channels=512, deconv_out_channels=(32, 32, 32),
                  deconv_kernel_sizes=(4, 3, 2)), num_keypoints=5)).eval()
    with torch.no_grad():
        assert model.backbone(torch.zeros(1, 3, 64, 32))[0].shape == (1, 512, 2, 1)
        assert model(torch.zeros(1, 3, 64, 32, dtype=torch.uint8)).shape == (1, 5, 16, 8)


@pytest.mark.parametrize("out_stride", [4, 2])
def test_tiny_resfpn_gives_features_at_its_out_stride(out_stride):
    backbone = MODELS.build(dict(type="TinyResFPN", out_channels=24,
                                 out_stride=out_stride)).eval()
    with torch.no_grad():
        for h, w in ((128, 96), (160, 128)):
            (feat,) = backbone(torch.zeros(2, 3, h, w))
            assert feat.shape == (2, 24, h // out_stride, w // out_stride)


def test_tiny_resfpn_stride_2_only_adds_modules():
    """Stride-4 checkpoints stay loadable: stride 2 adds the stem merge and nothing else."""
    four = MODELS.build(dict(type="TinyResFPN")).state_dict()
    two = MODELS.build(dict(type="TinyResFPN", out_stride=2)).state_dict()
    assert set(four) < set(two)
    assert set(two) - set(four) == {"lateral2.weight", "lateral2.bias"}
    with pytest.raises(ConfigError, match="out_stride must be 4 or 2, got 8"):
        MODELS.build(dict(type="TinyResFPN", out_stride=8))


def test_data_preprocessor_bgr_to_rgb_and_normalise():
    pre = PoseDataPreprocessor(mean=[10, 20, 30], std=[2, 4, 5], bgr_to_rgb=True,
                               pad_size_divisor=4)
    bgr = torch.tensor([[[[50, 60]], [[40, 40]], [[20, 0]]]], dtype=torch.uint8)  # (1,3,1,2)
    out = pre(bgr)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 4, 4)
    # R = 20,0 -> (x-10)/2 ; G = 40,40 -> (x-20)/4 ; B = 50,60 -> (x-30)/5
    expected = torch.tensor([[5.0, -5.0], [5.0, 5.0], [4.0, 6.0]])
    torch.testing.assert_close(out[0, :, 0, :2], expected)
    assert float(out[0, :, 1:].abs().sum() + out[0, :, :, 2:].abs().sum()) == 0.0  # zero pad
    assert "mean" not in pre.state_dict()


# ---------------------------------------------------------------- loss and accuracy


def test_keypoint_mse_loss_hand_computed():
    output = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (B=1, K=2, H=1, W=2)
    target = torch.zeros_like(output)
    # squared errors: channel 0 -> 1, 4; channel 1 -> 9, 16
    assert float(KeypointMSELoss()(output, target)) == pytest.approx(7.5)
    # weight 0 on channel 1: (1 + 4) / 4 elements, the zero-weight channel still counts
    weighted = KeypointMSELoss(use_target_weight=True)
    assert float(weighted(output, target, torch.tensor([[1.0, 0.0]]))) == pytest.approx(1.25)
    assert float(KeypointMSELoss(loss_weight=2.0)(
        output, target, torch.tensor([[0.5, 1.0]]))) == pytest.approx((0.5 * 5 + 25) / 4 * 2)
    # skip_empty_channel drops channel 1 (all-zero target): ((1-1)^2 + (2-0)^2) / 4
    target_nonempty = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]])
    assert float(KeypointMSELoss(skip_empty_channel=True)(
        output, target_nonempty)) == pytest.approx(1.0)


def test_pck_accuracy_uses_mmpose_axis_normalisation():
    height, width = 20, 40  # MMPose divides x by H (20) and y by W (40); thr 0.05
    gt = torch.zeros(2, 3, height, width)
    pred = torch.zeros(2, 3, height, width)
    for b in range(2):
        for k in range(3):
            gt[b, k, 5, 10] = 1.0
    pred[0, 0, 5, 10] = 1.0  # exact: hit
    pred[1, 0, 6, 10] = 1.0  # 1 px in y -> 1/40 = 0.025: hit
    pred[0, 1, 5, 11] = 1.0  # 1 px in x -> 1/20 = 0.05, not < 0.05: miss
    pred[1, 1, 0, 0] = 1.0   # masked out
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # keypoint 0: 2/2, keypoint 1: 0/1, keypoint 2: no samples -> mean(1, 0)
    assert float(heatmap_pck_accuracy(pred, gt, mask)) == pytest.approx(0.5)
    assert float(heatmap_pck_accuracy(pred, gt, torch.zeros(2, 3, dtype=torch.bool))) == 0.0


# ---------------------------------------------------------------- flip test


class _Identity(nn.Module):
    def forward(self, x):
        return (x,)


class _ScoreDecoder:
    """Stands in for a codec: location 0, score = channel maximum."""

    def decode(self, heatmaps):
        k = heatmaps.shape[0]
        return np.zeros((1, k, 2), np.float32), heatmaps.reshape(k, -1).max(axis=1)[None]


def test_flip_test_fusion_hand_computed():
    head = HeatmapHead(in_channels=3, out_channels=3, deconv_out_channels=None,
                       decoder=_ScoreDecoder())
    with torch.no_grad():  # heatmaps == input image: a known function of the input
        head.final_layer.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        head.final_layer.bias.zero_()
    model = MODELS.build(dict(
        type="TopdownPoseEstimator", backbone=_Identity(), head=head,
        test_cfg=dict(flip_test=True, shift_heatmap=True, output_heatmaps=True,
                      output_keypoint_indices=[2, 0])))
    image = torch.tensor([[[[1, 2, 3, 4]], [[10, 20, 30, 40]], [[5, 0, 0, 7]]]],
                         dtype=torch.uint8)
    meta = dict(input_size=(4, 1), input_center=np.array([50.0, 60.0]),
                input_scale=np.array([8.0, 2.0]), flip_indices=[1, 0, 2])
    (result,) = model.predict(image, [meta])
    # flipped pass, flipped back = image; channels swapped 0<->1; shifted right one pixel
    # (column 0 replicated): ch0 [10,10,20,30], ch1 [1,1,2,3], ch2 [5,5,0,0]; then
    # averaged with the image. Output order: keypoints 2 and 0.
    expected = np.array([[[5.0, 2.5, 0.0, 3.5]], [[5.5, 6.0, 11.5, 17.0]]])
    np.testing.assert_allclose(result["heatmaps"], expected)
    np.testing.assert_allclose(result["keypoint_scores"], [[5.0, 17.0]])
    # location 0 in the crop -> centre - scale / 2 in the image
    np.testing.assert_allclose(result["keypoints"], [[[46.0, 59.0], [46.0, 59.0]]])


def test_flip_heatmaps_without_shift_and_wrong_length():
    heatmaps = torch.arange(12.0).view(1, 2, 2, 3)
    flipped = flip_heatmaps(heatmaps, [1, 0])
    torch.testing.assert_close(flipped[0, 0], torch.tensor([[8.0, 7.0, 6.0], [11.0, 10.0, 9.0]]))
    with pytest.raises(ConfigError, match="3 entries but the model predicts 2"):
        flip_heatmaps(heatmaps, [0, 1, 2])
    with pytest.raises(ConfigError, match="udp_combined"):
        flip_heatmaps(heatmaps, [1, 0], flip_mode="udp_combined")


# ---------------------------------------------------------------- training


def _gaussian_targets(batch, k, h, w):
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    gen = torch.Generator().manual_seed(1)
    centres = torch.rand(batch, k, 2, generator=gen) * torch.tensor([w, h])
    heat = torch.exp(-((xs - centres[..., :1, None]) ** 2
                       + (ys - centres[..., 1:, None]) ** 2) / 8.0)
    return heat.float()


@pytest.mark.parametrize("backbone, in_channels", [
    (dict(type="HRNet", extra=TINY_EXTRA), 8), (dict(type="TinyResFPN"), 32)])
def test_one_training_step_reduces_loss(backbone, in_channels):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR, backbone=backbone,
        head=dict(type="HeatmapHead", in_channels=in_channels, deconv_out_channels=None),
        num_keypoints=5))
    inputs = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    weights = torch.ones(4, 5)
    weights[:, 3] = 0.0  # keypoint 3 not annotated by any sample
    targets = {"heatmaps": _gaussian_targets(4, 5, 16, 16), "keypoint_weights": weights}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = model(inputs, targets, mode="loss")
    assert set(losses) == {"loss_kpt", "acc_pose"}
    losses["loss_kpt"].backward()
    # a keypoint nobody annotates sends no gradient into its output channel
    assert float(model.head.final_layer.weight.grad[3].abs().sum()) == 0.0
    assert float(model.head.final_layer.weight.grad[0].abs().sum()) > 0.0
    optimizer.step()
    after = model.loss(inputs, targets)["loss_kpt"]
    assert float(after.detach()) < float(losses["loss_kpt"].detach())


def test_loss_rejects_targets_for_another_keypoint_count():
    model = tiny_model()
    targets = {"heatmaps": torch.zeros(1, 17, 16, 16), "keypoint_weights": torch.ones(1, 17)}
    with pytest.raises(PosemixError, match="17, 16, 16.*19, 16, 16"):
        model.loss(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), targets)


# ---------------------------------------------------------------- output size from the schema


def test_out_channels_from_num_keypoints_and_disagreement():
    head = dict(type="HeatmapHead", in_channels=8, deconv_out_channels=None)
    model = tiny_model(head=head, num_keypoints=7, test_cfg=None)
    assert model.head.final_layer.weight.shape == (7, 8, 1, 1)
    with pytest.raises(ConfigError, match=r"predicts 17 keypoints .*19 keypoints"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tiny_model(head=dict(head, out_channels=17), metainfo="coco_aic")
    with pytest.raises(ConfigError, match="out_channels is not set"):
        tiny_model(head=head, test_cfg=None)
    with pytest.raises(ConfigError, match="output_keypoint_indices"):
        tiny_model(test_cfg=dict(output_keypoint_indices=[0, 19]))


@pytest.mark.parametrize("key", ["flip_test", "shift_heatmap", "output_heatmaps"])
def test_test_cfg_switches_must_be_booleans(key):
    with pytest.raises(ConfigError, match=f"test_cfg.{key} must be True or False, got 'maybe'"):
        tiny_model(test_cfg={key: "maybe"})


@pytest.mark.parametrize("cfg, message", [
    (dict(type="HRNet", extra={k: v for k, v in TINY_EXTRA.items() if k != "stage3"}),
     "no 'stage3'"),
    (dict(type="HRNet", extra=dict(TINY_EXTRA, stage2=_stage(1, "BASIC", (1,), (8, 16)))),
     "num_branches=2"),
    (dict(type="HRNet", extra=TINY_EXTRA, norm_cfg=dict(type="LN")), "norm_cfg type 'LN'"),
    (dict(type="ResNet", depth=42), "depth must be one of"),
    (dict(type="HeatmapHead", in_channels=8, deconv_kernel_sizes=(4, 5, 4)), "kernel size 5"),
    (dict(type="ResNet", depth=18, init_cfg=dict(type="Xavier", layer="Conv2d")), "Xavier"),
])
def test_bad_configs_raise_config_error(cfg, message):
    with pytest.raises(ConfigError, match=message):
        MODELS.build(cfg)


# ---------------------------------------------------------------- checkpoints


class _Opaque:
    """Any non-tensor object forces full unpickling."""


def test_checkpoint_needing_unpickling_is_refused(tmp_path):
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(1)}, "meta": _Opaque()},
               path)
    model = tiny_model(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(CheckpointError, match="weights_only=True"):
        model.init_weights()


def test_pretrained_backbone_reports_missing_and_unexpected_keys(golden, tmp_path, caplog):
    state, _ = golden
    partial = {k: v for k, v in state.items() if k != "backbone.conv1.weight"}
    partial["backbone.fc.weight"] = torch.zeros(3)
    partial["backbone.conv2.weight"] = torch.zeros(2, 2, 3, 3)  # wrong shape
    path = tmp_path / "partial.pth"
    torch.save(partial, path)  # a raw state dict, no 'state_dict' wrapper
    model = tiny_model(backbone=dict(type="HRNet", extra=TINY_EXTRA, init_cfg=dict(
        type="Pretrained", checkpoint=str(path), prefix="backbone.")))
    with caplog.at_level(logging.WARNING):
        (report,) = model.init_weights()
    assert report.missing_keys == ["conv1.weight"]
    assert report.unexpected_keys == ["fc.weight"]
    assert report.mismatched_keys == [("conv2.weight", (2, 2, 3, 3), (64, 64, 3, 3))]
    assert "1 missing keys" in caplog.text
    torch.testing.assert_close(model.backbone.bn1.running_var, state["backbone.bn1.running_var"])


def test_missing_checkpoint_file_is_a_checkpoint_error(tmp_path):
    model = tiny_model(init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "no.pth")))
    with pytest.raises(CheckpointError, match="not found"):
        model.init_weights()
