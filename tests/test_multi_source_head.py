"""MultiSourceHead: a head per source beside the union head, on one backbone. Shapes from the
schemas, each sample's loss through its own head (checked by gradients), each head's own
flip partners, evaluation through each head, and the checkpoint round trip."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from test_models import _ScoreDecoder
from test_per_source import AIC_IN_COCO_AIC, coco_aic, predictions_from_gt, val_dataset  # noqa: F401
from torch import nn

from posemix.errors import CheckpointError, ConfigError, PosemixError
from posemix.evaluation.per_source import build_evaluator
from posemix.models import HeatmapHead, KeypointMSELoss, load_pretrained
from posemix.models.heads import layouts_from_state_dict
from posemix.registry import MODELS


class _TwoChannels(nn.Module):
    """A 'backbone' that hands the image's first two channels to the head."""

    def forward(self, x):
        return (x[:, :2],)


class _Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return (self.conv(x),)


def multi_model(backbone=None, union=True, decoder=None, in_channels=4, **head_args):
    def head():
        return HeatmapHead(in_channels=in_channels, deconv_out_channels=None, decoder=decoder)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        return MODELS.build(dict(
            type="TopdownPoseEstimator", backbone=backbone or _Conv(), metainfo="coco_aic",
            head=dict(type="MultiSourceHead", heads=dict(coco=head(), aic=head()),
                      union=head() if union else None, **head_args),
            test_cfg=dict(flip_test=True)))


def test_sub_heads_are_sized_by_their_schemas():
    model = multi_model()
    heads = model.head
    assert heads.heads["coco"].final_layer.out_channels == 17
    assert heads.heads["aic"].final_layer.out_channels == 14
    assert heads.union.final_layer.out_channels == 19 and model.num_keypoints == 19
    np.testing.assert_array_equal(heads.union_index["aic"], AIC_IN_COCO_AIC)
    np.testing.assert_array_equal(heads.union_index["coco"], np.arange(17))
    x = torch.zeros(2, 3, 16, 12, dtype=torch.uint8)
    assert model(x).shape == (2, 19, 16, 12)  # the output head: union by default
    model.head.check_output_head("aic")
    assert model(x).shape == (2, 14, 16, 12)
    # MMPose-style keys: one module per head
    keys = set(model.state_dict())
    assert {"head.heads.coco.final_layer.weight", "head.heads.aic.final_layer.weight",
            "head.union.final_layer.weight", "head.layouts"} <= keys


@pytest.mark.parametrize("change, match", [
    (dict(loss_weights=dict(mpii=1.0)), "not one of its heads"),
    (dict(loss_weights=dict(coco=-1.0)), "finite number >= 0"),
    (dict(metainfo=dict(mpii="mpii")), "which have no head"),
])
def test_bad_head_configs(change, match):
    with pytest.raises(ConfigError, match=match):
        multi_model(**change)


def test_head_without_schema_and_model_without_metainfo_are_errors():
    head = dict(type="HeatmapHead", in_channels=4, deconv_out_channels=None)
    with pytest.raises(ConfigError, match="head 'lab': no keypoint schema.*metainfo=dict"):
        MODELS.build(dict(type="MultiSourceHead", heads=dict(lab=head)))
    with pytest.raises(ConfigError, match="needs the model's schema"):
        MODELS.build(dict(type="TopdownPoseEstimator", backbone=_Conv(), num_keypoints=17,
                          head=dict(type="MultiSourceHead", heads=dict(coco=head))))
    with pytest.raises(ConfigError, match="output_head='mpii' is not a head"):
        MODELS.build(dict(type="TopdownPoseEstimator", backbone=_Conv(), metainfo="coco",
                          head=dict(type="MultiSourceHead", heads=dict(coco=head)),
                          test_cfg=dict(output_head="mpii")))
    with pytest.raises(ConfigError, match="needs a MultiSourceHead"):
        MODELS.build(dict(type="TopdownPoseEstimator", backbone=_Conv(), metainfo="coco",
                          head=head, test_cfg=dict(output_head="coco")))


