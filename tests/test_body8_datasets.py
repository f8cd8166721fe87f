"""The body8 sources read from their real formats (tests/data/fixtures), built from config
dicts as MMPose's body8 configs write them, converted into COCO-17 or Halpe-26 (reference
section 8), decoded through the training pipeline (PNG frames too), and scored by the
eight-set evaluator."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from posemix.data.combined import CombinedDataset
from posemix.errors import AnnotationError
from posemix.evaluation.per_source import build_evaluator
from posemix.keypoints import load_schema
from posemix.registry import DATASETS
from posemix.transforms import Compose, DeferredImage, LoadImage

# Reference section 8.1: (source index, COCO slot) per body8 source
TO_COCO = {
    "aic": [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
            (9, 11), (10, 13), (11, 15)],
    "crowdpose": [(i, i + 5) for i in range(12)],
    "mpii": [(0, 16), (1, 14), (2, 12), (3, 11), (4, 13), (5, 15), (10, 10), (11, 8),
             (12, 6), (13, 5), (14, 7), (15, 9)],
    "jhmdb": [(3, 6), (4, 5), (5, 12), (6, 11), (7, 8), (8, 7), (9, 14), (10, 13),
              (11, 10), (12, 9), (13, 16), (14, 15)],
    "posetrack18": [(0, 0), (3, 3), (4, 4)] + [(i, i) for i in range(5, 17)],
    "halpe": [(i, i) for i in range(17)],
    "ochuman": [(i, i) for i in range(17)],
}
# Reference section 8.4: COCO-WholeBody into Halpe-26 (feet included)
WHOLEBODY_TO_HALPE26 = [(i, i) for i in range(17)] + [(17, 20), (18, 22), (19, 24), (20, 21),
                                                      (21, 23), (22, 25)]


def source_cfgs(fixtures_dir) -> dict[str, dict]:
    """The eight body8 val sets, as configs (data_mode, ann_file, data_prefix, converter)."""
    f = fixtures_dir

    def cfg(kind, root, ann, img, name):
        convert = [dict(type="KeypointConverter", num_keypoints=17, mapping=TO_COCO[name])] \
            if name in TO_COCO else []
        return dict(type=kind, data_root=str(f / root), data_mode="topdown", ann_file=ann,
                    data_prefix=dict(img=img), test_mode=True, pipeline=convert)

    return {
        "coco": cfg("CocoDataset", "coco", "test_coco.json", "", "coco"),
        "aic": cfg("AicDataset", "aic", "test_aic.json", "", "aic"),
        "crowdpose": cfg("CrowdPoseDataset", "crowdpose", "test_crowdpose.json", "",
                         "crowdpose"),
        "mpii": cfg("MpiiDataset", "mpii", "test_mpii.json", "", "mpii"),
        "jhmdb": cfg("JhmdbDataset", "jhmdb", "Sub1_test.json", "", "jhmdb"),
        "halpe": cfg("HalpeDataset", "halpe", "halpe_train_v1.json", "", "halpe"),
        "ochuman": cfg("OCHumanDataset", "ochuman",
                       "ochuman_coco_format_val_range_0.00_1.00.json", "images/", "ochuman"),
        "posetrack18": cfg("PoseTrack18Dataset", "posetrack18", "posetrack18_val.json", "",
                           "posetrack18"),
    }


@pytest.fixture(scope="module")
def body8_val(fixtures_dir) -> CombinedDataset:
    return CombinedDataset(metainfo=dict(from_file="configs/_base_/datasets/coco.py"),
                           datasets=list(source_cfgs(fixtures_dir).values()),
                           pipeline=[dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                                     dict(type="TopdownAffine", input_size=(48, 64)),
                                     dict(type="PackPoseInputs")],
                           test_mode=True)


def _raw(path) -> dict:
    return json.loads(path.read_text())


def test_each_source_reads_its_real_format(body8_val, fixtures_dir):
    counts = dict(zip(body8_val.source_names, body8_val.original_lens, strict=True))
    assert body8_val.source_names == ["coco", "aic", "crowdpose", "mpii", "jhmdb", "halpe",
                                      "ochuman", "posetrack18"]
    assert {k: counts[k] for k in ("jhmdb", "halpe", "ochuman", "posetrack18")} == dict(
        jhmdb=2, halpe=3, ochuman=3, posetrack18=3)
    schemas = {name: d.schema.num_keypoints
               for name, d in zip(body8_val.source_names, body8_val.datasets, strict=True)}
    assert schemas == dict(coco=17, aic=14, crowdpose=14, mpii=16, jhmdb=15, halpe=136,
                           ochuman=17, posetrack18=17)


def test_jhmdb_is_shifted_to_zero_based(body8_val, fixtures_dir):
    jhmdb = body8_val.datasets[4]
    ann = _raw(fixtures_dir / "jhmdb" / "Sub1_test.json")["annotations"][0]
    raw = np.array(ann["keypoints"], np.float32).reshape(15, 3)
    np.testing.assert_allclose(jhmdb.table.keypoints[0], raw[:, :2] - 1, atol=1e-5)
    x, y, w, h = ann["bbox"]
    np.testing.assert_allclose(jhmdb.table.bbox[0], [x - 1, y - 1, x - 1 + w, y - 1 + h],
                               atol=1e-4)
    # in the COCO layout: left_shoulder (slot 5) is JHMDB's 4, the eyes stay unlabelled
    info = body8_val.get_data_info(int(body8_val.cumulative[3]))
    np.testing.assert_allclose(info["keypoints"][0, 5], raw[4, :2] - 1, atol=1e-5)
    assert info["keypoints_visible"][0, :5].tolist() == [0, 0, 0, 0, 0]


def test_posetrack18_maps_nose_and_ears_only_of_the_head(body8_val, fixtures_dir):
    first = int(body8_val.cumulative[6])
    info = body8_val.get_data_info(first)
    raw = np.array(_raw(fixtures_dir / "posetrack18" / "posetrack18_val.json")
                   ["annotations"][0]["keypoints"]).reshape(17, 3)
    assert info["keypoints_visible"][0, :5].tolist() == [1, 0, 0, 1, 1]
    np.testing.assert_allclose(info["keypoints"][0, [0, 3, 4]], raw[[0, 3, 4], :2], atol=1e-4)
    assert info["img_path"].endswith("images/val/000342_mpii_test/000000.jpg")


def test_every_val_sample_decodes(body8_val):
    """The first sample of each source decodes; MPII's reader sets the box centre and scale
    itself, so GetBBoxCenterScale warns (as MMPose does) for it and for no other source."""
    warned = []
    for index in np.r_[0, body8_val.cumulative[:-1]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sample = body8_val[int(index)]
        assert tuple(sample["inputs"].shape) == (3, 64, 48)
        source = body8_val.source_names[body8_val.locate(int(index))[0]]
        warned += [source for w in caught if "already set" in str(w.message)]
    assert warned == ["mpii"]


def test_png_frames_fall_back_to_full_decoding_in_training(fixtures_dir):
    """Crop-first decoding is for JPEG; a PNG frame is decoded in full, and the training
    crop equals the one of a pipeline that never defers."""
    cfg = source_cfgs(fixtures_dir)["jhmdb"]
    steps = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
             dict(type="RandomFlip", prob=1.0), dict(type="TopdownAffine", input_size=(48, 64))]
    train = DATASETS.build({**cfg, "test_mode": False, "pipeline": steps})
    assert train.pipeline.transforms[0]._defer  # crop-first is on for this pipeline
    eager = Compose([dict(type="LoadImage", crop_first=False), *steps[1:]])
    info = train.get_data_info(0)
    loaded = LoadImage(crop_first=True)(dict(info))
    assert isinstance(loaded["img"], np.ndarray) and not isinstance(loaded["img"], DeferredImage)
    crop = train[0]["img"]
    info["rng"] = np.random.default_rng(0)
    assert np.array_equal(crop, eager(info)["img"])


def test_coco_wholebody_joins_the_five_parts_in_mmpose_order(fixtures_dir):
    dataset = DATASETS.build(dict(
        type="CocoWholeBodyDataset", data_root=str(fixtures_dir), data_mode="topdown",
        ann_file="coco_wholebody/coco_wholebody_val_v1.0.json",
        data_prefix=dict(img="coco/"), test_mode=True))
    ann = _raw(fixtures_dir / "coco_wholebody" / "coco_wholebody_val_v1.0.json")["annotations"][0]
    assert dataset.table.keypoints.shape == (3, 133, 2)
    np.testing.assert_allclose(dataset.table.keypoints[0, 17:23],
                               np.array(ann["foot_kpts"]).reshape(6, 3)[:, :2])
    assert dataset.table.visibility[0, 17:23].tolist() == [2] * 6
    assert not dataset.table.visibility[0, 23:].any()  # face and hands unlabelled

    halpe26 = CombinedDataset(
        metainfo=dict(from_file="configs/_base_/datasets/halpe26.py"), test_mode=True,
        datasets=[dict(type="CocoWholeBodyDataset", data_root=str(fixtures_dir),
                       ann_file="coco_wholebody/coco_wholebody_val_v1.0.json",
                       data_prefix=dict(img="coco/"), test_mode=True,
                       pipeline=[dict(type="KeypointConverter", num_keypoints=26,
                                      mapping=WHOLEBODY_TO_HALPE26)])])
    info = halpe26.get_data_info(0)
    feet = np.array(ann["foot_kpts"]).reshape(6, 3)[:, :2]
    # halpe26 slots 20-25: left big toe, right big toe, left small toe, right small toe,
    # left heel, right heel
    np.testing.assert_allclose(info["keypoints"][0, 20:26], feet[[0, 3, 1, 4, 2, 5]])
    assert info["keypoints_visible"][0, 17:20].tolist() == [0, 0, 0]  # head, neck, hip


def test_coco_wholebody_record_without_a_part_is_named(tmp_path, fixtures_dir):
    data = _raw(fixtures_dir / "coco_wholebody" / "coco_wholebody_val_v1.0.json")
    del data["annotations"][1]["lefthand_kpts"]
    path = tmp_path / "wb.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"annotations\[1\].*lefthand_kpts.*63 numbers"):
        DATASETS.build(dict(type="CocoWholeBodyDataset", ann_file=str(path), cache=False))


def test_coco_wholebody_metainfo_flips_feet_face_and_hands():
    schema = load_schema("coco_wholebody")
    flip = schema.flip_indices
    assert flip[17:23] == [20, 21, 22, 17, 18, 19]
    assert flip[23] == 39 and flip[31] == 31  # face-0 <-> face-16; face-8 is on the axis
    assert flip[91] == 112 and flip[132] == 111  # hand roots and pinky tips swap sides
    assert schema.sigmas[17] == pytest.approx(0.068) and schema.sigmas[91] == pytest.approx(0.029)


def test_the_eight_set_evaluator_pools_and_scores_each_source(body8_val):
    """body8's test_evaluator: PCK@0.1, AUC and EPE pooled over eight sets in COCO-17, and
    per source in its own layout, partial where COCO-17 lacks its keypoints."""
    model = load_schema("coco")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluator = build_evaluator([dict(type="PCKAccuracy", thr=0.1), dict(type="AUC"),
                                     dict(type="EPE")], body8_val, model)
    notes = {n.split(":")[0]: n for n in evaluator.notes}
    assert set(notes) == {"aic", "crowdpose", "mpii", "jhmdb", "halpe", "posetrack18"}
    assert "mpii: partial, scored on 12 of 16 keypoints" in notes["mpii"]
    assert "halpe: partial, scored on 17 of 136" in notes["halpe"]
    assert notes["halpe"].endswith("'face-1', 'face-2'] and 107 more")  # 12 of 119 named
    assert "['head_bottom', 'head_top']" in notes["posetrack18"]
    assert len(caught) >= 6
    preds, metas = [], []
    for i in range(len(body8_val)):
        info = body8_val.get_data_info(i)
        preds.append(dict(keypoints=info["keypoints"] + [2.0, 0.0],
                          keypoint_scores=np.ones((1, 17))))
        metas.append(dict(id=info["id"], img_id=info["img_id"], bbox=info["bbox"][0],
                          input_scale=np.ones(2), source_index=info["source_index"],
                          keypoints=info["keypoints"][0],
                          keypoints_visible=info["keypoints_visible"][0]))
    evaluator.process(preds, metas)
    results = evaluator.evaluate()
    assert results["EPE"] == pytest.approx(2.0)
    assert results["AUC"] == pytest.approx(19 / 20 - 1 / 20)  # 2/30 misses t = 0 and 0.05
    for name in body8_val.source_names:
        assert results[f"{name}/EPE"] == pytest.approx(2.0)
    assert "mpii/PCK/pelvis" not in results and "mpii/PCK/left_knee" in results
    assert results["mpii/scored_keypoints"] == 12.0 and results["halpe/scored_keypoints"] == 17
    assert "coco/scored_keypoints" not in results and "scored_keypoints" not in results
