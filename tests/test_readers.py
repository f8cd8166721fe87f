"""Annotation readers and InstanceTable: fixtures, hand-computed values, MMPose golden
values, and one test per kind of bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemix.data.readers import (
    image_size,
    read_aic,
    read_aic_native,
    read_coco,
    read_detections,
    read_mpii,
)
from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError, ImageError

AIC_IMAGES = {  # file stem -> (width, height), from the COCO-layout file
    "054d9ce9201beffc76e5ff2169d2af2f027002ca": (900, 600),
    "fa436c914fe4a8ec1ec5474af4d3820b84d17561": (900, 596),
    "ff945ae2e729f24eea992814639d59b3bdec8bd8": (950, 641),
}


@pytest.fixture(scope="module")
def coco(fixtures_dir: Path) -> InstanceTable:
    return read_coco(fixtures_dir / "coco" / "test_coco.json")


@pytest.fixture(scope="module")
def aic_coco(fixtures_dir: Path) -> InstanceTable:
    return read_coco(fixtures_dir / "aic" / "test_aic.json")


@pytest.fixture(scope="module")
def aic_native(fixtures_dir: Path) -> InstanceTable:
    return read_aic_native(fixtures_dir / "aic_native" / "keypoint_sample_annotations.json",
                           img_dir=fixtures_dir / "aic")


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, np.ndarray]:
    with np.load(golden_dir / "combine_val_pipeline.npz") as npz:
        return {k: npz[k] for k in ("bbox_xyxy", "keypoints", "keypoints_visible", "img_path")}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def coco_file(tmp_path: Path, annotations: list, images: list | None = None,
              name: str = "custom.json", **extra: object) -> Path:
    """A small COCO-layout file with K=2 keypoints."""
    images = images if images is not None else [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
        {"id": 2, "file_name": "b.jpg", "width": 80, "height": 60},
    ]
    data = {"images": images, "annotations": annotations, **extra}
    return write_json(tmp_path / name, data)


def ann(ann_id: int, image_id: int = 1, **fields: object) -> dict:
    base = {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [10, 10, 20, 20],
            "keypoints": [15, 15, 2, 20, 25, 1]}
    base.update(fields)
    return base


# -- COCO ----------------------------------------------------------------------------------
def test_coco_fixture_keeps_12_of_14_and_says_why(coco: InstanceTable) -> None:
    assert len(coco) == 12
    # ids 1202706 and 508900 have num_keypoints == 0 (all keypoints unlabelled)
    assert coco.filter_report == {
        "missing_bbox": 0, "missing_keypoints": 0, "iscrowd": 0, "num_keypoints_zero": 2,
        "bbox_empty_after_clipping": 0, "keypoints_not_positive": 0,
    }
    assert 1202706 not in coco.ann_id and 508900 not in coco.ann_id
    assert coco.ann_id.tolist() == [442619, 198196, 230195, 460541, 488308, 1717641, 1724673,
                                    437295, 467657, 531914, 533949, 543117]
    assert coco.file_name.tolist() == ["000000000785.jpg", "000000040083.jpg",
                                       "000000196141.jpg", "000000197388.jpg"]
    assert coco.width.tolist() == [640, 500, 640, 640]
    assert coco.height.tolist() == [425, 333, 429, 392]
    assert coco.defined.all() and coco.keypoint_count == 17
    assert coco.crowd_index is None and coco.bbox_center is None


def test_coco_bbox_clipping_and_area_by_hand(coco: InstanceTable) -> None:
    rows = {int(a): i for i, a in enumerate(coco.ann_id)}
    # 531914: [540.04, 48.81, 99.96, 223.36] in a 640x392 image: x2 = 640.0 -> 639
    np.testing.assert_array_equal(coco.bbox[rows[531914]],
                                  np.float32([540.04, 48.81, 639.0, 48.81 + 223.36]))
    # 533949: x2 = 372.58 + 266.63 = 639.21 -> 639; y2 = 388.03 stays
    np.testing.assert_array_equal(coco.bbox[rows[533949]],
                                  np.float32([372.58, 170.84, 639.0, 170.84 + 217.19]))
    # 1717641: inside the 640x429 image, only xywh -> xyxy
    np.testing.assert_array_equal(coco.bbox[rows[1717641]],
                                  np.float32([453.77, 206.81, 453.77 + 177.23, 206.81 + 210.87]))
    # COCO files carry area: it is used as is
    assert coco.area[rows[442619]] == np.float32(27789.11055)
    assert coco.num_keypoints[rows[1717641]] == 12
    # visibility: 488308 has keypoint 3 with v = 1 (occluded) and keypoint 1 unlabelled
    assert coco.visibility[rows[488308], :4].tolist() == [2, 0, 0, 1]


def test_coco_matches_mmpose_golden(coco: InstanceTable, golden: dict) -> None:
    np.testing.assert_array_equal(coco.bbox, golden["bbox_xyxy"][:12])
    np.testing.assert_array_equal(coco.keypoints, golden["keypoints"][:12, :17])
    np.testing.assert_array_equal((coco.visibility > 0).astype(np.float32),
                                  golden["keypoints_visible"][:12, :17])
    paths = ["coco/" + coco.file_name[i] for i in coco.image_index]
    assert paths == golden["img_path"][:12].tolist()


def test_aic_boxes_match_mmpose_golden(aic_coco: InstanceTable, aic_native: InstanceTable,
                                       golden: dict) -> None:
    np.testing.assert_array_equal(aic_coco.bbox, golden["bbox_xyxy"][12:])
    np.testing.assert_array_equal(aic_native.bbox, golden["bbox_xyxy"][12:])


def test_area_fallback_without_area_field(aic_coco: InstanceTable) -> None:
    # AIC id 10: [681, 3, 267, 607] in a 950x641 image -> [681, 3, 948, 610]
    row = aic_coco.ann_id.tolist().index(10)
    np.testing.assert_array_equal(aic_coco.bbox[row], np.float32([681, 3, 948, 610]))
    assert aic_coco.area[row] == np.float32(267 * 607 * 0.53)
    assert aic_coco.iscrowd.tolist() == [0] * 9


def test_area_fallback_is_at_least_one_and_uses_the_clipped_box(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [
        ann(1, bbox=[10, 10, 0.5, 0.5], keypoints=[10.2, 10.2, 2, 0, 0, 0]),
        ann(2, bbox=[90, 40, 30, 30]),  # clipped to [90, 40, 99, 49] in 100x50
    ])
    table = read_coco(path)
    assert table.area.tolist() == [1.0, np.float32(9 * 9 * 0.53)]
    np.testing.assert_array_equal(table.bbox[1], np.float32([90, 40, 99, 49]))


def test_instances_are_ordered_by_image_then_record(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [ann(1, 2), ann(2, 1), ann(3, 2), ann(4, 1)])
    table = read_coco(path)
    assert table.ann_id.tolist() == [2, 4, 1, 3]
    assert table.image_index.tolist() == [0, 0, 1, 1]


def test_each_filter_reason_is_counted_once(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [
        ann(1, iscrowd=1),
        ann(2, num_keypoints=0),
        ann(3, keypoints=[0, 0, 0, 0, 0, 0]),  # num_keypoints derived = 0
        ann(4, bbox=[120, 10, 5, 5]),  # right of the 100-wide image: width 0 after clipping
        ann(5, keypoints=[-3, -4, 2, 0, 0, 0], num_keypoints=1),  # max(keypoints) <= 0
        ann(6, bbox=[0, 0, 0, 10]),  # zero width
        {"id": 7, "image_id": 1, "keypoints": [1, 1, 2, 2, 2, 2]},  # no bbox
        {"id": 8, "image_id": 1, "bbox": [1, 1, 2, 2]},  # no keypoints
        ann(9),
    ])
    table = read_coco(path)
    assert table.ann_id.tolist() == [9]
    assert table.filter_report == {
        "missing_bbox": 1, "missing_keypoints": 1, "iscrowd": 1, "num_keypoints_zero": 2,
        "bbox_empty_after_clipping": 2, "keypoints_not_positive": 1,
    }


def test_num_keypoints_derived_from_coordinates(tmp_path: Path) -> None:
    # MMPose counts keypoints with max(x, y) != 0, whatever v says
    path = coco_file(tmp_path, [ann(1, keypoints=[0, 5, 0, 20, 25, 1])])
    assert read_coco(path).num_keypoints.tolist() == [2]


def test_crowdpose_crowd_index_and_area(fixtures_dir: Path) -> None:
    table = read_coco(fixtures_dir / "crowdpose" / "test_crowdpose.json")
    assert len(table) == 4 and table.filter_report["num_keypoints_zero"] == 1
    np.testing.assert_array_equal(table.crowd_index, np.float32([0.33, 0.39]))
    assert table.image_id.tolist() == [106848, 103319]
    assert table.ann_id.tolist() == [123803, 147481, 127068, 129014]
    # no area in CrowdPose: 0.53 * w * h of [106.01, 13.43, 273.15, 352.42] (inside 640x425)
    x1, y1, x2, y2 = 106.01, 13.43, 106.01 + 273.15, 13.43 + 352.42
    assert table.area[0] == np.float32((x2 - x1) * (y2 - y1) * 0.53)


# -- AIC -----------------------------------------------------------------------------------
def test_aic_native_equals_coco_layout(aic_coco: InstanceTable,
                                       aic_native: InstanceTable) -> None:
    assert len(aic_native) == len(aic_coco) == 9
    for column in ("image_index", "bbox", "keypoints", "visibility", "area", "num_keypoints",
                   "category_id", "iscrowd", "width", "height", "image_id"):
        np.testing.assert_array_equal(getattr(aic_native, column), getattr(aic_coco, column),
                                      err_msg=column)
    assert aic_native.file_name.tolist() == aic_coco.file_name.tolist()
    assert aic_native.ann_id.tolist() == list(range(1, 10))
    # native codes 1 visible / 2 occluded / 3 unlabelled became COCO 2 / 1 / 0
    assert aic_native.visibility[0].tolist() == [2, 1, 2, 1, 1, 2, 1, 0, 0, 2, 0, 0, 2, 2]


def test_read_aic_tells_the_formats_apart(fixtures_dir: Path, aic_coco: InstanceTable,
                                          aic_native: InstanceTable) -> None:
    native = read_aic(fixtures_dir / "aic_native" / "keypoint_sample_annotations.json",
                      img_dir=fixtures_dir / "aic")
    layout = read_aic(fixtures_dir / "aic" / "test_aic.json")
    np.testing.assert_array_equal(native.bbox, aic_native.bbox)
    np.testing.assert_array_equal(layout.ann_id, aic_coco.ann_id)


def native_record(box: list) -> dict:
    kps = [400, 300, 1] + [0, 0, 3] * 13
    return {"image_id": "054d9ce9201beffc76e5ff2169d2af2f027002ca",
            "keypoint_annotations": {"human1": kps}, "human_annotations": {"human1": box}}


def test_aic_native_clips_only_with_image_sizes(tmp_path: Path, fixtures_dir: Path) -> None:
    path = write_json(tmp_path / "native.json", [native_record([-5, 10, 1000, 700])])
    with_sizes = read_aic_native(path, img_dir=fixtures_dir / "aic")
    without = read_aic_native(path)
    np.testing.assert_array_equal(with_sizes.bbox[0], np.float32([0, 10, 899, 599]))
    np.testing.assert_array_equal(without.bbox[0], np.float32([-5, 10, 1000, 700]))
    assert without.width.tolist() == [0] and without.height.tolist() == [0]
    assert with_sizes.width.tolist() == [900] and with_sizes.height.tolist() == [600]


def test_aic_native_missing_image_is_an_image_error(tmp_path: Path) -> None:
    path = write_json(tmp_path / "native.json", [native_record([1, 1, 5, 5])])
    with pytest.raises(ImageError, match="054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg"):
        read_aic_native(path, img_dir=tmp_path)


def test_aic_native_bad_visibility_code(tmp_path: Path) -> None:
    record = native_record([1, 1, 5, 5])
    record["keypoint_annotations"]["human1"][2] = 0
    path = write_json(tmp_path / "native.json", [record])
    with pytest.raises(AnnotationError, match=r"human1, field 'keypoint_annotations': "
                       r"visibility codes must be 1 \(visible\), 2 \(occluded\) or 3 "
                       r"\(not labelled\), got 0 at keypoint 0$"):
        read_aic_native(path)


def test_aic_native_missing_box_is_skipped_or_strict(tmp_path: Path) -> None:
    record = native_record([1, 1, 50, 50])
    record["keypoint_annotations"]["human2"] = record["keypoint_annotations"]["human1"]
    path = write_json(tmp_path / "native.json", [record])
    assert read_aic_native(path).filter_report["missing_bbox"] == 1
    with pytest.raises(AnnotationError, match=r"field 'human_annotations': 'human2' is missing"):
        read_aic_native(path, strict=True)


# -- image headers ---------------------------------------------------------------------
def test_image_size_of_fixture_jpegs(fixtures_dir: Path) -> None:
    for stem, size in AIC_IMAGES.items():
        assert image_size(fixtures_dir / "aic" / f"{stem}.jpg") == size
    assert image_size(fixtures_dir / "coco" / "000000000785.jpg") == (640, 425)


def test_image_size_png_and_other_formats(tmp_path: Path) -> None:
    img = np.zeros((7, 11, 3), np.uint8)
    for suffix in (".png", ".bmp"):
        cv2.imwrite(str(tmp_path / f"x{suffix}"), img)
        assert image_size(tmp_path / f"x{suffix}") == (11, 7)


def exif_app1(orientation: int) -> bytes:
    """An APP1 segment holding a little-endian EXIF IFD0 with one Orientation entry."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def test_image_size_follows_exif_rotation_like_opencv(tmp_path: Path) -> None:
    ok, jpeg = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))
    assert ok
    jpeg = jpeg.tobytes()
    for orientation, expected in ((1, (30, 20)), (6, (20, 30)), (8, (20, 30)), (3, (30, 20))):
        path = tmp_path / f"o{orientation}.jpg"
        path.write_bytes(jpeg[:2] + exif_app1(orientation) + jpeg[2:])
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert image_size(path) == expected == (decoded.shape[1], decoded.shape[0])