def _batch(sources, seed=0):
    """Union-layout targets (19 keypoints) for samples of the given sources."""
    gen = torch.Generator().manual_seed(seed)
    b = len(sources)
    inputs = torch.randint(0, 256, (b, 3, 8, 6), dtype=torch.uint8, generator=gen)
    targets = {"heatmaps": torch.rand(b, 19, 8, 6, generator=gen),
               "keypoint_weights": torch.ones(b, 19)}
    return inputs, targets, [dict(dataset_name=s) for s in sources]


def _grads(module):
    return torch.cat([p.grad.flatten() for p in module.parameters()])


def test_a_sample_trains_only_its_own_sources_head():
    torch.manual_seed(0)
    model = multi_model()
    inputs, targets, metas = _batch(["coco", "coco"])
    losses = model(inputs, targets, metas, mode="loss")
    assert {"loss_kpt/coco", "loss_kpt/aic", "loss_kpt/union", "acc_pose/coco"} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert float(_grads(model.head.heads["aic"]).abs().sum()) == 0.0  # no AIC sample
    assert float(_grads(model.head.heads["coco"]).abs().sum()) > 0.0
    assert float(_grads(model.head.union).abs().sum()) > 0.0


def test_changing_one_sources_targets_leaves_the_other_head_alone():
    torch.manual_seed(0)
    model = multi_model()
    inputs, targets, metas = _batch(["coco", "aic", "coco"])

    def head_grads(t):
        model.zero_grad()
        losses = model(inputs, t, metas, mode="loss")
        sum(v for k, v in losses.items() if k.startswith("loss")).backward()
        return _grads(model.head.heads["coco"]), _grads(model.head.heads["aic"])

    coco_before, aic_before = head_grads(targets)
    changed = dict(targets, heatmaps=targets["heatmaps"].clone())
    changed["heatmaps"][1] += 1.0  # the AIC sample's targets only
    coco_after, aic_after = head_grads(changed)
    torch.testing.assert_close(coco_after, coco_before)
    assert not torch.allclose(aic_after, aic_before)


def test_source_loss_reads_the_union_targets_at_the_sources_positions():
    torch.manual_seed(0)
    model = multi_model(loss_weights=dict(aic=2.0, union=0.0))
    inputs, targets, metas = _batch(["coco", "aic", "coco", "coco"])
    targets["keypoint_weights"][1, 8] = 0.0  # union 8: AIC keypoint 1 (right elbow)
    losses = model(inputs, targets, metas, mode="loss")
    feats = model.extract_feat(model.data_preprocessor(inputs))
    aic_pred = model.head.heads["aic"]([f[1:2] for f in feats])
    weights = torch.ones(1, 14)
    weights[0, 1] = 0.0
    expected = KeypointMSELoss(use_target_weight=True)(
        aic_pred, targets["heatmaps"][1:2, AIC_IN_COCO_AIC], weights)
    # the mean over its one sample, times its share of the batch (1/4) and its weight (2)
    torch.testing.assert_close(losses["loss_kpt/aic"], expected * 0.5)
    assert losses["loss_kpt/union"].item() == 0.0


def test_a_sample_of_a_source_without_head_is_an_error():
    model = multi_model()
    inputs, targets, metas = _batch(["coco", "mpii"])
    with pytest.raises(PosemixError, match=r"source\(s\) \['mpii'\] have no head"):
        model(inputs, targets, metas, mode="loss")


