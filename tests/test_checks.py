"""Mapping checks: static findings on known mappings, and the data checks on instances.

The fixtures hold 12 COCO and 9 AIC people, too few for statistics, so each source here
is the fixture's instances plus a few hundred people drawn from one simple body model
(the same model for every source, so only the mapping under test can make them differ).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from posemix.checks import check_dataset, run_checks
from posemix.checks.coverage import coverage, coverage_findings
from posemix.checks.geometry import body_frame, geometry_checks
from posemix.checks.static import check_mapping, cross_source_checks, static_checks
from posemix.data.combined import CombinedDataset
from posemix.data.dataset_types import CocoDataset
from posemix.keypoints import load_schema, mapping_by_name

COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
AIC_NAMES = ["right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
             "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
             "left_ankle", "head_top", "neck"]
# JHMDB's 'head' is the face centre (vocabulary.py); the body model calls it 'face'
JHMDB_NAMES = ["neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip",
               "left_hip", "right_elbow", "left_elbow", "right_knee", "left_knee",
               "right_wrist", "left_wrist", "right_ankle", "left_ankle"]
# MMPose's AIC -> COCO-17 pairs, plus head_top and neck onto coco_aic's 17 and 18
AIC_PAIRS = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
             (9, 11), (10, 13), (11, 15), (12, 17), (13, 18)]
# MMPose's JHMDB -> Halpe-26 idea: its 'head' fed into the head-top keypoint
JHMDB_PAIRS = [(0, 18), (2, 17), (3, 6), (4, 5), (5, 12), (6, 11), (7, 8), (8, 7), (9, 14),
               (10, 13), (11, 10), (12, 9), (13, 16), (14, 15)]
N_SYNTHETIC = 300


def _unit(angle: np.ndarray, side: float) -> np.ndarray:
    """Direction ``angle`` radians away from straight down, outwards on ``side`` (+1 / -1)."""
    return np.stack([side * np.sin(angle), np.cos(angle)], axis=-1)


def synthetic_people(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` people from a simple body model: name -> (n, 2) image coordinates.

    Drawn in torso lengths as seen from the front (the person's left on the image's
    right, mid-shoulder at the origin, hips one unit down), then a third are turned
    around, and all rotated, scaled, moved and jittered.
    """
    rng = np.random.default_rng(seed)
    deg = np.pi / 180
    p: dict[str, np.ndarray] = {}
    width = rng.normal(0.7, 0.05, n)
    zero = np.zeros(n)
    p["left_shoulder"] = np.stack([width / 2, zero], 1)
    p["right_shoulder"] = np.stack([-width / 2, zero], 1)
    lean = rng.normal(0, 0.05, n)
    p["left_hip"] = np.stack([0.22 + lean, 1 + zero], 1)
    p["right_hip"] = np.stack([-0.22 + lean, 1 + zero], 1)
    p["neck"] = np.stack([zero, zero - 0.08], 1)
    p["belly"] = np.stack([lean / 2, zero + 0.55], 1)
    tilt = rng.normal(0, 12 * deg, n)
    rot = np.stack([np.stack([np.cos(tilt), -np.sin(tilt)], 1),
                    np.stack([np.sin(tilt), np.cos(tilt)], 1)], 1)
    head = {"head_top": (0, -0.75), "face": (0, -0.42), "nose": (0, -0.4),
            "left_eye": (0.07, -0.47), "right_eye": (-0.07, -0.47),
            "left_ear": (0.15, -0.42), "right_ear": (-0.15, -0.42)}
    for name, offset in head.items():
        p[name] = p["neck"] + np.einsum("nij,j->ni", rot, np.asarray(offset) - (0, -0.08))
    for side, prefix in ((1.0, "left"), (-1.0, "right")):
        upper = rng.normal(20 * deg, 35 * deg, n)
        lower = upper + rng.normal(20 * deg, 40 * deg, n)
        p[f"{prefix}_elbow"] = p[f"{prefix}_shoulder"] + 0.5 * _unit(upper, side)
        p[f"{prefix}_wrist"] = p[f"{prefix}_elbow"] + 0.45 * _unit(lower, side)
        thigh = rng.normal(5 * deg, 8 * deg, n)
        p[f"{prefix}_knee"] = p[f"{prefix}_hip"] + 0.9 * _unit(thigh, side)
        p[f"{prefix}_ankle"] = p[f"{prefix}_knee"] + 0.85 * _unit(
            thigh + rng.normal(-5 * deg, 8 * deg, n), side)
    back = np.where(rng.random(n) < 0.3, -1.0, 1.0)[:, None]
    angle = rng.normal(0, 15 * deg, n)
    scale = rng.uniform(60, 160, n)[:, None]
    shift = np.stack([rng.uniform(200, 600, n), rng.uniform(150, 400, n)], 1)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    out = {}
    for name, xy in p.items():
        x, y = xy[:, 0:1] * back, xy[:, 1:2]
        turned = np.concatenate([cos * x - sin * y, sin * x + cos * y], 1)
        out[name] = turned * scale + shift + rng.normal(0, 0.02, (n, 2)) * scale
    return out


