"""RTMPose against MMPose 1.3.2: CSPNeXt + RTMCCHead keys and parameter counts of the body8
configs, the tiny golden model (SimCC logits, decode, flip test), KLDiscretLoss, the SimCC
targets, the GAU's algebra and ``_scope_`` handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_models import PREPROCESSOR, key_shapes, n_params, read_key_list

import posemix.codecs  # noqa: F401  (registers SimCCLabel)
import posemix.models  # noqa: F401  (registers the model types)
from posemix.codecs import SimCCLabel
from posemix.errors import ConfigError, PosemixError
from posemix.models import KLDiscretLoss, RTMCCHead, flip_simcc, simcc_pck_accuracy
from posemix.models.backbones.resnet import SyncBN
from posemix.models.heads.rtmcc_block import RTMCCBlock, ScaleNorm
from posemix.registry import MODELS, check_config_tree

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CODEC = dict(type="SimCCLabel", input_size=(192, 256), sigma=(4.9, 5.66),
             simcc_split_ratio=2.0, normalize=False, use_dark=False)
GAU = dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0,
           act_fn="SiLU", use_rel_bias=False, pos_enc=False)
VARIANTS = {  # deepen, widen, head in_channels, parameters (MMPose's model zoo / reference)
    "t": (0.167, 0.375, 384, 3_337_007), "s": (0.33, 0.5, 512, 5_473_251),
    "m": (0.67, 0.75, 768, 13_587_611), "l": (1.0, 1.0, 1024, 27_660_339)}


def rtmpose_cfg(deepen: float, widen: float, in_channels: int, norm: str = "SyncBN") -> dict:
    """The model dict of rtmpose-*_8xb256-420e_body8-256x192.py (no pretrained init)."""
    return dict(
        type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR,
        backbone=dict(_scope_="mmdet", type="CSPNeXt", arch="P5", expand_ratio=0.5,
                      deepen_factor=deepen, widen_factor=widen, out_indices=(4,),
                      channel_attention=True, norm_cfg=dict(type=norm),
                      act_cfg=dict(type="SiLU")),
        head=dict(type="RTMCCHead", in_channels=in_channels, out_channels=17,
                  input_size=(192, 256), in_featuremap_size=(6, 8), simcc_split_ratio=2.0,
                  final_layer_kernel_size=7, gau_cfg=GAU,
                  loss=dict(type="KLDiscretLoss", use_target_weight=True, beta=10.0,
                            label_softmax=True),
                  decoder=CODEC),
        test_cfg=dict(flip_test=True))


@pytest.fixture(scope="module")
def golden(golden_dir):
    state = np.load(golden_dir / "tiny_rtmpose_body8_state_dict.npz")
    io = np.load(golden_dir / "tiny_rtmpose_body8_io.npz")
    return {k: torch.from_numpy(state[k]) for k in state.files}, {k: io[k] for k in io.files}


@pytest.fixture(scope="module")
def tiny(golden):
    state, _ = golden
    model = MODELS.build(rtmpose_cfg(0.167, 0.125, 128, norm="BN"))
    model.load_state_dict(state, strict=True)
    return model.eval()


def metas(io, n):
    return [dict(input_size=(192, 256), input_center=io["input_center"][i],
                 input_scale=io["input_scale"][i], flip_indices=COCO_FLIP) for i in range(n)]


# ---------------------------------------------------------------- architecture


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_body8_models_match_mmpose_keys_and_parameter_counts(variant, data_dir):
    deepen, widen, in_channels, params = VARIANTS[variant]
    model = MODELS.build(rtmpose_cfg(deepen, widen, in_channels))
    reference = read_key_list(data_dir / "reference" / f"rtmpose_{variant}_body8_keys.txt")
    assert key_shapes(model) == reference
    assert n_params(model) == params


def test_rtmpose_t_shapes_init_and_syncbn_defaults():
    model = MODELS.build(rtmpose_cfg(0.167, 0.375, 384)).eval()
    bn = model.backbone.stem[0].bn
    assert type(bn) is SyncBN and bn.eps == 1e-5 and bn.momentum == 0.1
    assert n_params(model.backbone) == 2_348_700 and n_params(model.head) == 988_307
    head = model.head
    with torch.no_grad():
        assert not head.final_layer.bias.any()
        assert float(head.final_layer.weight.std()) == pytest.approx(0.001, rel=0.05)
        for linear in (head.mlp[1], head.gau.uv, head.gau.o, head.cls_x, head.cls_y):
            assert float(linear.weight.std()) == pytest.approx(0.01, rel=0.05)
        assert 0 <= float(head.gau.gamma.min()) and float(head.gau.beta.max()) < 1
        assert float(head.mlp[0].g) == 1.0 and bool((head.gau.res_scale.scale == 1).all())
        pred_x, pred_y = model(torch.zeros(2, 3, 256, 192, dtype=torch.uint8))
    assert pred_x.shape == (2, 17, 384) and pred_y.shape == (2, 17, 512)
    # mmdet's default norm (no norm_cfg given) is eps 1e-3, momentum 0.03
    default = MODELS.build(dict(type="CSPNeXt", widen_factor=0.125, deepen_factor=0.167))
    assert (default.stem[0].bn.eps, default.stem[0].bn.momentum) == (1e-3, 0.03)


def test_cspnext_weight_init():
    """From scratch: mmdet's default init_cfg, Kaiming-uniform (a=sqrt(5), fan_in) on every
    Conv2d with zero bias, i.e. weights uniform in +-1/sqrt(fan_in); BN weight 1, bias 0."""
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type="CSPNeXt", deepen_factor=0.167, widen_factor=0.375))
    with torch.no_grad():
        conv = backbone.stage3[0].conv.weight  # (192, 96, 3, 3): fan_in 864
        assert float(conv.abs().max()) <= 1 / math.sqrt(864)
        assert float(conv.std()) == pytest.approx(1 / math.sqrt(3 * 864), rel=0.05)
        fc = backbone.stage3[1].attention.fc
        assert not fc.bias.any()
        bn = backbone.stage3[0].bn
        assert bool((bn.weight == 1).all()) and not bn.bias.any()


def test_cspnext_out_indices_frozen_stages_and_depthwise():
    backbone = MODELS.build(dict(type="mmdet.CSPNeXt", widen_factor=0.125,
                                 deepen_factor=0.167, frozen_stages=1,
                                 use_depthwise=True)).train()
    outs = backbone(torch.zeros(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 8, 8), (1, 64, 4, 4), (1, 128, 2, 2)]
    assert not backbone.stem.training and not backbone.stage1.training
    assert not any(p.requires_grad for p in backbone.stage1.parameters())
    assert all(p.requires_grad for p in backbone.stage2.parameters())
    assert "stage2.0.depthwise_conv.conv.weight" in backbone.state_dict()
    # residual only in stages 1-3: stage 4 has add_identity False
    assert backbone.stage3[1].blocks[0].add_identity
    assert not backbone.stage4[2].blocks[0].add_identity


@pytest.mark.parametrize("cfg, message", [
    (dict(type="CSPNeXt", arch="P7"), "arch must be one of P5"),
    (dict(type="CSPNeXt", out_indices=(5,)), "out_indices"),
    (dict(type="CSPNeXt", act_cfg=dict(type="Mish")), "act_cfg type 'Mish'"),
    (dict(_scope_="mmfoo", type="CSPNeXt"), "unknown _scope_ 'mmfoo'"),
    (dict(type="RTMCCHead", in_channels=8, out_channels=17, input_size=(192, 256),
          in_featuremap_size=(6, 8), gau_cfg=dict(GAU, pos_enc=True)), "pos_enc"),
    (dict(type="RTMCCHead", in_channels=8, out_channels=17, input_size=(192, 256),
          in_featuremap_size=(6, 8), gau_cfg=dict(hidden_dims=256)), "missing"),
])
def test_bad_configs_raise_config_error(cfg, message):
    with pytest.raises(ConfigError, match=message):
        MODELS.build(cfg)


def test_scope_key_and_prefix_pass_the_config_check():
    cfg = rtmpose_cfg(0.167, 0.375, 384)
    cfg["backbone"]["type"] = "mmdet.CSPNeXt"
    check_config_tree(dict(model=cfg))  # no "has no argument '_scope_'"
    assert "mmdet.CSPNeXt" in MODELS and MODELS.get("mmpose.RTMCCHead") is RTMCCHead
    with pytest.raises(ConfigError, match="has no argument 'widen'"):
        check_config_tree(dict(model=dict(cfg, backbone=dict(cfg["backbone"], widen=1))))


# ---------------------------------------------------------------- golden fidelity


def test_tiny_rtmpose_reproduces_mmpose_outputs(tiny, golden):
    _, io = golden
    inputs = torch.from_numpy(io["inputs_uint8"])
    pre = tiny.data_preprocessor(inputs)
    np.testing.assert_allclose(pre.numpy(), io["preprocessed"], atol=1e-5)
    with torch.no_grad():
        pred_x, pred_y = tiny(inputs)  # mode='tensor': no flip
    np.testing.assert_allclose(pred_x.numpy(), io["simcc_x"], atol=1e-4)
    np.testing.assert_allclose(pred_y.numpy(), io["simcc_y"], atol=1e-4)
    keypoints, scores = tiny.head.decode((pred_x, pred_y))
    np.testing.assert_allclose(keypoints, io["decoded_keypoints"], atol=1e-3)
    # scores are the raw logit maxima (up to ~9.4 here), so the logits' float32 noise
    # (~1.6e-5 against MMPose's kernels) carries over: 1e-5 absolute plus 1e-6 relative
    np.testing.assert_allclose(scores, io["decoded_scores"], atol=1e-5, rtol=1e-6)


def test_tiny_rtmpose_flip_test_prediction_matches_mmpose(tiny, golden):
    _, io = golden
    results = tiny.predict(torch.from_numpy(io["inputs_uint8"]), metas(io, 12))
    keypoints = np.concatenate([r["keypoints"] for r in results])
    scores = np.concatenate([r["keypoint_scores"] for r in results])
    assert keypoints.shape == (12, 17, 2) and scores.shape == (12, 17)
    np.testing.assert_allclose(keypoints, io["pred_keypoints"], atol=1e-3)
    np.testing.assert_allclose(scores, io["pred_scores"], atol=1e-5)


def test_tiny_rtmpose_in_channels_last(tiny, golden):
    _, io = golden
    tiny.to(memory_format=torch.channels_last)
    try:
        with torch.no_grad():
            pred_x, _ = tiny(torch.from_numpy(io["inputs_uint8"][:2]))
    finally:
        tiny.to(memory_format=torch.contiguous_format)
    np.testing.assert_allclose(pred_x.numpy(), io["simcc_x"][:2], atol=1e-4)


def test_kl_discret_loss_matches_mmpose_on_golden_targets(golden, golden_dir):
    _, io = golden
    codec = np.load(golden_dir / "simcc_codec.npz")
    loss = KLDiscretLoss(beta=10.0, label_softmax=True, use_target_weight=True)
    value = loss((torch.from_numpy(io["simcc_x"]), torch.from_numpy(io["simcc_y"])),
                 (torch.from_numpy(codec["target_x"][:12]),
                  torch.from_numpy(codec["target_y"][:12])),
                 torch.from_numpy(codec["target_weights"][:12]))
    assert float(value) == pytest.approx(float(io["kl_loss"]), rel=1e-5)


def test_simcc_label_targets_match_mmpose(golden_dir):
    expected = np.load(golden_dir / "simcc_codec.npz")
    codec = posemix.registry.CODECS.build(CODEC)
    encoded = codec.encode(expected["keypoints_in"], expected["keypoints_visible"])
    np.testing.assert_allclose(encoded["keypoint_x_labels"], expected["target_x"], atol=1e-6)
    np.testing.assert_allclose(encoded["keypoint_y_labels"], expected["target_y"], atol=1e-6)
    np.testing.assert_array_equal(encoded["keypoint_weights"], expected["target_weights"])
    assert 0 < expected["target_weights"].sum() < expected["target_weights"].size


# ---------------------------------------------------------------- known answers


def _tiny_codec_targets():
    """The reference's 5-keypoint example: weights [1, 1, 0, 0, 1]."""
    codec = SimCCLabel(input_size=(192, 256), sigma=(4.9, 5.66), normalize=False)
    keypoints = np.array([[[95.3, 100.7], [195, 10], [200, 10], [-7, 300], [0.25, 0.75]]],
                         np.float32)
    encoded = codec.encode(keypoints, np.ones((1, 5), np.float32))
    return tuple(torch.from_numpy(encoded[k]) for k in ("keypoint_x_labels",
                                                        "keypoint_y_labels",
                                                        "keypoint_weights"))