def test_image_size_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        image_size(tmp_path / "missing.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="not a readable image"):
        image_size(tmp_path / "junk.jpg")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    with pytest.raises(ImageError, match="cut.jpg: JPEG ends before its frame header"):
        image_size(tmp_path / "cut.jpg")


# -- MPII ----------------------------------------------------------------------------------
def test_mpii_boxes_from_center_and_scale(fixtures_dir: Path) -> None:
    table = read_mpii(fixtures_dir / "mpii" / "test_mpii.json")
    assert len(table) == 5 and table.keypoint_count == 16
    assert table.image_id.tolist() == [5808361, 52475643, 51423444, 4645041, 60754485]
    assert table.ann_id.tolist() == [0, 1, 2, 3, 4]
    # record 0: center (966, 340), scale 4.718488 -> size 943.6976; y moves down by
    # 15/200 * size = 70.77732, then both coordinates by -1
    size = np.float32(4.718488) * np.float32(200)
    cy = np.float32(340 + 0.075 * np.float64(size))
    center = np.float32([966, cy]) - np.float32(1)
    np.testing.assert_array_equal(table.bbox_center[0], center)
    np.testing.assert_array_equal(table.bbox_scale[0], [size, size])
    np.testing.assert_array_equal(table.bbox[0], np.concatenate([center - size / 2,
                                                                 center + size / 2]))
    np.testing.assert_allclose(table.bbox[0], [493.1512, -62.0715, 1436.8488, 881.6261],
                               atol=1e-3)
    # record 2: joints 0 and 5 unlabelled (-1, -1, vis 0)
    assert table.visibility[2].tolist() == [0, 2, 2, 2, 2, 0] + [2] * 10
    np.testing.assert_array_equal(table.keypoints[2, 0], [-1, -1])
    assert table.num_keypoints.tolist() == [16, 16, 14, 14, 16]
    assert table.width.tolist() == [0] * 5  # MPII json has no sizes: no clipping


def test_mpii_errors(tmp_path: Path) -> None:
    rec = {"image": "001.jpg", "center": [5, 5], "scale": 1.0, "joints": [[1, 2], [3, 4]],
           "joints_vis": [1, 1]}
    bad_pair = dict(rec, joints=[[1, 2], [3]])
    path = write_json(tmp_path / "mpii.json", [rec, bad_pair])
    with pytest.raises(AnnotationError, match=r"record \[1\] \(image 001.jpg\), field 'joints'"):
        read_mpii(path)
    path = write_json(tmp_path / "mpii.json", [dict(rec, image="abc.jpg")])
    with pytest.raises(AnnotationError, match="no numeric id"):
        read_mpii(path)
    path = write_json(tmp_path / "mpii.json", [rec, dict(rec, joints_vis=[1])])
    with pytest.raises(AnnotationError, match=r"expected 2 joints"):
        read_mpii(path)


# -- detections ----------------------------------------------------------------------------
def test_detections_on_coco(fixtures_dir: Path, coco: InstanceTable) -> None:
    path = fixtures_dir / "coco" / "test_coco_det_AP_H_56.json"
    dets = read_detections(path, coco)
    raw = json.loads(path.read_text())
    assert len(dets) == len(raw) == 118
    assert dets.ann_id.tolist() == list(range(118))
    x, y, w, h = np.float32(raw[0]["bbox"])
    np.testing.assert_array_equal(dets.bbox[0], [x, y, x + w, y + h])
    assert dets.bbox_score[0] == np.float32(raw[0]["score"])
    assert dets.keypoints.shape == (118, 17, 2) and not dets.keypoints.any()
    assert (dets.visibility > 0).all()
    assert dets.image_id[dets.image_index[0]] == 785
    assert dets.filter_report == {"category_not_person": 0}


def test_detections_skip_non_person_and_refuse_unknown_images(tmp_path: Path,
                                                              fixtures_dir: Path,
                                                              coco: InstanceTable) -> None:
    det = {"image_id": 785, "category_id": 1, "bbox": [700, 10, 50, 60], "score": 0.5}
    path = write_json(tmp_path / "det.json", [dict(det, category_id=2), det])
    dets = read_detections(path, coco)
    assert len(dets) == 1 and dets.filter_report == {"category_not_person": 1}
    np.testing.assert_array_equal(dets.bbox[0], [700, 10, 750, 70])  # not clipped
    path = write_json(tmp_path / "det.json", [dict(det, image_id=4)])
    with pytest.raises(AnnotationError, match=r"record \[0\], field 'image_id'"):
        read_detections(path, coco)


def test_crowdpose_detections(fixtures_dir: Path) -> None:
    gt = read_coco(fixtures_dir / "crowdpose" / "test_crowdpose.json")
    dets = read_detections(fixtures_dir / "crowdpose" / "test_crowdpose_det_AP_40.json", gt)
    assert len(dets) == 6 and dets.keypoint_count == 14
    np.testing.assert_array_equal(dets.crowd_index, gt.crowd_index)


def test_empty_files_give_empty_tables(tmp_path: Path, coco: InstanceTable) -> None:
    empty_list = write_json(tmp_path / "list.json", [])
    categories = [{"id": 1, "keypoints": ["a", "b", "c"]}]
    path = coco_file(tmp_path, [], images=[], categories=categories)
    assert read_coco(path).keypoints.shape == (0, 3, 2)  # K from the categories
    assert read_mpii(empty_list, num_keypoints=16).keypoints.shape == (0, 16, 2)
    assert read_aic_native(empty_list).keypoints.shape == (0, 14, 2)
    assert read_detections(empty_list, coco).keypoints.shape == (0, 17, 2)


# -- errors --------------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="nope.json: annotation file not found"):
        read_coco(tmp_path / "nope.json")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "images": [\n    {"id": 1,}\n  ]\n}')
    with pytest.raises(AnnotationError, match=r"broken.json: invalid JSON at line 3, column 14"):
        read_coco(path)


