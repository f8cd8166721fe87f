"""Errors from a user review of the data path: browse skips a sample whose image is
missing (naming the file) and draws keypoints far off the picture; a source without
instances stops a CombinedDataset, saying why; the COCO reader refuses visibility codes,
category ids and duplicate annotation ids that COCO does not allow. Each expectation is
the exact message or the exact pixels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from posemix.browse import browse_dataset
from posemix.data.combined import CombinedDataset
from posemix.data.dataset_types import CocoDataset
from posemix.data.readers import coco as coco_reader
from posemix.data.readers import read_coco, read_coco_wholebody
from posemix.errors import AnnotationError, ConfigError
from posemix.keypoints import KeypointSchema
from posemix.visualization import draw_pose

K = 17  # CocoDataset's keypoints
REASON_TAIL = ", so it would be left out of training and evaluation"


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def person(ann_id: int, image_id: int = 1, labelled: int = K, **fields: Any) -> dict:
    """A COCO person whose first ``labelled`` keypoints are visible, on a diagonal."""
    kps: list[float] = []
    for j in range(K):
        kps += [20 + 2 * j, 20 + 3 * j, 2] if j < labelled else [0, 0, 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [10, 10, 60, 80],
            "keypoints": kps, **fields}


def coco_json(path: Path, annotations: list, n_images: int = 1, **extra: Any) -> Path:
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 96, "height": 128}
              for i in range(1, n_images + 1)]
    return write_json(path, {"images": images, "annotations": annotations, **extra})


# -- 1a: browse skips a sample whose image is missing --------------------------------------
BROWSE_PIPELINE = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                   dict(type="TopdownAffine", input_size=(48, 64)), dict(type="PackPoseInputs")]


def browse_source(tmp_path: Path, test_mode: bool, present: tuple[int, ...]) -> CocoDataset:
    """Two images, one person each (image 1's has more keypoints: the mapping showcase);
    only the images in ``present`` exist."""
    for i in present:
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((128, 96, 3), 90, np.uint8))
    ann = coco_json(tmp_path / "ann.json", [person(1, 1), person(2, 2, labelled=12)],
                    n_images=2)
    return CocoDataset(ann_file=str(ann), data_prefix=dict(img=str(tmp_path)),
                       pipeline=BROWSE_PIPELINE, test_mode=test_mode, cache=False)


@pytest.mark.parametrize("test_mode", [False, True])
def test_browse_skips_a_sample_whose_image_is_missing(tmp_path, test_mode):
    dataset = browse_source(tmp_path, test_mode, present=(2,))
    out = tmp_path / "out"
    with pytest.warns(UserWarning) as caught:
        written = browse_dataset(dataset, out, per_source=2, seed=0)
    # the other sample, its sheet, and the mapping panel drawn from the readable image
    assert {p.relative_to(out).as_posix() for p in written} == {
        "coco/sample_1.png", "coco/contact_sheet.png", "coco/mapping.png"}
    messages = [str(w.message) for w in caught if "browse" in str(w.message)]
    assert messages == [
        f"browse: no sample_0.png for 'coco': image '{tmp_path / '1.jpg'}' cannot be read "
        "(No such file or directory) (dataset 'coco', sample_idx 0)"]


def test_browse_without_any_readable_image_warns_and_writes_nothing(tmp_path):
    dataset = browse_source(tmp_path, test_mode=False, present=())
    with pytest.warns(UserWarning) as caught:
        written = browse_dataset(dataset, tmp_path / "out", per_source=2, seed=0)
    assert written == []
    missing = "cannot be read (No such file or directory) (dataset 'coco', sample_idx"
    assert [str(w.message) for w in caught if "browse" in str(w.message)] == [
        f"browse: no sample_0.png for 'coco': image '{tmp_path / '1.jpg'}' {missing} 0)",
        f"browse: no sample_1.png for 'coco': image '{tmp_path / '2.jpg'}' {missing} 1)",
        "browse: no mapping.png for 'coco': none of the images of its best-labelled "
        f"instances can be read; the first: image '{tmp_path / '1.jpg'}' {missing} 0)"]


# -- 1b: keypoints far off the picture ----------------------------------------------------
@pytest.fixture(scope="module")
def line() -> KeypointSchema:
    return KeypointSchema(
        name="line", keypoints=("a", "b", "c"), types=("", "", ""), swaps=("", "", ""),
        links=(("a", "b"), ("b", "c")), joint_weights=[1.0] * 3, sigmas=[0.1] * 3,
        colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        link_colors=[[10, 20, 30], [40, 50, 60]])


LINK = [30, 20, 10]  # link a-b's colour, BGR


@pytest.mark.parametrize("occluded", [[0, 0, 0], [0, 1, 0]])
def test_draw_pose_cuts_links_to_points_far_off_the_picture(line, occluded):
    black = np.zeros((192, 192, 3), np.uint8)
    points = np.array([[96, 96], [1e9, 96], [-1e12, -1e12]])
    out = draw_pose(black, points, line, labelled=[1, 1, 1], occluded=occluded)
    assert out[96, 96].tolist() == [0, 0, 255]  # the point on the picture, in its colour
    on_link = (out[96, 110:] == LINK).all(axis=1)
    if occluded[1]:  # dashed all the way to the right edge
        assert on_link[-8:].any() and 0.6 < on_link.mean() < 0.9
    else:  # solid all the way to the right edge
        assert on_link.all()
    # no dot for the far points, and link b-c misses the picture: nothing else is drawn
    rows, columns = np.nonzero(out.any(axis=2))
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (92, 100, 92, 191)
    # names are written for the points on the picture only
    named = draw_pose(black, points, line, labelled=[1, 1, 1], occluded=occluded, names=True)
    assert (named != out).any()


def test_draw_pose_draws_a_link_crossing_the_picture_between_far_points(line):
    black = np.zeros((192, 192, 3), np.uint8)
    points = np.array([[-1e9, 60], [1e10, 60], [np.nan, 0]])
    out = draw_pose(black, points, line, labelled=[1, 1, 1])
    assert (out[60] == LINK).all()  # edge to edge, no dots
    assert np.flatnonzero(out.any(axis=(1, 2))).tolist() == [58, 59, 60, 61, 62]


# -- 2: a source without instances ---------------------------------------------------------
def coco_source(ann: Path, **kwargs: Any) -> dict:
    return dict(type="CocoDataset", ann_file=str(ann), data_prefix=dict(img=""), **kwargs)


def combined(*sources: dict, test_mode: bool = False) -> CombinedDataset:
    return CombinedDataset(metainfo=dict(from_file="configs/_base_/datasets/coco.py"),
                           datasets=list(sources), test_mode=test_mode)


@pytest.fixture
def good(tmp_path) -> Path:
    return coco_json(tmp_path / "good.json", [person(1), person(2)])


@pytest.mark.parametrize("test_mode", [False, True])
def test_a_source_without_annotations_is_an_error(tmp_path, good, test_mode):
    empty = coco_json(tmp_path / "empty.json", [], n_images=3)
    with pytest.raises(AnnotationError) as caught:
        combined(coco_source(good), coco_source(empty), test_mode=test_mode)
    assert str(caught.value) == (
        f"{empty}: CocoDataset for CombinedDataset datasets[1] ('coco_2') has no instances: "
        f"the annotation file has no annotations (3 images){REASON_TAIL}")
    assert caught.value.file == str(empty)


def test_a_source_whose_instances_are_all_filtered_is_an_error(tmp_path, good):
    filtered = coco_json(tmp_path / "filtered.json", [
        person(1, labelled=0), person(2, iscrowd=1), person(3, labelled=0),
        {"id": 4, "image_id": 1, "keypoints": [0] * 3 * K}])
    with pytest.raises(AnnotationError) as caught:
        combined(coco_source(filtered), coco_source(good))
    assert str(caught.value) == (
        f"{filtered}: CocoDataset for CombinedDataset datasets[0] ('coco') has no instances: "
        "all 4 annotations of the file were filtered out (missing_bbox: 1, iscrowd: 1, "
        f"num_keypoints_zero: 2){REASON_TAIL}")


@pytest.mark.parametrize(("options", "why"), [
    (dict(indices=0), "indices=0 keeps none of its 2 instances"),
    (dict(sample_interval=2), "sample_interval=2 removes all of its 2 instances"),
])
def test_a_source_emptied_by_its_options_is_a_config_error(good, options, why):
    with pytest.raises(ConfigError) as caught:
        combined(coco_source(good), coco_source(good, **options))
    assert str(caught.value) == (
        f"CocoDataset ({good}) for CombinedDataset datasets[1] ('coco_2') has no instances: "
        f"{why}{REASON_TAIL}")


def test_a_score_threshold_that_keeps_no_detection_is_a_config_error(tmp_path, good):
    detections = write_json(tmp_path / "det.json", [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 50], "score": 0.4}])
    with pytest.raises(ConfigError) as caught:
        combined(coco_source(good, bbox_file=str(detections),
                             filter_cfg=dict(bbox_score_thr=0.5), test_mode=True),
                 test_mode=True)
    assert str(caught.value) == (
        f"CocoDataset ({good}) for CombinedDataset datasets[0] ('coco') has no instances: "
        f"filter_cfg bbox_score_thr=0.5 removes all of its 1 instances{REASON_TAIL}")


def test_a_bbox_file_without_person_detections_is_an_error(tmp_path, good):
    detections = write_json(tmp_path / "det.json", [
        {"image_id": 1, "category_id": 2, "bbox": [10, 10, 40, 50], "score": 0.9}])
    with pytest.raises(AnnotationError) as caught:
        combined(coco_source(good, bbox_file=str(detections), test_mode=True), test_mode=True)
    assert str(caught.value) == (
        f"{detections}: CocoDataset ({good}) for CombinedDataset datasets[0] ('coco') has no "
        f"instances: the bbox_file has no person detections (category_not_person: 1)"
        f"{REASON_TAIL}")


def test_sources_with_instances_still_combine(tmp_path, good):
    one = coco_json(tmp_path / "one.json", [person(1), person(2, labelled=0)])
    dataset = combined(coco_source(good), coco_source(one))
    assert dataset.original_lens == [2, 1] and len(dataset) == 3


# -- 3: what COCO does not allow -----------------------------------------------------------
def two_keypoint_file(tmp_path: Path, annotations: list, **extra: Any) -> Path:
    images = [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}]
    return write_json(tmp_path / "custom.json",
                      {"images": images, "annotations": annotations, **extra})


def ann(ann_id: int, **fields: Any) -> dict:
    return {"id": ann_id, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
            "keypoints": [15, 15, 2, 20, 25, 1], **fields}


@pytest.fixture(params=["bulk", "record by record"])
def read(request, monkeypatch):
    """read_coco through its bulk pass, or forced through its record-by-record pass: both
    must give the same error."""
    if request.param != "bulk":
        monkeypatch.setattr(coco_reader, "_annotations_in_bulk", lambda *a: None)
    return read_coco


CATEGORIES = [{"id": 1, "name": "person"}]


@pytest.mark.parametrize(("annotations", "extra", "record", "field", "message"), [
    ([ann(1), ann(2, keypoints=[15, 15, 2, 20, 25, 7])], {}, "annotations[1] (id 2)",
     "keypoints", "visibility codes must be 0 (not labelled), 1 (labelled, not visible) or "
     "2 (visible), got 7 at keypoint 1"),
    ([ann(1, keypoints=[15, 15, -1, 20, 25, 1])], {}, "annotations[0] (id 1)", "keypoints",
     "visibility codes must be 0 (not labelled), 1 (labelled, not visible) or 2 (visible), "
     "got -1 at keypoint 0"),
    ([ann(1, keypoints=[15, 15, 1.5, 20, 25, 1])], {}, "annotations[0] (id 1)", "keypoints",
     "visibility codes must be 0 (not labelled), 1 (labelled, not visible) or 2 (visible), "
     "got 1.5 at keypoint 0"),
    ([ann(1), ann(2, category_id=3)], {"categories": CATEGORIES}, "annotations[1] (id 2)",
     "category_id", "3 is not the id of any of the file's categories (1)"),
    ([ann(1), ann(2), ann(1)], {}, "annotations[2] (id 1)", "id",
     "duplicate annotation id (also annotations[0])"),
    ([ann(1), {"id": 1, "image_id": 1}], {}, "annotations[1] (id 1)", "id",
     "duplicate annotation id (also annotations[0])"),  # a skipped record's id counts too
    ([ann(1)], {"categories": [{"name": "person"}]}, "categories[0]", "id",
     "required field is missing"),
])
def test_coco_refuses_what_coco_does_not_allow(tmp_path, read, annotations, extra, record,
                                               field, message):
    path = two_keypoint_file(tmp_path, annotations, **extra)
    with pytest.raises(AnnotationError) as caught:
        read(path)
    assert str(caught.value) == f"{path}, record {record}, field '{field}': {message}"
    assert (caught.value.record, caught.value.field) == (record, field)


def test_coco_accepts_its_codes_as_floats_and_any_category_without_categories(tmp_path, read):
    path = two_keypoint_file(tmp_path, [ann(1, keypoints=[15, 15, 2.0, 20, 25, 0.0]),
                                        ann(2, category_id=3)])
    table = read(path)
    assert table.visibility.tolist() == [[2, 0], [2, 1]]
    assert table.category_id.tolist() == [1, 3]


def test_coco_wholebody_checks_the_categories_too(tmp_path):
    parts = {"keypoints": 17, "foot_kpts": 6, "face_kpts": 68, "lefthand_kpts": 21,
             "righthand_kpts": 21}
    record = {"id": 5, "image_id": 1, "category_id": 2, "bbox": [10, 10, 20, 20],
              **{part: [15, 15, 2] * n for part, n in parts.items()}}
    path = two_keypoint_file(tmp_path, [record], categories=CATEGORIES)
    with pytest.raises(AnnotationError) as caught:
        read_coco_wholebody(path)
    assert str(caught.value) == (f"{path}, record annotations[0] (id 5), field 'category_id': "
                                 "2 is not the id of any of the file's categories (1)")



def test_image_sizes_that_clip_most_boxes_away_are_pointed_out(tmp_path, good):
    images = [{"id": 1, "file_name": "1.jpg", "width": 96, "height": 128},
              {"id": 2, "file_name": "2.jpg", "width": 8, "height": 8}]  # sizes typed wrong
    ann = write_json(tmp_path / "sizes.json", {"images": images, "annotations": [
        person(1), person(2, image_id=2), person(3, image_id=2), person(4, image_id=2)]})
    with pytest.warns(UserWarning, match=r"3 of 4 annotations have a box that is empty once "
                                         r"clipped to its image \(bbox_empty_after_clipping\)"
                                         r" and are dropped; do the image sizes"):
        dataset = CocoDataset(ann_file=str(ann), data_prefix=dict(img=""), cache=False)
        assert len(dataset) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file whose sizes are right says nothing
        assert len(CocoDataset(ann_file=str(good), data_prefix=dict(img=""), cache=False)) == 2