def test_kl_discret_loss_reference_values():
    tx, ty, weights = _tiny_codec_targets()
    assert weights.tolist() == [[1, 1, 0, 0, 1]]
    loss = KLDiscretLoss(beta=10.0, label_softmax=True)
    zero = loss((torch.zeros(1, 5, 384), torch.zeros(1, 5, 512)), (tx, ty), weights)
    assert float(zero) == pytest.approx(0.009441905, rel=1e-6)
    torch.manual_seed(0)
    px, py = torch.randn(2, 5, 384), torch.randn(2, 5, 512)
    value = loss((px, py), (tx.repeat(2, 1, 1), ty.repeat(2, 1, 1)), weights.repeat(2, 1))
    assert float(value) == pytest.approx(0.17174467, rel=1e-6)
    # mask_weight scales only the masked keypoints' rows: keypoint 4 at weight 0 leaves
    # keypoints 0 and 1; summing the two per-keypoint losses gives back the whole
    masked = KLDiscretLoss(beta=10.0, label_softmax=True, mask=[4], mask_weight=0.0)
    only4 = KLDiscretLoss(beta=10.0, label_softmax=True, mask=[0, 1], mask_weight=0.0)
    args = ((px, py), (tx.repeat(2, 1, 1), ty.repeat(2, 1, 1)), weights.repeat(2, 1))
    assert float(masked(*args) + only4(*args)) == pytest.approx(float(value), rel=1e-6)
    with pytest.raises(PosemixError, match="differs from label shape"):
        loss((px, py), (ty, tx), weights)