def test_missing_bbox_strict_vs_default(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [ann(1), {"id": 2, "image_id": 1, "keypoints": [1] * 6}])
    assert read_coco(path).filter_report["missing_bbox"] == 1
    with pytest.raises(AnnotationError,
                       match=r"custom.json, record annotations\[1\] \(id 2\), field 'bbox'"):
        read_coco(path, strict=True)


@pytest.mark.parametrize(("num_keypoints", "categories", "expected"), [
    (3, None, "expected a list of 9 numbers"),  # K from the argument
    (None, [{"id": 1, "keypoints": ["a", "b", "c"]}], "expected a list of 9 numbers"),
    (None, None, "expected a list of 6 numbers"),  # K from the first record
])
def test_keypoints_length_must_be_3k(tmp_path: Path, num_keypoints: int | None,
                                     categories: list | None, expected: str) -> None:
    extra = {"categories": categories} if categories else {}
    path = coco_file(tmp_path, [ann(1), ann(2, keypoints=[1] * 9 if num_keypoints is None
                                            and not categories else [1] * 6)], **extra)
    if num_keypoints is None and not categories:
        expected_record = r"annotations\[1\] \(id 2\)"
    else:
        expected_record = r"annotations\[0\] \(id 1\)"
    with pytest.raises(AnnotationError, match=rf"record {expected_record}, field 'keypoints': "
                                              rf"{expected}"):
        read_coco(path, num_keypoints=num_keypoints)


