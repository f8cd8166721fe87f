"""Per-source evaluation of a combined model: each source in its own layout (partial where
the model lacks keypoints), and the pooled PCK/AUC/EPE of MMPose's body8 evaluator."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from posemix.data.combined import CombinedDataset
from posemix.errors import ConfigError
from posemix.evaluation.per_source import build_evaluator
from posemix.keypoints import load_schema
from posemix.registry import DATASETS

AIC_IN_COCO_AIC = [6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 17, 18]


@pytest.fixture(scope="module")
def coco_aic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_schema("coco_aic")


@pytest.fixture(scope="module")
def val_dataset(fixtures_dir, coco_aic) -> CombinedDataset:
    by_name = [dict(type="KeypointConverter", mapping="by_name")]
    return CombinedDataset(
        metainfo=coco_aic,
        datasets=[
            dict(type="CocoDataset", data_root=str(fixtures_dir / "coco"),
                 ann_file="test_coco.json", test_mode=True, pipeline=by_name),
            dict(type="AicDataset", data_root=str(fixtures_dir / "aic"),
                 ann_file="test_aic.json", test_mode=True, pipeline=by_name),
        ],
        test_mode=True)


def predictions_from_gt(dataset, noise=0.0, seed=0):
    """Model-layout predictions equal to the GT (plus noise), with the metas a batch carries."""
    rng = np.random.default_rng(seed)
    preds, metas = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        bbox = info["bbox"][0]
        size = (bbox[2:] - bbox[:2]) * 1.25
        shape = info["keypoints"].shape
        preds.append(dict(keypoints=info["keypoints"] + rng.normal(0, noise, shape),
                          keypoint_scores=np.ones(shape[:2])))
        metas.append(dict(id=info["id"], img_id=info["img_id"], bbox=bbox, bbox_score=1.0,
                          input_scale=size, source_index=info["source_index"],
                          keypoints=info["keypoints"][0],
                          keypoints_visible=info["keypoints_visible"][0]))
    return preds, metas


def test_output_subsets_derived_from_names(val_dataset, coco_aic):
    coco, aic = build_evaluator(dict(type="PCKAccuracy"), val_dataset, coco_aic).sources
    np.testing.assert_array_equal(coco.output_index, np.arange(17))  # COCO channels, in order
    np.testing.assert_array_equal(aic.output_index, AIC_IN_COCO_AIC)
    np.testing.assert_array_equal(aic.gt_index, AIC_IN_COCO_AIC)  # where the samples carry it
    assert not coco.missing and not aic.missing


def test_perfect_predictions_score_one_on_every_source(val_dataset, coco_aic):
    evaluator = build_evaluator([dict(type="CocoMetric"), dict(type="PCKAccuracy", thr=0.1)],
                                val_dataset, coco_aic)
    assert [s.name for s in evaluator.sources] == ["coco", "aic"]
    preds, metas = predictions_from_gt(val_dataset)
    evaluator.process(preds[:10], metas[:10])
    evaluator.process(preds[10:], metas[10:])
    results = evaluator.evaluate()
    assert results["coco/AP"] == pytest.approx(1.0)
    assert results["aic/AP"] == pytest.approx(1.0)
    assert results["coco/PCK"] == pytest.approx(1.0)
    assert results["aic/PCK/head_top"] == pytest.approx(1.0)
    assert "coco/PCK/head_top" not in results  # scored in COCO's own layout


def test_noisy_predictions_lower_each_source_separately(val_dataset, coco_aic):
    evaluator = build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic)
    preds, metas = predictions_from_gt(val_dataset, noise=6.0)
    # perturb AIC only: COCO stays perfect
    clean, _ = predictions_from_gt(val_dataset)
    preds = clean[:12] + preds[12:]
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    assert results["coco/AP"] == pytest.approx(1.0)
    assert results["aic/AP"] < 0.9  # AIC's sigmas are small: 6 px of noise costs AP


def test_a_source_missing_model_keypoints_is_scored_partially(val_dataset, coco_aic):
    with pytest.warns(UserWarning, match=r"aic: partial, scored on 12 of 14 keypoints; not "
                                         r"scored: \['head_top', 'neck'\]"):
        evaluator = build_evaluator([dict(type="CocoMetric"), dict(type="PCKAccuracy", thr=0.1)],
                                    val_dataset, coco_aic, output_keypoint_indices=range(17))
    coco, aic = evaluator.sources
    assert aic.missing == ("head_top", "neck") and aic.schema.num_keypoints == 12
    assert evaluator.notes == [aic.note] and not coco.note
    # AIC's own sigmas for the 12 shared keypoints, in AIC's order
    np.testing.assert_array_equal(aic.schema.sigmas, load_schema("aic").sigmas[:12])
    preds, metas = predictions_from_gt(val_dataset)
    preds = [dict(p, keypoints=p["keypoints"][:, :17], keypoint_scores=p["keypoint_scores"][:, :17])
             for p in preds]
    # push AIC's left wrist (COCO slot 9) 1000 px away: that keypoint scores 0
    for pred, meta in zip(preds, metas, strict=True):
        if meta["source_index"] == 1:
            pred["keypoints"] = pred["keypoints"].copy()
            pred["keypoints"][:, 9] += 1000
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    assert results["coco/PCK"] == pytest.approx(1.0)
    assert results["aic/PCK/left_wrist"] == 0.0
    labelled = [k for k in aic.schema.keypoints if f"aic/PCK/{k}" in results]
    assert len(labelled) == 12  # every shared keypoint is labelled in the fixture
    assert results["aic/PCK"] == pytest.approx(11 / 12)
    assert "aic/PCK/head_top" not in results
    assert 0 < results["aic/AP"] < 1  # OKS over the 12 shared keypoints, one of them wrong
    # the results say the source is partial (notes name the two left out); COCO is whole
    assert results["aic/scored_keypoints"] == 12.0 and "coco/scored_keypoints" not in results


def test_partial_oks_ap_reads_a_gt_file_of_the_shared_keypoints(val_dataset, coco_aic):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic,
                                    output_keypoint_indices=range(17))
    gt = json.loads(Path(evaluator.sources[1].metrics[0].ann_file).read_text())
    assert gt["categories"][0]["keypoints"] == list(load_schema("aic").keypoints[:12])
    assert {len(a["keypoints"]) for a in gt["annotations"]} == {36}
    preds, metas = predictions_from_gt(val_dataset)
    evaluator.process([dict(keypoints=p["keypoints"][:, :17],
                            keypoint_scores=p["keypoint_scores"][:, :17]) for p in preds], metas)
    results = evaluator.evaluate()
    assert results["aic/AP"] == pytest.approx(1.0) and results["coco/AP"] == pytest.approx(1.0)


def test_a_source_sharing_no_keypoint_is_refused(val_dataset, coco_aic):
    # nose, eyes and ears only: AIC labels none of them
    with pytest.raises(ConfigError, match=r"source 'aic': none of its keypoints .* nothing to "
                                          r"score"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_evaluator(dict(type="PCKAccuracy"), val_dataset, coco_aic,
                        output_keypoint_indices=range(5))


def test_pooled_pck_auc_epe_over_the_combined_layout(val_dataset, coco_aic):
    """MMPose's body8 evaluator: every source in the combined layout, pooled."""
    cfg = [dict(type="PCKAccuracy", thr=0.1), dict(type="AUC"), dict(type="EPE")]
    evaluator = build_evaluator(cfg, val_dataset, coco_aic)
    preds, metas = predictions_from_gt(val_dataset)
    for pred in preds:  # every prediction 4 px right of its GT
        pred["keypoints"] = pred["keypoints"] + [4.0, 0.0]
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    # EPE: exactly 4 px everywhere. AUC: 4/30 = 0.133 is below 17 of the 20 thresholds
    # (0.15 ... 0.95). PCK@0.1: every GT box is larger than 40 px, so 4 px is a hit.
    sizes = [np.max(np.subtract(m["bbox"][2:], m["bbox"][:2])) for m in metas]
    assert min(sizes) > 40
    assert results["EPE"] == pytest.approx(4.0)
    assert results["AUC"] == pytest.approx(17 / 20)
    assert results["PCK"] == pytest.approx(1.0)
    # per source too, in each source's own layout
    assert results["coco/EPE"] == pytest.approx(4.0) and results["aic/EPE"] == pytest.approx(4.0)
    assert results["aic/AUC"] == pytest.approx(17 / 20)
    # the pooled PCK covers the union's 19 keypoints: head_top and neck come from AIC alone
    assert "PCK/head_top" in results and "PCK/nose" in results