def test_flip_simcc_hand_computed():
    pred_x = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    pred_y = torch.tensor([[[7.0, 8.0], [9.0, 10.0]]])
    x, y = flip_simcc((pred_x, pred_y), [1, 0])
    assert x.tolist() == [[[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]]]
    assert y.tolist() == [[[9.0, 10.0], [7.0, 8.0]]]
    with pytest.raises(ConfigError, match="3 entries but the model predicts 2"):
        flip_simcc((pred_x, pred_y), [0, 1, 2])


def test_simcc_pck_accuracy_normalises_x_by_height():
    # input 4 px wide (8 bins) and 2 px high (4 bins): x errors / 2, y errors / 4
    gt_x, gt_y = torch.zeros(1, 3, 8), torch.zeros(1, 3, 4)
    gt_x[0, :, 2] = 1
    gt_y[0, :, 1] = 1
    px, py = gt_x.clone(), gt_y.clone()
    px[0, 1] = 0
    px[0, 1, 3] = 1    # 0.5 px in x -> 0.5 / 2 = 0.25: miss at thr 0.2
    py[0, 2] = 0
    py[0, 2, 2] = 1    # 0.5 px in y -> 0.5 / 4 = 0.125: hit at thr 0.2
    mask = torch.ones(1, 3, dtype=torch.bool)
    acc = simcc_pck_accuracy((px, py), (gt_x, gt_y), 2.0, mask, thr=0.2)
    assert float(acc) == pytest.approx(2 / 3)


