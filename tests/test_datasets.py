"""Per-source dataset classes: MMPose's constructor semantics, sample dicts, pipelines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from posemix.data import (
    AicDataset,
    CocoDataset,
    CrowdPoseDataset,
    CustomCocoDataset,
    JhmdbDataset,
    MpiiDataset,
    sample_rng,
)
from posemix.errors import AnnotationError, ConfigError, MetainfoError, PosemixError
from posemix.keypoints import KeypointConverter
from posemix.registry import DATASETS

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


@pytest.fixture(scope="module")
def coco_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "coco"


@pytest.fixture(scope="module")
def coco(coco_dir: Path) -> CocoDataset:
    return CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                       data_prefix=dict(img=str(coco_dir) + "/"))


def test_all_types_are_registered_with_mmpose_names() -> None:
    for name in ("BaseCocoStyleDataset", "CocoDataset", "AicDataset", "MpiiDataset",
                 "CrowdPoseDataset", "HalpeDataset", "OCHumanDataset", "PoseTrack18Dataset",
                 "JhmdbDataset", "CustomCocoDataset"):
        assert name in DATASETS


@pytest.mark.parametrize(("name", "schema", "k"), [
    ("CocoDataset", "coco", 17), ("AicDataset", "aic", 14), ("MpiiDataset", "mpii", 16),
    ("CrowdPoseDataset", "crowdpose", 14), ("HalpeDataset", "halpe", 136),
    ("OCHumanDataset", "ochuman", 17), ("PoseTrack18Dataset", "posetrack18", 17),
    ("JhmdbDataset", "jhmdb", 15),
])
def test_default_metainfo_per_class(name: str, schema: str, k: int) -> None:
    dataset = DATASETS.build(dict(type=name, lazy_init=True))
    assert dataset.schema.name == schema and dataset.schema.num_keypoints == k


def test_coco_sample_dict(coco: CocoDataset, coco_dir: Path) -> None:
    assert len(coco) == 12
    info = coco.get_data_info(1)
    assert info["img_path"] == str(coco_dir / "000000040083.jpg")
    assert (info["img_id"], info["id"], info["ori_shape"]) == (40083, 198196, (333, 500))
    np.testing.assert_array_equal(info["bbox"], np.float32([[38.08, 110.95, 212.79, 285.66]]))
    assert info["bbox"].dtype == np.float32 and info["bbox_score"].tolist() == [1.0]
    assert info["keypoints"].shape == (1, 17, 2) and info["keypoints"].dtype == np.float32
    # annotation 198196: keypoints 3, 7, 10 unlabelled; 11, 12, 16 occluded (v = 1)
    visible = np.ones(17, np.float32)
    visible[[3, 7, 10]] = 0
    np.testing.assert_array_equal(info["keypoints_visible"], visible[None])
    assert np.flatnonzero(info["keypoints_occluded"][0]).tolist() == [11, 12, 16]
    assert info["keypoints_occluded"].dtype == bool
    np.testing.assert_array_equal(info["keypoints_defined"], np.ones((1, 17), np.float32))
    assert info["area"] == np.float32(11025.219)
    assert (info["category_id"], info["num_keypoints"], info["iscrowd"]) == (1, 14, 0)
    assert info["flip_indices"] == COCO_FLIP
    assert info["upper_body_ids"] == list(range(11))
    assert info["lower_body_ids"] == list(range(11, 17))
    assert info["dataset_keypoint_weights"].shape == (17,)
    assert info["skeleton_links"][0] == (15, 13)
    assert (info["dataset_name"], info["sample_idx"]) == ("coco", 1)


def test_sample_dicts_are_independent_copies(coco: CocoDataset) -> None:
    info = coco.get_data_info(0)
    info["keypoints"][:] = -1
    info["flip_indices"].append(99)
    again = coco.get_data_info(0)
    assert again["keypoints"].max() > 0 and again["flip_indices"] == COCO_FLIP
    assert coco.get_data_info(-1)["id"] == coco.get_data_info(11)["id"]
    with pytest.raises(IndexError):
        coco.get_data_info(12)


def test_data_root_joins_ann_file_and_prefix(coco_dir: Path) -> None:
    dataset = DATASETS.build(dict(type="CocoDataset", data_root=str(coco_dir),
                                  ann_file="test_coco.json", data_prefix=dict(img="")))
    assert dataset.ann_file == os.path.join(str(coco_dir), "test_coco.json")
    assert dataset.get_data_info(0)["img_path"] == os.path.join(str(coco_dir),
                                                                "000000000785.jpg")


def test_data_mode_checks(coco_dir: Path) -> None:
    with pytest.raises(ConfigError, match="'bottomup' is not supported"):
        CocoDataset(ann_file=str(coco_dir / "test_coco.json"), data_mode="bottomup")
    with pytest.raises(ConfigError, match="invalid data_mode 'sideways'"):
        CocoDataset(ann_file=str(coco_dir / "test_coco.json"), data_mode="sideways")


def test_bbox_file_needs_test_mode(coco_dir: Path) -> None:
    with pytest.raises(ConfigError, match="bbox_file is only supported when test_mode=True"):
        CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                    bbox_file=str(coco_dir / "test_coco_det_AP_H_56.json"))


def test_bbox_file_in_test_mode(coco_dir: Path) -> None:
    dets = json.loads((coco_dir / "test_coco_det_AP_H_56.json").read_text())
    dataset = CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                          bbox_file=str(coco_dir / "test_coco_det_AP_H_56.json"),
                          data_prefix=dict(img="imgs/"), test_mode=True)
    assert len(dataset) == 118
    info = dataset.get_data_info(5)
    x, y, w, h = np.float32(dets[5]["bbox"])
    np.testing.assert_array_equal(info["bbox"], [[x, y, x + w, y + h]])
    assert info["bbox_score"] == np.float32(dets[5]["score"])
    assert info["id"] == 5 and info["img_id"] == dets[5]["image_id"]
    assert info["img_path"].startswith("imgs/")
    assert not info["keypoints"].any() and info["keypoints_visible"].all()
    # filter_cfg drops detections below the score threshold
    kept = CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                       bbox_file=str(coco_dir / "test_coco_det_AP_H_56.json"),
                       filter_cfg=dict(bbox_score_thr=0.3), test_mode=True)
    assert len(kept) == sum(d["score"] >= np.float32(0.3) for d in dets)
    assert (kept.table.bbox_score >= 0.3).all()


def test_crowdpose_bbox_file(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "crowdpose"
    dataset = CrowdPoseDataset(ann_file=str(folder / "test_crowdpose.json"),
                               bbox_file=str(folder / "test_crowdpose_det_AP_40.json"),
                               test_mode=True)
    assert len(dataset) == 6 and dataset.get_data_info(0)["keypoints"].shape == (1, 14, 2)
    gt = CrowdPoseDataset(ann_file=str(folder / "test_crowdpose.json"))
    assert len(gt) == 4
    assert [gt.get_data_info(i)["crowd_index"] for i in (0, 2)] == [np.float32(0.33),
                                                                    np.float32(0.39)]


def test_filter_cfg_unknown_key(coco_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown keys \['min_size'\]"):
        CocoDataset(ann_file=str(coco_dir / "test_coco.json"), filter_cfg=dict(min_size=3))


@pytest.mark.parametrize(("interval", "image_ids"), [(1, {785, 40083, 196141, 197388}),
                                                      (2, {197388}), (5, {785})])
def test_sample_interval_keeps_images_by_id(coco_dir: Path, interval: int,
                                            image_ids: set) -> None:
    dataset = CocoDataset(ann_file=str(coco_dir / "test_coco.json"), sample_interval=interval)
    assert {dataset.get_data_info(i)["img_id"] for i in range(len(dataset))} == image_ids


def test_indices(coco_dir: Path, coco: CocoDataset) -> None:
    ann = str(coco_dir / "test_coco.json")
    assert CocoDataset(ann_file=ann, indices=3).table.ann_id.tolist() == \
        coco.table.ann_id[:3].tolist()
    assert CocoDataset(ann_file=ann, indices=[5, 0]).table.ann_id.tolist() == \
        [coco.table.ann_id[5], coco.table.ann_id[0]]
    with pytest.raises(ConfigError, match="go outside the 12 instances"):
        CocoDataset(ann_file=ann, indices=[12])


def test_lazy_init_loads_on_first_use(tmp_path: Path, coco_dir: Path) -> None:
    ann = tmp_path / "later.json"
    dataset = CocoDataset(ann_file=str(ann), lazy_init=True)
    ann.write_text((coco_dir / "test_coco.json").read_text())
    assert len(dataset) == 12


def test_metainfo_required_for_custom_sets(coco_dir: Path) -> None:
    with pytest.raises(ConfigError, match="CustomCocoDataset needs metainfo"):
        CustomCocoDataset(ann_file=str(coco_dir / "test_coco.json"))
    dataset = CustomCocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                                metainfo=dict(from_file="configs/_base_/datasets/coco.py"))
    assert len(dataset) == 12


def test_metainfo_must_match_the_file(coco_dir: Path, fixtures_dir: Path) -> None:
    with pytest.raises(AnnotationError, match="expected a list of 42 numbers"):
        CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                    metainfo=dict(from_file="configs/_base_/datasets/aic.py"))
    with pytest.raises(MetainfoError, match="annotations have 14 keypoints per instance but "
                                            "the metainfo 'coco'"):
        AicDataset(ann_file=str(fixtures_dir / "aic" / "test_aic.json"),
                   metainfo=dict(from_file="configs/_base_/datasets/coco.py"))


def test_aic_dataset_reads_both_formats(fixtures_dir: Path) -> None:
    layout = AicDataset(ann_file=str(fixtures_dir / "aic" / "test_aic.json"),
                        data_prefix=dict(img=str(fixtures_dir / "aic")))
    native = AicDataset(ann_file=str(fixtures_dir / "aic_native" /
                                     "keypoint_sample_annotations.json"),
                        data_prefix=dict(img=str(fixtures_dir / "aic")))
    assert len(layout) == len(native) == 9
    for i in range(9):
        a, b = layout.get_data_info(i), native.get_data_info(i)
        assert a["img_path"] == b["img_path"] and a["ori_shape"] == b["ori_shape"]
        for key in ("bbox", "keypoints", "keypoints_visible", "keypoints_occluded", "area"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert a["dataset_name"] == "aic" and len(a["flip_indices"]) == 14


def test_aic_native_without_image_directory_warns(fixtures_dir: Path) -> None:
    with pytest.warns(UserWarning, match="boxes are not clipped"):
        AicDataset(ann_file=str(fixtures_dir / "aic_native" /
                                "keypoint_sample_annotations.json"))


def test_mpii_dataset_keeps_center_and_scale(fixtures_dir: Path) -> None:
    dataset = MpiiDataset(ann_file=str(fixtures_dir / "mpii" / "test_mpii.json"),
                          data_prefix=dict(img="mpii/"))
    info = dataset.get_data_info(0)
    assert info["img_path"] == "mpii/005808361.jpg" and info["img_id"] == 5808361
    assert info["bbox_center"].shape == info["bbox_scale"].shape == (1, 2)
    np.testing.assert_array_equal(info["bbox"][0, :2], info["bbox_center"][0]
                                  - info["bbox_scale"][0] / 2)
    assert info["keypoints"].shape == (1, 16, 2) and info["dataset_name"] == "mpii"
    assert info["flip_indices"] == [5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10]


def test_jhmdb_shifts_one_based_coordinates(tmp_path: Path) -> None:
    kps = [11, 21, 2] * 15
    data = {"images": [{"id": 1, "file_name": "f.png", "width": 320, "height": 240}],
            "annotations": [{"id": 3, "image_id": 1, "category_id": 1, "area": 7.0,
                             "num_keypoints": 15, "bbox": [1, 5, 100, 50], "keypoints": kps}]}
    (tmp_path / "jhmdb.json").write_text(json.dumps(data))
    info = JhmdbDataset(ann_file=str(tmp_path / "jhmdb.json")).get_data_info(0)
    np.testing.assert_array_equal(info["bbox"], [[0, 4, 100, 54]])
    np.testing.assert_array_equal(info["keypoints"][0, 0], [10, 20])
    assert info["area"] == np.float32(100 * 50 * 0.53)  # derived, as MMPose's JhmdbDataset


def identity_pairs(k: int) -> list[tuple[int, int]]:
    return [(i, i) for i in range(k)]


def test_leading_keypoint_converter_is_split_off(coco_dir: Path) -> None:
    mapping = identity_pairs(17)
    seen: list[dict] = []
    dataset = CocoDataset(ann_file=str(coco_dir / "test_coco.json"), pipeline=[
        dict(type="KeypointConverter", num_keypoints=19, mapping=mapping),
        lambda results: seen.append(results) or results,
    ])
    assert isinstance(dataset.converter, KeypointConverter)
    assert len(dataset.pipeline.transforms) == 1
    # get_data_info stays in the source layout; __getitem__ converts first (standalone use)
    assert dataset.get_data_info(0)["keypoints"].shape == (1, 17, 2)
    sample = dataset[0]
    assert sample is seen[0]
    assert sample["keypoints"].shape == (1, 19, 2)
    np.testing.assert_array_equal(sample["keypoints_defined"][0], [1] * 17 + [0, 0])
    no_converter = CocoDataset(ann_file=str(coco_dir / "test_coco.json"))
    assert no_converter.converter is None and no_converter.pipeline.transforms == []


def test_getitem_rng_depends_on_seed_epoch_index(coco: CocoDataset, coco_dir: Path) -> None:
    dataset = CocoDataset(ann_file=str(coco_dir / "test_coco.json"),
                          pipeline=[lambda r: dict(r, draw=r["rng"].random())])
    dataset.seed = 7
    first = dataset[3]["draw"]
    assert first == sample_rng(7, 0, 3).random() == dataset[3]["draw"]
    dataset.set_epoch(2)
    assert dataset[3]["draw"] == np.random.default_rng([7, 2, 3]).random() != first


def test_dropped_samples_are_refetched_or_fail_in_test_mode(coco_dir: Path) -> None:
    def drop_first(results: dict) -> dict | None:
        return None if results["sample_idx"] == 0 else results

    train = CocoDataset(ann_file=str(coco_dir / "test_coco.json"), pipeline=[drop_first])
    replacement = train[0]
    expected = int(sample_rng(0, 0, 0).integers(12))
    assert replacement["sample_idx"] == expected != 0
    test = CocoDataset(ann_file=str(coco_dir / "test_coco.json"), pipeline=[drop_first],
                       test_mode=True)
    with pytest.raises(PosemixError, match="dropped sample 0"):
        test[0]
    never = CocoDataset(ann_file=str(coco_dir / "test_coco.json"), max_refetch=2,
                        pipeline=[lambda r: None])
    with pytest.raises(PosemixError, match="dropped 3 samples in a row"):
        never[0]


def test_sample_rng_is_numpy_seed_sequence() -> None:
    a = sample_rng(1, 2, 3).random(4)
    np.testing.assert_array_equal(a, np.random.default_rng([1, 2, 3]).random(4))
    assert not np.array_equal(a, sample_rng(1, 2, 4).random(4))


def test_missing_annotation_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="missing.json: annotation file not found"):
        CocoDataset(ann_file=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="needs ann_file"):
        CocoDataset()
