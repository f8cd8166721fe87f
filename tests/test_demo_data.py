"""Demo data generator: body geometry with known answers, labels consistent with the
rendered pixels, both real file formats, determinism across process counts, atomicity."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemix.cli.demo_data import add_demo_data_parser
from posemix.data.readers import read_aic_native, read_coco
from posemix.demo import generate as gen
from posemix.demo import generate_demo_data, make_scene, read_manifest
from posemix.demo.body import (
    AIC_INDICES,
    COCO_INDICES,
    FACE_MARKS,
    JOINT_NAMES,
    BodyShape,
    Pose,
    View,
    pose_body,
)
from posemix.demo.render import pixel_of
from posemix.errors import PosemixError
from posemix.keypoints import load_schema

TRAIN, VAL = 6, 3
SHAPE = BodyShape(head_radius=0.07, neck_length=0.05, spine_length=0.3,
                  shoulder_half_width=0.12, hip_half_width=0.07, upper_arm=0.16, forearm=0.14,
                  thigh=0.24, shin=0.22, girth=1.0)
STANDING = Pose(torso=(0.0, 0.0, 0.0), head=(0.0, 0.0, 0.0), arms=np.zeros((2, 4)),
                legs=np.zeros((2, 4)))


def J(name: str) -> int:
    return JOINT_NAMES.index(name)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    generate_demo_data(out, seed=3, num_images=TRAIN, num_val=VAL, workers=1, progress=False)
    return out


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# --- the body model -------------------------------------------------------------------

def test_standing_front_view_has_hand_computed_joint_positions():
    scale = 100.0
    kp = pose_body(SHAPE, STANDING, View(0.0, 0.0, 0.0), scale).keypoints
    # Straight legs hang from the hips (x = ±0.07, y = 0) down thigh + shin = 0.46.
    np.testing.assert_allclose(kp[J("left_ankle")], [7.0, 46.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(kp[J("right_knee")], [-7.0, 24.0, 0.0], atol=1e-9)
    # Arms hang from the shoulders (x = ±0.12, y = -0.9 * spine = -0.27).
    np.testing.assert_allclose(kp[J("left_wrist")], [12.0, -27.0 + 30.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(kp[J("neck")], [0.0, -30.0, 0.0], atol=1e-9)
    # Crown: neck + neck length + head radius + 0.93 head radius above the neck.
    np.testing.assert_allclose(kp[J("head_top")], [0.0, -30.0 - 5.0 - 7.0 - 6.51, 0.0],
                               atol=1e-9)
    # Facing the camera, the person's left is on the image's right.
    assert kp[J("left_eye"), 0] > kp[J("nose"), 0] > kp[J("right_eye"), 0]
    assert kp[J("left_ear"), 0] > kp[J("left_eye"), 0]
    assert kp[J("head_top"), 1] < kp[J("left_eye"), 1] < kp[J("nose"), 1] < kp[J("neck"), 1]


def test_back_view_mirrors_left_and_right_and_rolls_rotate_in_plane():
    front = pose_body(SHAPE, STANDING, View(0.0, 0.0, 0.0), 100.0).keypoints
    back = pose_body(SHAPE, STANDING, View(np.pi, 0.0, 0.0), 100.0).keypoints
    np.testing.assert_allclose(back[:, 0], -front[:, 0], atol=1e-9)
    np.testing.assert_allclose(back[:, 1], front[:, 1], atol=1e-9)
    np.testing.assert_allclose(back[:, 2], -front[:, 2], atol=1e-9)
    rolled = pose_body(SHAPE, STANDING, View(0.0, 0.0, np.pi / 2), 100.0).keypoints
    np.testing.assert_allclose(rolled[:, 0], -front[:, 1], atol=1e-9)
    np.testing.assert_allclose(rolled[:, 1], front[:, 0], atol=1e-9)


def test_layout_indices_follow_the_schemas():
    assert [JOINT_NAMES[i] for i in COCO_INDICES] == list(load_schema("coco").keypoints)
    assert [JOINT_NAMES[i] for i in AIC_INDICES] == list(load_schema("aic").keypoints)
    assert JOINT_NAMES[17:] == ("head_top", "neck")


# --- labels agree with the pixels -----------------------------------------------------

@pytest.mark.parametrize("index", range(12))
def test_labels_agree_with_the_rendered_scene(index: int):
    scene = make_scene(gen.image_rng(11, "coco-like", "train", index))
    height, width = scene.owner.shape
    assert 1 <= len(scene.people) <= 4
    empty = scene.owner < 0
    np.testing.assert_array_equal(scene.image[empty], scene.background[empty])
    for k, person in enumerate(scene.people):
        # Pixel of each keypoint (labelled or not) and the same pixel on the person's sprite.
        pix = pixel_of(np.round(person.body.keypoints[:, :2] + person.offset, 2))
        local = pix - person.offset - (person.sprite.x0, person.sprite.y0)
        on_body = person.sprite.mask[local[:, 1], local[:, 0]]
        labelled = person.visibility > 0
        x1, y1, x2, y2 = person.box
        for j in np.flatnonzero(labelled):
            col, row = pix[j]
            assert (pixel_of(person.keypoints[j]) == pix[j]).all()
            assert 1 <= col <= width - 2 and 1 <= row <= height - 2
            assert on_body[j] and x1 <= col <= x2 and y1 <= row <= y2
            if person.visibility[j] == 2:  # in front of everything at its pixel
                assert scene.owner[row, col] == k and not person.self_hidden[j]
                assert (scene.image[row, col] != scene.background[row, col]).any()
            else:  # occluded: behind a nearer person, or behind another part of its body
                assert scene.owner[row, col] > k or person.self_hidden[j]
                if person.self_hidden[j]:
                    z = person.body.keypoints[j, 2]
                    front = person.sprite.depth[local[j, 1], local[j, 0]]
                    assert front < z - person.body.keypoint_depth[j]
        unlabelled = np.flatnonzero(~labelled)
        assert (person.keypoints[unlabelled] == 0).all()
        for j in unlabelled:  # outside the image, a face mark turned away, or off the outline
            col, row = pix[j]
            outside = not (1 <= col <= width - 2 and 1 <= row <= height - 2)
            assert outside or (person.self_hidden[j] and (j in FACE_MARKS or not on_body[j]))
        assert person.area == int((scene.owner == k).sum()) > 0


def test_scenes_cover_views_occlusion_and_sizes():
    people = [p for i in range(40)
              for p in make_scene(gen.image_rng(5, "aic-like", "train", i)).people]
    vis = np.array([p.visibility for p in people])
    heights = np.array([p.box[3] - p.box[1] for p in people])
    nose_hidden = np.array([p.self_hidden[J("nose")] for p in people])
    assert (vis == 1).any() and (vis == 0).any() and (vis == 2).mean() > 0.6
    assert nose_hidden.any() and not nose_hidden.all()  # some back views, mostly front
    assert heights.min() < 100 and heights.max() > 200


# --- files ------------------------------------------------------------------------------

def test_coco_like_files_have_coco_structure(data_dir: Path):
    root = data_dir / "coco-like"
    names = load_schema("coco").keypoints
    for split, count in (("train", TRAIN), ("val", VAL)):
        data = json.loads((root / "annotations" / f"{split}.json").read_text())
        assert set(data) == {"info", "licenses", "images", "annotations", "categories"}
        assert len(data["images"]) == count
        [category] = data["categories"]
        assert category["id"] == 1 and category["keypoints"] == list(names)
        assert category["skeleton"][0] == [16, 14] and len(category["skeleton"]) == 19
        images = {img["id"]: img for img in data["images"]}
        for img in data["images"]:
            decoded = cv2.imread(str(root / "images" / img["file_name"]))
            assert decoded.shape == (img["height"], img["width"], 3)
        ann_ids = [a["id"] for a in data["annotations"]]
        assert len(set(ann_ids)) == len(ann_ids)
        for ann in data["annotations"]:
            img = images[ann["image_id"]]
            assert ann["category_id"] == 1 and ann["iscrowd"] == 0
            xyv = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
            v = xyv[:, 2]
            assert set(v) <= {0, 1, 2} and ann["num_keypoints"] == int((v > 0).sum())
            assert (xyv[v == 0, :2] == 0).all()
            x, y, w, h = ann["bbox"]
            assert x >= 0 and y >= 0 and x + w <= img["width"] and y + h <= img["height"]
            inside = xyv[v > 0, :2]
            assert ((inside >= [x, y]) & (inside <= [x + w, y + h])).all()
            assert 0 < ann["area"] <= w * h


def test_aic_like_files_have_the_native_structure(data_dir: Path):
    root = data_dir / "aic-like"
    for split, count in (("train", TRAIN), ("val", VAL)):
        data = json.loads((root / "annotations" / f"{split}.json").read_text())
        assert isinstance(data, list) and len(data) == count
        for entry in data:
            assert set(entry) == {"image_id", "keypoint_annotations", "human_annotations"}
            assert len(entry["image_id"]) == 40
            decoded = cv2.imread(str(root / "images" / (entry["image_id"] + ".jpg")))
            height, width = decoded.shape[:2]
            assert list(entry["keypoint_annotations"]) == list(entry["human_annotations"])
            assert list(entry["human_annotations"]) == [
                f"human{n}" for n in range(1, len(entry["human_annotations"]) + 1)]
            for human, numbers in entry["keypoint_annotations"].items():
                xyv = np.array(numbers).reshape(14, 3)
                v = xyv[:, 2]
                assert set(v) <= {1, 2, 3}
                np.testing.assert_array_equal(v == 3, (xyv[:, 0] == 0) & (xyv[:, 1] == 0))
                x1, y1, x2, y2 = entry["human_annotations"][human]
                assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
                inside = xyv[v != 3, :2]
                assert ((inside >= [x1, y1]) & (inside <= [x2, y2])).all()


def test_each_image_belongs_to_one_dataset_and_every_file_is_listed(data_dir: Path):
    digests = {}
    for dataset in gen.DATASETS:
        listed = set()
        for split in gen.SPLITS:
            data = json.loads((data_dir / dataset / "annotations" / f"{split}.json").read_text())
            listed |= ({img["file_name"] for img in data["images"]} if dataset == "coco-like"
                       else {entry["image_id"] + ".jpg" for entry in data})
        files = {p.name for p in (data_dir / dataset / "images").iterdir()}
        assert files == listed and len(files) == TRAIN + VAL
        digests[dataset] = {hashlib.sha1(p.read_bytes()).hexdigest()
                            for p in (data_dir / dataset / "images").iterdir()}
    assert not digests["coco-like"] & digests["aic-like"]


def test_posemix_readers_read_the_files(data_dir: Path):
    for split in gen.SPLITS:
        coco_path = data_dir / "coco-like" / "annotations" / f"{split}.json"
        coco = json.loads(coco_path.read_text())
        table = read_coco(coco_path)
        assert len(table) == len(coco["annotations"])
        expected = np.array([a["keypoints"] for a in coco["annotations"]]).reshape(-1, 17, 3)
        np.testing.assert_allclose(table.keypoints, expected[..., :2], atol=1e-4)
        aic_path = data_dir / "aic-like" / "annotations" / f"{split}.json"
        aic = json.loads(aic_path.read_text())
        native = read_aic_native(aic_path, img_dir=data_dir / "aic-like" / "images")
        codes = np.array([kp for entry in aic for kp in entry["keypoint_annotations"].values()]
                         ).reshape(-1, 14, 3)[..., 2]
        np.testing.assert_array_equal(native.visibility, np.array([0, 2, 1, 0])[codes])
        assert (native.width > 0).all()


# --- determinism, reuse, atomicity, CLI -------------------------------------------------

def test_same_seed_gives_the_same_bytes_whatever_the_process_count(data_dir: Path,
                                                                   tmp_path: Path):
    again = tmp_path / "again"
    generate_demo_data(again, seed=3, num_images=TRAIN, num_val=VAL, workers=2,
                       progress=False)
    assert tree_bytes(again) == tree_bytes(data_dir)
    other = tmp_path / "other"
    generate_demo_data(other, seed=4, num_images=TRAIN, num_val=VAL, workers=1,
                       progress=False)
    ours = tree_bytes(data_dir)
    theirs = tree_bytes(other)
    assert ours["coco-like/annotations/train.json"] != theirs["coco-like/annotations/train.json"]


def test_counts_per_dataset_give_a_prefix_of_the_same_images(data_dir: Path, tmp_path: Path):
    # the demo's scarce regime: fewer COCO-like than AIC-like train images
    out = tmp_path / "scarce"
    result = generate_demo_data(out, seed=3, num_images={"coco-like": 2, "aic-like": TRAIN},
                                num_val=VAL, workers=1, progress=False)
    assert result["images"] == {"coco-like": {"train": 2, "val": VAL},
                                "aic-like": {"train": TRAIN, "val": VAL}}
    ours, full = tree_bytes(out), tree_bytes(data_dir)
    coco = json.loads(ours["coco-like/annotations/train.json"])
    assert coco["images"] == json.loads(full["coco-like/annotations/train.json"])["images"][:2]
    for im in coco["images"]:  # image i is the same whatever the counts
        name = f"coco-like/images/{im['file_name']}"
        assert ours[name] == full[name]
    assert ours["aic-like/annotations/train.json"] == full["aic-like/annotations/train.json"]
    with pytest.raises(PosemixError, match=r"counts for exactly \['coco-like', 'aic-like'\]"):
        generate_demo_data(tmp_path / "e", num_images={"coco-like": 2})
    with pytest.raises(PosemixError, match="coco-like train=0 val=1"):
        generate_demo_data(tmp_path / "e", num_images={"coco-like": 0, "aic-like": 2}, num_val=1)


def test_existing_data_is_reused_and_a_foreign_folder_is_refused(data_dir: Path,
                                                                 tmp_path: Path):
    manifest = read_manifest(data_dir)
    assert manifest["seed"] == 3 and manifest["version"] == gen.DATA_VERSION
    assert manifest["images"]["aic-like"] == {"train": TRAIN, "val": VAL}
    before = (data_dir / "manifest.json").stat().st_mtime_ns
    result = generate_demo_data(data_dir, seed=3, num_images=TRAIN, num_val=VAL, workers=1,
                                progress=False)
    assert result["generated"] is False
    assert (data_dir / "manifest.json").stat().st_mtime_ns == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(PosemixError, match="not posemix demo data"):
        generate_demo_data(foreign, num_images=1, num_val=1, workers=1, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_an_interrupted_run_leaves_nothing_behind(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gen, "_aic_file", fail)
    with pytest.raises(KeyboardInterrupt):
        generate_demo_data(tmp_path / "data", num_images=1, num_val=1, workers=1,
                           progress=False)
    assert list(tmp_path.iterdir()) == []


def test_replacing_data_with_another_seed_swaps_the_whole_folder(tmp_path: Path):
    out = tmp_path / "data"
    generate_demo_data(out, seed=0, num_images=2, num_val=1, workers=1, progress=False)
    result = generate_demo_data(out, seed=1, num_images=1, num_val=1, workers=1,
                                progress=False)
    assert result["generated"] and read_manifest(out)["seed"] == 1
    assert len(list((out / "coco-like" / "images").iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_cli_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    parser = argparse.ArgumentParser(prog="posemix")
    add_demo_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo-data", "--out", str(tmp_path / "d"), "--images", "1",
                              "--val-images", "1", "--workers", "1", "--quiet"])
    assert args.func(args) == 0
    assert "coco-like 1 train + 1 val images" in capsys.readouterr().out
    with pytest.raises(PosemixError, match="at least 1 image"):
        generate_demo_data(tmp_path / "e", num_images=0)