def test_flip_test_uses_each_heads_own_flip_partners():
    """Heatmap k of every head is image channel k % 2 (0 everywhere, 100 everywhere). The
    flip test averages k with its mirror partner: 50 for a left/right pair (partners differ
    in parity in COCO, AIC and the union), the channel itself for a centre keypoint."""
    model = multi_model(backbone=_TwoChannels(), in_channels=2, decoder=_ScoreDecoder())
    for head in [*model.head.heads.values(), model.head.union]:
        with torch.no_grad():
            head.final_layer.weight.zero_()
            head.final_layer.bias.zero_()
            for k in range(head.out_channels):
                head.final_layer.weight[k, k % 2] = 1.0
    model.eval()
    image = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    image[:, 1] = 100
    metas = [dict(input_size=(4, 4), input_center=np.zeros(2), input_scale=np.ones(2),
                  dataset_name=name) for name in ("coco", "aic")]
    coco, aic = model.predict(image, metas)
    assert set(coco["heads"]) == {"coco", "union"} and set(aic["heads"]) == {"aic", "union"}
    np.testing.assert_allclose(coco["heads"]["coco"]["keypoint_scores"], [[0] + [50] * 16])
    # AIC: 6 pairs, then head_top (12, even) and neck (13, odd) map to themselves
    np.testing.assert_allclose(aic["heads"]["aic"]["keypoint_scores"], [[50] * 12 + [0, 100]])
    # union: COCO's 17, then head_top (17, odd) and neck (18, even)
    union = [[0] + [50] * 16 + [100, 0]]
    np.testing.assert_allclose(coco["heads"]["union"]["keypoint_scores"], union)
    np.testing.assert_allclose(coco["keypoint_scores"], union)  # the output head
    model.head.check_output_head("aic")
    (first,) = model.predict(image[:1], metas[1:])
    assert first["keypoints"].shape == (1, 14, 2)


def _head_predictions(dataset, union_noise):
    """Per-head predictions: each source's own head exact, the union head noisy."""
    clean, metas = predictions_from_gt(dataset)
    noisy, _ = predictions_from_gt(dataset, noise=union_noise)
    preds = []
    for pred, bad, meta in zip(clean, noisy, metas, strict=True):
        own = "coco" if meta["source_index"] == 0 else "aic"
        index = np.arange(17) if own == "coco" else np.array(AIC_IN_COCO_AIC)
        preds.append(dict(bad, heads={
            own: dict(keypoints=pred["keypoints"][:, index],
                      keypoint_scores=pred["keypoint_scores"][:, index]),
            "union": bad}))
    return preds, metas


def test_evaluation_scores_each_source_through_its_own_head_and_the_union(val_dataset,  # noqa: F811
                                                                          coco_aic):  # noqa: F811
    model = multi_model()
    evaluator = build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic,
                                heads=model.head.output_schemas())
    assert [(s.name, s.head) for s in evaluator.sources] == [
        ("coco", "coco"), ("coco", "union"), ("aic", "aic"), ("aic", "union")]
    np.testing.assert_array_equal(evaluator.sources[2].output_index, np.arange(14))
    preds, metas = _head_predictions(val_dataset, union_noise=6.0)
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    assert results["coco/AP"] == pytest.approx(1.0)
    assert results["aic/AP"] == pytest.approx(1.0)
    assert results["union/aic/AP"] < 0.9  # the noisy union head, in AIC's own sigmas
    assert set(results) >= {"union/coco/AP", "union/aic/AP"}
    with pytest.raises(ConfigError, match="source 'aic': the model has no head for it"):
        build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic,
                        heads={"coco": model.head.schemas["coco"]})


def test_checkpoint_round_trip_records_heads_and_schemas(tmp_path):
    torch.manual_seed(0)
    model = multi_model()
    path = tmp_path / "model.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    layouts = layouts_from_state_dict(torch.load(path, weights_only=True)["state_dict"])
    assert {n: s.num_keypoints for n, s in layouts.items()} == {"coco": 17, "aic": 14,
                                                               "union": 19}
    assert layouts["aic"].keypoints[12:] == ("head_top", "neck")
    assert layouts["aic"].flip_indices == model.head.schemas["aic"].flip_indices
    torch.manual_seed(1)
    fresh = multi_model()
    report = load_pretrained(fresh, path)  # the path `posemix test` loads weights by
    assert report.clean, report
    x = torch.randint(0, 256, (1, 3, 8, 6), dtype=torch.uint8)
    for name in ("coco", "aic", "union"):
        model.head.check_output_head(name)
        fresh.head.check_output_head(name)
        torch.testing.assert_close(fresh(x), model(x))
    other = multi_model(metainfo=dict(aic="coco"))  # an 'aic' head in another layout
    with pytest.raises(CheckpointError, match="differ from the config's"):
        other.load_state_dict(torch.load(io.BytesIO(path.read_bytes()),
                                         weights_only=True)["state_dict"])