def test_pooled_epe_weighs_sources_by_their_labelled_pairs(val_dataset, coco_aic):
    evaluator = build_evaluator(dict(type="EPE"), val_dataset, coco_aic)
    preds, metas = predictions_from_gt(val_dataset)
    for pred, meta in zip(preds, metas, strict=True):  # AIC 10 px off, COCO exact
        if meta["source_index"] == 1:
            pred["keypoints"] = pred["keypoints"] + [0.0, 10.0]
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    pairs = [int((np.asarray(m["keypoints_visible"]) > 0).sum()) for m in metas]
    aic_pairs = sum(p for p, m in zip(pairs, metas, strict=True) if m["source_index"] == 1)
    assert results["EPE"] == pytest.approx(10.0 * aic_pairs / sum(pairs))
    assert results["coco/EPE"] == 0.0 and results["aic/EPE"] == pytest.approx(10.0)


def test_output_keypoint_indices_reorder_the_model_layout(coco_aic, fixtures_dir):
    """A model whose outputs come in a shuffled order of coco_aic's 19 keypoints: output k
    is keypoint order[k]. COCO keypoint j must be read from the output where order == j."""
    coco_only = CombinedDataset(metainfo="coco", datasets=[dict(
        type="CocoDataset", data_root=str(fixtures_dir / "coco"), ann_file="test_coco.json",
        test_mode=True)], test_mode=True)
    order = np.random.default_rng(0).permutation(19)
    assert (order[:17] != np.arange(17)).any()
    evaluator = build_evaluator(dict(type="CocoMetric"), coco_only, coco_aic,
                                output_keypoint_indices=order.tolist())
    expected = [int(np.flatnonzero(order == j)[0]) for j in range(17)]
    np.testing.assert_array_equal(evaluator.sources[0].output_index, expected)
    preds, metas = predictions_from_gt(coco_only)  # exact, in COCO's 17-keypoint layout
    for pred in preds:  # to the model's 19, then to its output order
        model = np.concatenate([pred["keypoints"], np.zeros((1, 2, 2))], axis=1)
        pred["keypoints"] = model[:, order]
        pred["keypoint_scores"] = np.ones((1, 19))
    evaluator.process(preds, metas)
    assert evaluator.evaluate()["coco/AP"] == pytest.approx(1.0)
    # the same outputs read as if they were in the model's order score far lower
    unordered = build_evaluator(dict(type="CocoMetric"), coco_only, coco_aic)
    unordered.process(preds, metas)
    assert unordered.evaluate()["coco/AP"] < 0.5