def write_source(path: Path, names: list[str], people: dict[str, np.ndarray],
                 fixture: Path | None = None, seed: int = 0) -> Path:
    """A COCO-layout file with the fixture's people (if any) and the synthetic ones."""
    data = json.loads(fixture.read_text()) if fixture else {"images": [], "annotations": []}
    rng = np.random.default_rng(seed)
    n = len(next(iter(people.values())))
    for i in range(n):
        xy = np.stack([people[name][i] for name in names])
        labelled = rng.random(len(names)) > 0.05
        kps = np.concatenate([np.round(xy, 2), np.where(labelled, 2, 0)[:, None]], 1)
        kps[~labelled, :2] = 0
        lo, hi = xy.min(0) - 10, xy.max(0) + 10
        data["images"].append({"id": 10_000 + i, "file_name": f"synthetic_{i}.jpg",
                               "width": 1000, "height": 1000})
        data["annotations"].append({
            "id": 100_000 + i, "image_id": 10_000 + i, "category_id": 1, "iscrowd": 0,
            "bbox": [*lo.tolist(), *(hi - lo).tolist()], "area": float(np.prod(hi - lo)),
            "num_keypoints": int(labelled.sum()), "keypoints": kps.reshape(-1).tolist()})
    data["categories"] = [{"id": 1, "name": "person", "keypoints": names}]
    path.write_text(json.dumps(data))
    return path


def source_cfg(kind: str, ann_file: Path, mapping: object) -> dict:
    return dict(type=kind, ann_file=str(ann_file), data_prefix=dict(img=""),
                pipeline=[dict(type="KeypointConverter", num_keypoints=19, mapping=mapping)])


def write_sources(root: Path, fixtures_dir: Path) -> dict[str, Path]:
    """Synthetic sources: COCO and AIC (with their fixtures), AIC with the wrists
    exchanged (what the pairs (2, 9), (5, 10) would produce), and a JHMDB-like source."""
    swapped = synthetic_people(N_SYNTHETIC, seed=2)
    swapped["left_wrist"], swapped["right_wrist"] = swapped["right_wrist"], swapped["left_wrist"]
    jhmdb_names = ["head" if n == "face" else n for n in JHMDB_NAMES]
    jhmdb_people = synthetic_people(N_SYNTHETIC, seed=3)
    jhmdb_people["head"] = jhmdb_people["face"]
    return {
        "coco": write_source(root / "coco.json", COCO_NAMES, synthetic_people(N_SYNTHETIC, 1),
                             fixtures_dir / "coco" / "test_coco.json"),
        "aic": write_source(root / "aic.json", AIC_NAMES, synthetic_people(N_SYNTHETIC, 2),
                            fixtures_dir / "aic" / "test_aic.json"),
        "aic_swapped": write_source(root / "aic_swapped.json", AIC_NAMES, swapped,
                                    fixtures_dir / "aic" / "test_aic.json"),
        "jhmdb": write_source(root / "jhmdb.json", jhmdb_names, jhmdb_people),
    }


@pytest.fixture(scope="module")
def source_files(tmp_path_factory, fixtures_dir) -> dict[str, Path]:
    return write_sources(tmp_path_factory.mktemp("sources"), fixtures_dir)