@pytest.mark.parametrize(("field", "token"), [("keypoints", "NaN"), ("bbox", "Infinity"),
                                              ("bbox", "-Infinity")])
def test_non_finite_values(tmp_path: Path, field: str, token: str) -> None:
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
            "annotations": [ann(1), ann(5)]}
    text = json.dumps(data)
    # replace the first number of record 2's field by the bare token (valid for Python json)
    key = f'"{field}": ['
    second = text.index(key, text.index(key) + 1) + len(key)
    text = text[:second] + token + text[text.index(",", second):]
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=rf"annotations\[1\] \(id 5\), field '{field}': "
                                              "holds NaN or infinite values"):
        read_coco(path)


def test_negative_image_size(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [ann(1)], images=[{"id": 1, "file_name": "a.jpg", "width": -4,
                                                  "height": 10}])
    with pytest.raises(AnnotationError,
                       match=r"record images\[0\] \(id 1\), field 'width': is negative"):
        read_coco(path)


def test_negative_box_size(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [ann(1), ann(2, bbox=[10, 10, 5, -3])])
    with pytest.raises(AnnotationError,
                       match=r"annotations\[1\] \(id 2\), field 'bbox': has a negative"):
        read_coco(path)


def test_unknown_image_id(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [ann(1), ann(2, image_id=99)])
    with pytest.raises(AnnotationError, match=r"annotations\[1\] \(id 2\), field 'image_id': "
                                              "refers to unknown image id 99"):
        read_coco(path)