def test_native_aic_val_is_scored_like_its_coco_layout_twin(fixtures_dir, coco_aic):
    """The native AIC file is a list of records: its GT is exported from the table."""
    by_name = [dict(type="KeypointConverter", mapping="by_name")]
    results = []
    for ann_file, root in (("test_aic.json", "aic"),
                           ("keypoint_sample_annotations.json", "aic_native")):
        dataset = CombinedDataset(metainfo=coco_aic, test_mode=True, datasets=[dict(
            type="AicDataset", data_root=str(fixtures_dir / root), ann_file=ann_file,
            data_prefix=dict(img=str(fixtures_dir / "aic")), test_mode=True, pipeline=by_name)])
        evaluator = build_evaluator(dict(type="CocoMetric"), dataset, coco_aic)
        preds, metas = predictions_from_gt(dataset, noise=3.0, seed=5)
        evaluator.process(preds, metas)
        results.append(evaluator.evaluate())
    assert results[0]["aic/AP"] < 1.0
    assert results[0] == pytest.approx(results[1])


def test_partial_gt_keeps_the_areas_of_a_coco_layout_file(val_dataset, coco_aic, fixtures_dir):
    """OKS of a partial source is scaled as in its own file: COCO's areas, AIC's 0.53·w·h."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic,
                                    output_keypoint_indices=range(5, 17))  # no face points
    coco, aic = (json.loads(Path(s.metrics[0].ann_file).read_text()) for s in evaluator.sources)
    own = json.loads((fixtures_dir / "coco" / "test_coco.json").read_text())
    areas = {a["id"]: a["area"] for a in own["annotations"]}
    assert coco["categories"][0]["keypoints"] == list(load_schema("coco").keypoints[5:])
    for ann in coco["annotations"]:
        assert ann["area"] == pytest.approx(areas[ann["id"]])
    for ann in aic["annotations"]:  # no area in test_aic.json: 0.53 of the box
        assert ann["area"] == pytest.approx(0.53 * ann["bbox"][2] * ann["bbox"][3], rel=1e-6)


def test_a_single_dataset_with_a_converter_is_scored_where_it_maps(fixtures_dir, coco_aic):
    """Outside a CombinedDataset the samples carry the converter's layout (here AIC's 14
    keypoints written into COCO-AIC's 19 slots by explicit pairs)."""
    pairs = [(int(s), int(t)) for s, t in enumerate(AIC_IN_COCO_AIC)]
    dataset = DATASETS.build(dict(
        type="AicDataset", data_root=str(fixtures_dir / "aic"), ann_file="test_aic.json",
        test_mode=True, pipeline=[dict(type="KeypointConverter", num_keypoints=19,
                                       mapping=pairs)]))
    evaluator = build_evaluator(dict(type="EPE"), dataset, coco_aic)
    np.testing.assert_array_equal(evaluator.sources[0].gt_index, AIC_IN_COCO_AIC)
    info = dataset.converter(dataset.get_data_info(0))
    evaluator.process([dict(keypoints=info["keypoints"] + [0.0, 3.0],
                            keypoint_scores=np.ones((1, 19)))],
                      [dict(id=info["id"], img_id=info["img_id"], bbox=info["bbox"][0],
                            input_scale=np.ones(2), keypoints=info["keypoints"][0],
                            keypoints_visible=info["keypoints_visible"][0])])
    assert evaluator.evaluate() == {"aic/EPE": pytest.approx(3.0)}