def combined(files: dict[str, Path], *sources: tuple[str, str, object],
             **kwargs) -> CombinedDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        return CombinedDataset(metainfo="coco_aic", datasets=[
            source_cfg(kind, files[key], mapping) for key, kind, mapping in sources], **kwargs)


COCO_SOURCE = ("coco", "CocoDataset", "by_name")
AIC_SOURCE = ("aic", "AicDataset", AIC_PAIRS)


@pytest.fixture(scope="module")
def coco_aic(source_files) -> CombinedDataset:
    return combined(source_files, COCO_SOURCE, AIC_SOURCE)


@pytest.fixture(scope="module")
def schemas() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {n: load_schema(n) for n in ("coco", "aic", "coco_aic", "mpii", "jhmdb")}


# -- static ---------------------------------------------------------------------------------
def test_mmpose_aic_pairs_raise_no_finding(schemas):
    mapping, findings = check_mapping(schemas["aic"], schemas["coco_aic"], AIC_PAIRS, label="aic")
    assert mapping is not None and mapping.pairs == AIC_PAIRS
    assert findings == []


def test_wrist_pairs_swapped_by_index_are_refused_by_name(schemas):
    pairs = [(2, 9) if p == (2, 10) else (5, 10) if p == (5, 9) else p for p in AIC_PAIRS]
    mapping, findings = check_mapping(schemas["aic"], schemas["coco_aic"], pairs, label="aic")
    assert mapping is None
    assert [(f.level, f.code) for f in findings] == [("error", "mapping-invalid")]
    assert "left/right inconsistent" in findings[0].message
    assert "'right_wrist'" in findings[0].message and "'left_wrist'" in findings[0].message


def test_out_of_range_pair_becomes_an_error_finding(schemas):
    mapping, findings = check_mapping(schemas["aic"], schemas["coco"], [(14, 0)], label="aic")
    assert mapping is None and findings[0].code == "mapping-invalid"
    assert "source index 14 is out of range for 14 source keypoints" in findings[0].message


def test_converter_size_mismatch_becomes_an_error_finding(schemas):
    mapping, findings = check_mapping(schemas["aic"], schemas["coco_aic"], AIC_PAIRS,
                                      num_keypoints=17, label="aic")
    assert mapping is None and findings[0].code == "mapping-invalid"
    assert "num_keypoints=17) does not match" in findings[0].message