def test_non_list_where_a_list_is_expected(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"images": [], "annotations": {"id": 1}})
    with pytest.raises(AnnotationError, match="field 'annotations': expected a list, got an obj"):
        read_coco(path)
    path = write_json(tmp_path / "x.json", [1, 2])
    with pytest.raises(AnnotationError, match="expected a COCO object"):
        read_coco(path)
    path = coco_file(tmp_path, [ann(1, bbox="10 10 20 20")])
    with pytest.raises(AnnotationError, match=r"field 'bbox': expected a list of 4 numbers"):
        read_coco(path)


@pytest.mark.parametrize(("record", "field", "message"), [
    (ann(1, keypoints=[15, "15", 2, 20, 25, 1]), "keypoints",
     "expected a number at position 1, got a string '15'"),
    (ann(1, keypoints=[15, 15, 2, 20, None, 1]), "keypoints",
     "expected a number at position 4, got null$"),
    (ann("7"), "id", "expected an integer, got a string"),
    (ann(1, iscrowd="no"), "iscrowd", "expected a number, got a string"),
    (ann(1, area=[3]), "area", "expected a number, got a list"),
])
def test_wrong_types(tmp_path: Path, record: dict, field: str, message: str) -> None:
    path = coco_file(tmp_path, [record])
    with pytest.raises(AnnotationError, match=rf"field '{field}': {message}"):
        read_coco(path)


