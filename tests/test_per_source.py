"""Per-source evaluation of a combined model: each source in its own layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from posemix.data.combined import CombinedDataset
from posemix.errors import ConfigError
from posemix.evaluation.per_source import build_evaluator, output_indices_for
from posemix.keypoints import load_schema

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


def test_output_subsets_derived_from_names(coco_aic):
    np.testing.assert_array_equal(output_indices_for(load_schema("coco"), coco_aic, "x"),
                                  np.arange(17))  # the 17 COCO channels in COCO order
    np.testing.assert_array_equal(output_indices_for(load_schema("aic"), coco_aic, "x"),
                                  AIC_IN_COCO_AIC)


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


def test_a_source_the_model_cannot_predict_is_named(val_dataset, coco_aic):
    with pytest.raises(ConfigError, match=r"source 'aic'.*no keypoint for \['head_top', 'neck'\]"):
        build_evaluator(dict(type="CocoMetric"), val_dataset, coco_aic,
                        output_keypoint_indices=list(range(17)))


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