def test_plain_dataset_is_checked_as_one_source(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = CocoDataset(ann_file=str(fixtures_dir / "coco" / "test_coco.json"))
    results = check_dataset(dataset)
    assert results.findings == []  # identity mapping, 12 people: nothing to compare yet
    assert results.coverage["sources"] == ["coco"] and results.coverage["instances"] == [12]


def test_face_mapped_onto_head_top_is_a_name_mismatch(schemas):
    _, findings = check_mapping(schemas["jhmdb"], schemas["coco_aic"], JHMDB_PAIRS,
                                label="jhmdb")
    assert [f.code for f in findings] == ["name-mismatch"]
    assert findings[0].keypoints == ["head_top"]
    assert "2 ('head') -> 17 ('head_top')" in findings[0].message


def test_thorax_to_neck_by_name_is_a_guess_to_confirm(schemas):
    mapping = mapping_by_name(schemas["mpii"], schemas["coco_aic"], "mpii")
    findings = static_checks(mapping, source="mpii")
    codes = {f.code: f for f in findings}
    assert codes["guess-match"].keypoints == ["neck"]
    assert "7 ('thorax') -> 18 ('neck')" in codes["guess-match"].message
    # MPII's pelvis and upper_neck have no namesake in coco_aic: dropping them is fine
    assert "dropped-same-name" not in codes


def test_forgotten_pair_of_a_same_named_keypoint_is_reported(schemas):
    pairs = [p for p in AIC_PAIRS if p != (12, 17)]
    _, findings = check_mapping(schemas["aic"], schemas["coco_aic"], pairs, label="aic")
    (finding,) = findings
    assert finding.code == "dropped-same-name" and finding.keypoints == ["head_top"]
    assert "(12, 17)" in finding.advice and "left undefined" in finding.message


def test_averaged_and_reused_keypoints_are_listed(schemas):
    # neck as the mid-shoulder point: both shoulders also feed their own targets
    pairs = [p for p in AIC_PAIRS if p != (13, 18)] + [((0, 3), 18)]
    _, findings = check_mapping(schemas["aic"], schemas["coco_aic"], pairs, label="aic")
    codes = {f.code: f for f in findings}
    assert codes["averaged-target"].keypoints == ["neck"]
    assert codes["source-reused"].keypoints == ["right_shoulder", "left_shoulder"]
    assert "right_shoulder -> right_shoulder, neck" in codes["source-reused"].message
    # AIC's own neck is now dropped although coco_aic has one
    assert codes["dropped-same-name"].keypoints == ["neck"]


def test_head_top_fed_by_head_top_and_face_is_a_cross_source_conflict(schemas):
    aic, _ = check_mapping(schemas["aic"], schemas["coco_aic"], AIC_PAIRS, label="aic")
    jhmdb, _ = check_mapping(schemas["jhmdb"], schemas["coco_aic"], JHMDB_PAIRS, label="jhmdb")
    (finding,) = cross_source_checks([aic, jhmdb], ["aic", "jhmdb"])
    assert finding.code == "sources-disagree" and finding.keypoints == ["head_top"]
    assert finding.source == "aic, jhmdb"
    assert "aic 'head_top' (means 'head_top'); jhmdb 'head' (means 'face')" in finding.message


# -- geometry -------------------------------------------------------------------------------
def test_body_frame_by_hand():
    # front view: the person's left shoulder is on the image's right
    front = np.array([[[10, 0], [0, 0], [8, 10], [2, 10], [0, 5]]], float)
    back = np.array([[[0, 0], [10, 0], [2, 10], [8, 10], [10, 5]]], float)
    side = np.array([[[5.4, 0], [4.6, 0], [5, 10], [5, 10], [0, 5]]], float)
    vis = np.full((1, 5), 2)
    frame = (0, 1, 2, 3)
    for instance in (front, back):
        coords = body_frame(instance, vis, frame)
        # the point is on the person's right (x > 0), half a torso down
        np.testing.assert_allclose(coords[0, 4], [0.5, 0.5])
        np.testing.assert_allclose(coords[0, :4], [[-0.5, 0], [0.5, 0], [-0.3, 1], [0.3, 1]])
    assert np.isnan(body_frame(side, vis, frame)).all()  # shoulder width 0.08 torso
    no_hip = vis.copy()
    no_hip[0, 2] = 0
    assert np.isnan(body_frame(front, no_hip, frame)).all()


def test_correct_aic_mapping_is_not_flagged(coco_aic):
    findings, stats = geometry_checks(coco_aic)
    assert findings == []
    assert stats["frame"] == ["left_shoulder", "right_shoulder", "left_hip", "right_hip"]
    assert stats["sources"] == ["coco", "aic"]
    compared = {coco_aic.schema.keypoints[c["keypoint"]] for c in stats["comparisons"]}
    assert compared == set(COCO_NAMES[5:])  # the 12 keypoints both sources define
    assert all(c["standardized"] < 0.5 for c in stats["comparisons"])
    # head_top comes from AIC only: its mean sits about 0.67 torso lengths above the shoulders
    aic_head_top = stats["mean"][1, 17]
    assert abs(aic_head_top[0]) < 0.05 and -0.75 < aic_head_top[1] < -0.6
    assert np.isnan(stats["mean"][0, 17]).all() and stats["count"][0, 17] == 0


def test_swapped_wrists_are_flagged_from_the_data(source_files):
    dataset = combined(source_files, COCO_SOURCE, ("aic_swapped", "AicDataset", AIC_PAIRS))
    findings, stats = geometry_checks(dataset)
    assert [(f.level, f.code, f.source) for f in findings] == [
        ("error", "left-right-swap", "aic")]
    assert sorted(findings[0].keypoints) == ["left_wrist", "right_wrist"]
    flagged = [c for c in stats["comparisons"] if c["flagged"]]
    assert sorted(c["keypoint"] for c in flagged) == [9, 10]
    assert all(c["swap"] and c["mirror_distance"] < c["distance"] for c in flagged)


def test_face_centre_as_head_top_is_flagged_from_the_data(source_files):
    dataset = combined(source_files, COCO_SOURCE, AIC_SOURCE,
                       ("jhmdb", "JhmdbDataset", JHMDB_PAIRS))
    findings, stats = geometry_checks(dataset)
    assert [(f.level, f.code, f.source, f.keypoints) for f in findings] == [
        ("warning", "definition-drift", "jhmdb", ["head_top"])]
    (row,) = [c for c in stats["comparisons"] if c["flagged"]]
    # the face centre is a third of a torso below the head top (0.33 in the body model)
    assert 0.25 < row["distance"] < 0.4 and row["offset"][1] > 0
    assert "towards the hips" in findings[0].message


def test_geometry_needs_shoulders_and_hips(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = CombinedDataset(metainfo="coco", datasets=[dict(
            type="CocoDataset", ann_file=str(fixtures_dir / "coco" / "test_coco.json"),
            metainfo=dict(from_file="configs/_base_/datasets/coco.py"))])
    findings, stats = geometry_checks(dataset)
    assert findings == [] and stats["frame"] is not None  # too few people to compare
    assert stats["usable"] == [12]


# -- coverage -------------------------------------------------------------------------------
def test_coverage_counts_match_the_annotation_files(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = CombinedDataset(metainfo="coco_aic", datasets=[
            source_cfg("CocoDataset", fixtures_dir / "coco" / "test_coco.json", "by_name"),
            source_cfg("AicDataset", fixtures_dir / "aic" / "test_aic.json", AIC_PAIRS)])
    cov = coverage(dataset)
    expected = []
    for sub, file in zip(dataset.datasets, ("coco/test_coco.json", "aic/test_aic.json"),
                         strict=True):
        anns = json.loads((fixtures_dir / file).read_text())["annotations"]
        kept = set(sub.table.ann_id.tolist())
        vis = np.array([a["keypoints"][2::3] for a in anns if a["id"] in kept])
        expected.append((vis > 0).sum(axis=0))
    coco_counts, aic_counts = expected
    assert cov["labelled"][0] == coco_counts.tolist() + [0, 0]
    aic_expected = [0] * 19  # AIC has no face keypoints
    for s, t in AIC_PAIRS:
        aic_expected[t] = int(aic_counts[s])
    assert cov["labelled"][1] == aic_expected
    assert cov["defined"][0] == [True] * 17 + [False, False]
    assert cov["instances"] == [12, 9]
    assert cov["fraction"][17] == pytest.approx(cov["labelled"][1][17] / 21)


def test_rare_and_undefined_keypoints_are_warned(source_files):
    rare = combined(source_files, COCO_SOURCE, AIC_SOURCE, sample_ratio_factor=[1.0, 0.005])
    assert rare.lens == [312, 2]
    findings = coverage_findings(coverage(rare))
    assert [(f.code, f.keypoints) for f in findings] == [
        ("keypoint-rare", ["head_top"]), ("keypoint-rare", ["neck"])]
    assert "aic" in findings[0].advice and "sample_ratio_factor" in findings[0].advice
    coco_only = combined(source_files, COCO_SOURCE)
    findings = coverage_findings(coverage(coco_only))
    assert [(f.code, f.keypoints) for f in findings] == [
        ("keypoint-undefined", ["head_top"]), ("keypoint-undefined", ["neck"])]


# -- all together ---------------------------------------------------------------------------
def test_run_checks_puts_errors_first(source_files):
    dataset = combined(source_files, COCO_SOURCE, ("aic_swapped", "AicDataset", AIC_PAIRS),
                       ("jhmdb", "JhmdbDataset", JHMDB_PAIRS))
    findings = run_checks(dataset)
    codes = [f.code for f in findings]
    assert codes[0] == "left-right-swap"
    assert set(codes[1:]) == {"name-mismatch", "sources-disagree", "definition-drift"}
    assert all(f.level == "warning" for f in findings[1:])
    results = check_dataset(dataset)
    assert [f.code for f in results.errors] == ["left-right-swap"]
    assert results.coverage["sources"] == ["coco", "aic", "jhmdb"]