def test_wrong_image_field_types(tmp_path: Path) -> None:
    path = coco_file(tmp_path, [], images=[{"id": 1, "file_name": 5, "width": 1, "height": 1}])
    with pytest.raises(AnnotationError, match="field 'file_name': expected a string"):
        read_coco(path)
    path = coco_file(tmp_path, [], images=[{"id": 1, "file_name": "a", "height": 1}])
    with pytest.raises(AnnotationError, match="field 'width': required field is missing"):
        read_coco(path)


# -- InstanceTable ---------------------------------------------------------------------------
def assert_tables_equal(a: InstanceTable, b: InstanceTable) -> None:
    for name in ("image_id", "width", "height", "crowd_index", "image_index", "ann_id", "bbox",
                 "bbox_score", "keypoints", "visibility", "area", "category_id",
                 "num_keypoints", "iscrowd", "defined", "bbox_center", "bbox_scale"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert a.file_name.tolist() == b.file_name.tolist()
    assert a.filter_report == b.filter_report and a.source_file == b.source_file


@pytest.mark.parametrize("source", ["coco/test_coco.json", "crowdpose/test_crowdpose.json",
                                    "mpii/test_mpii.json"])
def test_save_load_round_trip(tmp_path: Path, fixtures_dir: Path, source: str) -> None:
    path = fixtures_dir / source
    table = read_mpii(path) if "mpii" in source else read_coco(path)
    table.save(tmp_path / "cache.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]  # no temp file left
    assert_tables_equal(InstanceTable.load(tmp_path / "cache.npz"), table)


def test_load_refuses_bad_files(tmp_path: Path, coco: InstanceTable) -> None:
    with pytest.raises(AnnotationError, match="not found"):
        InstanceTable.load(tmp_path / "missing.npz")
    coco.save(tmp_path / "ok.npz")
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(AnnotationError, match="cut.npz: not a readable instance table"):
        InstanceTable.load(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"garbage" * 10)
    with pytest.raises(AnnotationError, match="junk.npz"):
        InstanceTable.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(AnnotationError, match="not a posemix instance table"):
        InstanceTable.load(tmp_path / "foreign.npz")
    arrays = coco._arrays()
    arrays["bbox"] = arrays["bbox"][:, :3]
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(AnnotationError, match=r"shape.npz, field 'bbox': has shape \(12, 3\)"):
        InstanceTable.load(tmp_path / "shape.npz")
    arrays = coco._arrays()
    arrays["keypoints"] = arrays["keypoints"].astype(np.float64)
    np.savez(tmp_path / "dtype.npz", **arrays)
    with pytest.raises(AnnotationError, match="field 'keypoints': column has dtype float64"):
        InstanceTable.load(tmp_path / "dtype.npz")


def test_take_with_indices_and_mask(coco: InstanceTable) -> None:
    picked = coco.take([3, 0])
    assert picked.ann_id.tolist() == [460541, 442619]
    np.testing.assert_array_equal(picked.keypoints[1], coco.keypoints[0])
    assert picked.image_id is coco.image_id  # image columns are shared
    masked = coco.take(coco.num_keypoints == 17)
    assert masked.ann_id.tolist() == [442619, 1724673]
    assert masked.filter_report == coco.filter_report


def test_table_checks_shapes(coco: InstanceTable) -> None:
    import dataclasses

    with pytest.raises(AnnotationError, match="field 'visibility': has shape"):
        dataclasses.replace(coco, visibility=coco.visibility[:, :5])
    with pytest.raises(AnnotationError, match="field 'image_index': has rows outside"):
        dataclasses.replace(coco, image_index=coco.image_index + 10)


def test_memory_per_instance_is_lean() -> None:
    n, k, images = 10_000, 17, 2_000
    rng = np.random.default_rng(0)
    table = InstanceTable(
        image_id=np.arange(images), file_name=[f"{i:012d}.jpg" for i in range(images)],
        width=np.full(images, 640), height=np.full(images, 480),
        image_index=rng.integers(0, images, n), ann_id=np.arange(n), bbox=np.zeros((n, 4)),
        bbox_score=np.ones(n), keypoints=np.zeros((n, k, 2)), visibility=np.zeros((n, k)),
        area=np.ones(n), category_id=np.ones(n), num_keypoints=np.zeros(n),
        iscrowd=np.zeros(n), defined=np.ones(k),
    )
    assert table.nbytes / n <= 250


def test_string_column() -> None:
    column = StringColumn.from_strings(["a.jpg", "", "dir/é.png"])
    assert column.tolist() == ["a.jpg", "", "dir/é.png"] and len(column) == 3
    assert column.problem() is None
    assert StringColumn(column.buffer, column.offsets[:-1] + 1).problem() is not None