def test_gau_matches_the_reference_algebra():
    torch.manual_seed(0)
    block = RTMCCBlock(5, 16, 16, expansion_factor=2, s=8, use_rel_bias=True).eval()
    with torch.no_grad():
        block.res_scale.scale.uniform_(0.5, 1.5)
    x = torch.randn(2, 5, 16)
    h = x / (x.norm(dim=-1, keepdim=True) / math.sqrt(16)).clamp(min=1e-5) * block.ln.g
    u, v, base = torch.split(torch.nn.functional.silu(h @ block.uv.weight.T), [32, 32, 8], -1)
    q = base * block.gamma[0] + block.beta[0]
    k = base * block.gamma[1] + block.beta[1]
    bias = torch.stack([torch.stack([block.w[4 + j - i] for j in range(5)]) for i in range(5)])
    attention = torch.relu((q @ k.transpose(1, 2) + bias) / math.sqrt(8)) ** 2
    expected = x * block.res_scale.scale + (u * (attention @ v)) @ block.o.weight.T
    torch.testing.assert_close(block(x), expected)
    assert [k for k, _ in block.named_parameters()][:3] == ["w", "gamma", "beta"]
    # RMS of (3, 4, 0, 0) is 2.5
    torch.testing.assert_close(ScaleNorm(4)(torch.tensor([[3.0, 4.0, 0.0, 0.0]])),
                               torch.tensor([[1.2, 1.6, 0.0, 0.0]]))


def test_rtmpose_output_heatmaps_are_outer_products(tiny, golden):
    _, io = golden
    tiny.test_cfg = dict(flip_test=False, output_heatmaps=True)
    try:
        (result,) = tiny.predict(torch.from_numpy(io["inputs_uint8"][:1]), metas(io, 1))
    finally:
        tiny.test_cfg = dict(flip_test=True)
    x = np.clip(io["simcc_x"][0], 0, None)
    y = np.clip(io["simcc_y"][0], 0, None)
    x = np.where(x.max(-1, keepdims=True) > 1, x / x.max(-1, keepdims=True), x)
    y = np.where(y.max(-1, keepdims=True) > 1, y / y.max(-1, keepdims=True), y)
    assert result["heatmaps"].shape == (17, 512, 384)
    np.testing.assert_allclose(result["heatmaps"], y[:, :, None] * x[:, None, :], atol=1e-4)
