"""posemix.evaluation: CocoMetric against MMPose's golden numbers and hand-derived AP,
OKS NMS, rescoring, PCK, and errors on bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from posemix.errors import AnnotationError, ConfigError, PosemixError
from posemix.evaluation import (
    CocoMetric,
    PCKAccuracy,
    instance_scores,
    oks_matrix,
    oks_nms,
    soft_oks_nms,
)
from posemix.registry import METRICS

# Section 4.4 of reference/mmpose-mixed-datasets.md (coco.py and aic.py).
COCO_SIGMAS = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
               0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
AIC_SIGMAS = [0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144,
              0.03909642, 0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081,
              0.01291456, 0.01236173]
COCO_META = {"name": "coco", "sigmas": COCO_SIGMAS, "num_keypoints": 17}
AIC_META = {"name": "aic", "sigmas": AIC_SIGMAS, "num_keypoints": 14}
STATS = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)",
         "AR (L)")


def make_metric(meta: dict, **kwargs) -> CocoMetric:
    metric = CocoMetric(**kwargs)
    metric.dataset_meta = meta
    return metric


def gt_predictions(ann_file: Path, score: float = 1.0) -> list[dict]:
    """One prediction per GT with labelled keypoints, exactly at the GT."""
    data = json.loads(ann_file.read_text())
    predictions = []
    for ann in data["annotations"]:
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        if not (kpts[:, 2] > 0).any():
            continue
        x, y, w, h = ann["bbox"]
        predictions.append({
            "id": ann["id"], "img_id": ann["image_id"], "keypoints": kpts[None, :, :2],
            "keypoint_scores": np.ones((1, len(kpts))), "bbox": [[x, y, x + w, y + h]],
            "bbox_score": [score]})
    return predictions


# --------------------------------------------------------------------------- golden

@pytest.mark.parametrize("source", ["coco", "aic"])
@pytest.mark.parametrize("nms_mode", ["oks_nms", "none"])
def test_matches_mmpose_golden(golden_dir, fixtures_dir, source, nms_mode):
    # golden/README.md: bbox = GT box xyxy, bbox score 1, NMS area = (1.25 w)(1.25 h).
    predictions = json.loads((golden_dir / f"{source}_predictions.json").read_text())
    for pred in predictions:
        box = np.asarray(pred["bbox"])
        pred["area"] = (1.25 * (box[:, 2] - box[:, 0])) * (1.25 * (box[:, 3] - box[:, 1]))
        pred["bbox_score"] = [pred["bbox_score"]]
    meta, use_area = (COCO_META, True) if source == "coco" else (AIC_META, False)
    metric = make_metric(meta, ann_file=fixtures_dir / source / f"test_{source}.json",
                         use_area=use_area, score_mode="bbox_keypoint",
                         keypoint_score_thr=0.2, nms_mode=nms_mode, nms_thr=0.9)
    metric.process(predictions)
    result = metric.evaluate()

    expected = json.loads((golden_dir / "coco_metric_results.json").read_text())
    expected = expected[f"{source}_{nms_mode}"]
    assert set(result) == set(expected) == {f"coco/{k}" for k in STATS}
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-6), key


# ----------------------------------------------------------------- perfect predictions

def test_predictions_equal_to_gt_give_ap_one(fixtures_dir):
    ann_file = fixtures_dir / "coco" / "test_coco.json"
    metric = make_metric(COCO_META, ann_file=ann_file)
    metric.process(gt_predictions(ann_file))
    result = metric.evaluate()
    # The fixture has medium and large persons, so every statistic is defined.
    assert result == {f"coco/{k}": pytest.approx(1.0) for k in STATS}


def test_aic_file_without_area_and_iscrowd_loads(fixtures_dir):
    # No 'area': xtcocotools uses 0.53 w h, which puts all 9 AIC persons in 'large'.
    ann_file = fixtures_dir / "aic" / "test_aic.json"
    metric = make_metric(AIC_META, ann_file=ann_file, use_area=False, prefix="aic")
    metric.process(gt_predictions(ann_file))
    result = metric.evaluate()
    assert result["aic/AP"] == pytest.approx(1.0)
    assert result["aic/AR (L)"] == pytest.approx(1.0)
    assert result["aic/AP (M)"] == -1.0


def test_gt_without_num_keypoints_is_not_ignored(tmp_path):
    # xtcocotools ignores a GT only when it has no labelled keypoint; the file's
    # 'num_keypoints' field (absent here) must not decide it.
    ann_file = write_gt(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1,
                                    "bbox": [10, 10, 100, 200], "area": 15000.0,
                                    "keypoints": [50, 60, 2, 70, 80, 1]}])
    metric = make_metric({"name": "two", "sigmas": [0.05, 0.05]}, ann_file=ann_file)
    metric.process([{"id": 1, "img_id": 1, "keypoints": [[[50, 60], [70, 80]]],
                     "keypoint_scores": [[0.9, 0.9]]}])
    assert metric.evaluate()["coco/AP"] == pytest.approx(1.0)


def test_detection_without_positive_keypoint_score_is_dropped(fixtures_dir):
    # As in xtcocotools: a detection whose keypoint scores are all 0 does not count,
    # even when score_mode='bbox' ranks it first.
    ann_file = fixtures_dir / "coco" / "test_coco.json"
    predictions = gt_predictions(ann_file, score=0.5)
    predictions.append({"id": 1, "img_id": 785, "keypoints": np.zeros((1, 17, 2)),
                        "keypoint_scores": np.zeros((1, 17)), "bbox": [[0, 0, 50, 50]],
                        "bbox_score": [1.0]})
    metric = make_metric(COCO_META, ann_file=ann_file, score_mode="bbox")
    metric.process(predictions)
    assert metric.evaluate()["coco/AP"] == pytest.approx(1.0)


# ------------------------------------------------------------ hand-derived AP / AR

def write_gt(tmp_path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    ids = sorted({a["image_id"] for a in annotations})
    data = {"images": images or [{"id": i, "width": 640, "height": 480} for i in ids],
            "categories": [{"id": 1, "name": "person"}], "annotations": annotations}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    return path


def hand_oks(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, sigmas: np.ndarray,
             area: float) -> float:
    """OKS written out: e = d^2 / (2 sigma)^2 / (area + eps) / 2, mean of exp(-e) over
    labelled GT keypoints."""
    d2 = ((pred - gt) ** 2).sum(axis=1)
    e = d2 / (2 * sigmas) ** 2 / (area + np.spacing(1)) / 2
    return float(np.exp(-e)[visible].mean())


def one_person_per_image(fixtures_dir: Path, tmp_path: Path) -> tuple[Path, list[dict]]:
    """fixtures/coco reduced to the most completely labelled person of each image."""
    data = json.loads((fixtures_dir / "coco" / "test_coco.json").read_text())
    best: dict[int, dict] = {}
    for ann in data["annotations"]:
        kept = best.get(ann["image_id"])
        if kept is None or ann["num_keypoints"] > kept["num_keypoints"]:
            best[ann["image_id"]] = ann
    annotations = [best[i] for i in sorted(best)]
    return write_gt(tmp_path, annotations, data["images"]), annotations


# Person A..D of one_person_per_image: the OKS of each one's prediction, and its score.
TARGET_OKS = [0.97, 0.62, 0.83, 0.30]
DET_SCORES = [0.9, 0.8, 0.7, 0.6]


def shifted_predictions(annotations: list[dict]) -> tuple[list[dict], list[float]]:
    """One prediction per person, every keypoint shifted along x so that each labelled one
    has exp(-e) = TARGET_OKS; and the OKS of each, written out."""
    sigmas = np.asarray(COCO_SIGMAS, dtype=np.float32)
    predictions, oks = [], []
    for ann, target, score in zip(annotations, TARGET_OKS, DET_SCORES, strict=True):
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        visible = kpts[:, 2] > 0
        shift = np.sqrt(-math.log(target) * 2 * (2 * sigmas.astype(np.float64)) ** 2
                        * ann["area"])
        pred = kpts[:, :2].copy()
        pred[:, 0] += shift
        oks.append(hand_oks(pred, kpts[:, :2], visible, sigmas, ann["area"]))
        predictions.append({"id": ann["id"], "img_id": ann["image_id"],
                            "keypoints": pred[None], "keypoint_scores": np.ones((1, 17)),
                            "bbox_score": [score], "area": [ann["area"]]})
    return predictions, oks


def test_ap_and_ar_match_hand_derivation(fixtures_dir, tmp_path):
    ann_file, annotations = one_person_per_image(fixtures_dir, tmp_path)
    assert len(annotations) == 4
    predictions, oks = shifted_predictions(annotations)
    assert oks == pytest.approx(TARGET_OKS, abs=1e-6)

    metric = make_metric(COCO_META, ann_file=ann_file)
    metric.process(predictions)
    result = metric.evaluate()

    # Ranked by score A, B, C, D. At OKS threshold t a detection is a true positive
    # when its OKS >= t; the 101-point precision envelope then gives, per t:
    #   t in .50 .55 .60       : TP TP TP FP -> precision 1 up to recall .75: 76/101
    #   t in .65 .70 .75 .80   : TP FP TP FP -> 1 up to recall .25 (26 points), then
    #                            2/3 up to .50 (25 points): (26 + 25 * 2/3) / 101
    #   t in .85 .90 .95       : TP FP FP FP -> 1 up to recall .25: 26/101
    ap_3tp = 76 / 101
    ap_2tp = (26 + 25 * 2 / 3) / 101
    ap_1tp = 26 / 101
    assert [o >= 0.5 for o in oks] == [True, True, True, False]
    assert [o >= 0.75 for o in oks] == [True, False, True, False]
    assert result["coco/AP .5"] == pytest.approx(ap_3tp)
    assert result["coco/AP .75"] == pytest.approx(ap_2tp)
    assert result["coco/AP"] == pytest.approx((3 * ap_3tp + 4 * ap_2tp + 3 * ap_1tp) / 10)
    # Recall is the fraction of persons matched.
    assert result["coco/AR .5"] == pytest.approx(3 / 4)
    assert result["coco/AR .75"] == pytest.approx(2 / 4)
    assert result["coco/AR"] == pytest.approx((3 * 3 + 4 * 2 + 3 * 1) / 4 / 10)

    # A sample processed twice (distributed padding) counts once.
    metric.process(predictions + predictions[:2])
    assert metric.evaluate() == result


def test_nms_removes_near_duplicates_that_would_lower_ap(fixtures_dir, tmp_path):
    """A near-duplicate of person A's prediction, scored between A and B: without NMS it
    is a false positive ranked above B, C and D; OKS NMS (thr 0.9) removes it and gives
    back the AP of the hand derivation above."""
    ann_file, annotations = one_person_per_image(fixtures_dir, tmp_path)
    predictions, _ = shifted_predictions(annotations)
    a = predictions[0]
    duplicate = dict(a, id=10_000, keypoints=a["keypoints"] + [1.0, 0.5], bbox_score=[0.85])
    pair = oks_matrix(np.concatenate([a["keypoints"], duplicate["keypoints"]]),
                      np.r_[a["area"], a["area"]], np.asarray(COCO_SIGMAS, np.float32))
    assert pair[0, 1] > 0.9  # above nms_thr: the same person
    results = {}
    for mode in ("oks_nms", "none"):
        metric = make_metric(COCO_META, ann_file=ann_file, nms_mode=mode, nms_thr=0.9)
        metric.process(predictions + [duplicate])
        results[mode] = metric.evaluate()
    # Without duplicates (the hand derivation): 76/101, (26 + 25 * 2/3)/101, 26/101.
    clean = (3 * 76 / 101 + 4 * (26 + 25 * 2 / 3) / 101 + 3 * 26 / 101) / 10
    assert results["oks_nms"]["coco/AP"] == pytest.approx(clean)
    # Ranked A, A', B, C, D; A' always finds A's person taken: a false positive.
    #   t in .50 .55 .60     : TP FP TP TP FP -> 1 up to recall .25, then 3/4 up to .75:
    #                          (26 + 50 * 3/4) / 101
    #   t in .65 .70 .75 .80 : TP FP FP TP FP -> 1 up to .25, then 2/4 up to .50
    #   t in .85 .90 .95     : TP FP FP FP FP -> 26/101
    dup = (3 * (26 + 50 * 3 / 4) / 101 + 4 * (26 + 25 * 2 / 4) / 101 + 3 * 26 / 101) / 10
    assert results["none"]["coco/AP"] == pytest.approx(dup)
    assert results["none"]["coco/AP .5"] == pytest.approx((26 + 50 * 3 / 4) / 101)
    # recall does not change: the duplicate matches nobody
    assert results["none"]["coco/AR"] == results["oks_nms"]["coco/AR"]


# ------------------------------------------------------------------------ OKS NMS

TRIANGLE = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
TRI_SIGMAS = np.array([0.1, 0.1, 0.1], dtype=np.float32)
TRI_AREA = 400.0


def shift_for_oks(target: float) -> float:
    # Whole-pose shift d with exp(-d^2 / (2 sigma)^2 / area / 2) = target.
    return math.sqrt(-math.log(target) * 2 * (2 * 0.1) ** 2 * TRI_AREA)


def test_oks_matrix_matches_formula():
    other = TRIANGLE + [[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]]
    matrix = oks_matrix(np.stack([TRIANGLE, other]), np.array([TRI_AREA, 2 * TRI_AREA]),
                        TRI_SIGMAS)
    # Mean area of the pair is the OKS scale; every keypoint counts.
    expected = hand_oks(other, TRIANGLE, np.ones(3, bool), TRI_SIGMAS, 1.5 * TRI_AREA)
    assert matrix.dtype == np.float32
    assert matrix[0, 1] == matrix[1, 0] == pytest.approx(expected, rel=1e-6)
    assert matrix[0, 0] == pytest.approx(1.0)


def test_oks_nms_suppresses_duplicate_above_threshold_only():
    near = TRIANGLE + [shift_for_oks(0.95), 0.0]   # OKS 0.95 with the first pose
    far = TRIANGLE + [shift_for_oks(0.85), 0.0]    # OKS 0.85 with the first pose
    poses = np.stack([near, TRIANGLE, far])
    keep = oks_nms(poses, np.array([0.8, 0.9, 0.7]), np.full(3, TRI_AREA), TRI_SIGMAS, 0.9)
    assert keep.tolist() == [1, 2]


def test_soft_oks_nms_reorders_by_decayed_score():
    near = TRIANGLE + [shift_for_oks(0.95), 0.0]
    distant = TRIANGLE + 1000.0
    poses = np.stack([TRIANGLE, near, distant])
    scores = np.array([0.9, 0.85, 0.5])
    # After the first pick, near's score decays to 0.85 * exp(-0.95^2 / 0.9) = 0.312
    # and falls below distant's 0.5 (whose OKS with the first is 0).
    assert 0.85 * math.exp(-0.95**2 / 0.9) < 0.5
    keep = soft_oks_nms(poses, scores, np.full(3, TRI_AREA), TRI_SIGMAS, 0.9)
    assert keep.tolist() == [0, 2, 1]
    assert soft_oks_nms(poses, scores, np.full(3, TRI_AREA), TRI_SIGMAS, 0.9,
                        max_dets=2).tolist() == [0, 2]


def test_metric_applies_nms_per_image_and_writes_results(tmp_path):
    ann_file = write_gt(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "area": TRI_AREA,
         "keypoints": np.c_[TRIANGLE, np.full(3, 2)].ravel().tolist()}])
    meta = {"name": "tri", "sigmas": TRI_SIGMAS}
    near = TRIANGLE + [shift_for_oks(0.95), 0.0]
    far = TRIANGLE + [shift_for_oks(0.85), 0.0]
    predictions = [{"id": i, "img_id": 1, "keypoints": pose[None],
                    "keypoint_scores": np.full((1, 3), score), "area": [TRI_AREA]}
                   for i, (pose, score) in enumerate([(TRIANGLE, 0.9), (near, 0.8),
                                                      (far, 0.7)])]
    written = {}
    for mode in ("oks_nms", "none"):
        prefix = tmp_path / mode / "results"
        metric = make_metric(meta, ann_file=ann_file, nms_mode=mode, format_only=True,
                             outfile_prefix=prefix)
        metric.process(predictions)
        assert metric.evaluate() == {}
        written[mode] = json.loads(Path(f"{prefix}.keypoints.json").read_text())
        assert [p.name for p in (tmp_path / mode).iterdir()] == ["results.keypoints.json"]
    # bbox_keypoint scores: all keypoint scores above 0.2, bbox score 1 -> the mean.
    assert [r["score"] for r in written["oks_nms"]] == pytest.approx([0.9, 0.7])
    assert len(written["none"]) == 3
    first = written["oks_nms"][0]
    assert first["image_id"] == 1 and first["category_id"] == 1
    assert first["keypoints"] == pytest.approx(np.c_[TRIANGLE, np.full(3, 0.9)].ravel())


# ---------------------------------------------------------------------- rescoring

def test_instance_scores_per_mode():
    kpt = np.array([[0.1, 0.5, 0.9], [0.1, 0.2, 0.15]])
    box = np.array([0.8, 0.5])
    assert instance_scores(kpt, box, "bbox", 0.2) == pytest.approx([0.8, 0.5])
    assert instance_scores(kpt, box, "keypoint", 0.2) == pytest.approx([0.5, 0.15])
    assert instance_scores(kpt, box, "bbox_rle", 0.2) == pytest.approx([2.2, 0.85])
    # Only scores strictly above the threshold count; none above -> 0.
    assert instance_scores(kpt, box, "bbox_keypoint", 0.2) == pytest.approx([0.56, 0.0])


# ---------------------------------------------------------------------------- PCK

def pck_samples() -> list[dict]:
    gt = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 30.0], [40.0, 40.0]])
    return [
        # Box 100 x 50 -> norm 100. Errors 5, 15, 9, 0 -> 0.05 ok, 0.15 no, (2 and 3
        # not labelled).
        {"id": 1, "keypoints": [gt + [[5, 0], [0, 15], [9, 0], [0, 0]]],
         "gt_keypoints": [gt], "gt_visible": [[2, 1, 0, 0]], "gt_bbox": [[0, 0, 100, 50]]},
        # Box 40 x 80 -> norm 80. Errors 10, 4, 7 -> 0.125 no, 0.05 ok, 0.0875 ok.
        {"id": 2, "keypoints": [gt + [[6, 8], [0, 4], [0, 7], [0, 0]]],
         "gt_keypoints": [gt], "gt_visible": [[1, 1, 1, 0]], "gt_bbox": [[0, 0, 40, 80]]},
        # A zero-size box cannot normalise: left out entirely.
        {"id": 3, "keypoints": [gt + 100], "gt_keypoints": [gt], "gt_visible": [[1, 1, 1, 1]],
         "gt_bbox": [[5, 5, 5, 5]]},
    ]


def test_pck_hand_computed():
    metric = PCKAccuracy(thr=0.1)
    metric.dataset_meta = {"name": "four", "keypoints": ["a", "b", "c", "d"]}
    metric.process(pck_samples())
    result = metric.evaluate()
    # Per keypoint: a 1/2, b 1/2, c 1/1, d never labelled (skipped); PCK = their mean.
    assert result == {"pck/PCK": pytest.approx(2 / 3), "pck/PCK/a": pytest.approx(0.5),
                      "pck/PCK/b": pytest.approx(0.5), "pck/PCK/c": pytest.approx(1.0)}


def test_pck_without_names_and_custom_prefix():
    metric = METRICS.build({"type": "PCKAccuracy", "thr": 0.1, "prefix": "aic"})
    metric.process(pck_samples())
    assert metric.evaluate() == {"aic/PCK": pytest.approx(2 / 3)}


def test_pck_rejects_other_norm_items():
    with pytest.raises(ConfigError, match="torso"):
        PCKAccuracy(norm_item=["bbox", "torso"])


# ------------------------------------------------------------------------- errors

def test_missing_annotation_file_names_it(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(AnnotationError, match="nope.json"):
        CocoMetric(ann_file=missing)


def test_annotation_file_without_annotations_names_it(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(AnnotationError, match=r"empty\.json.*'annotations'"):
        CocoMetric(ann_file=path)


def test_annotation_record_without_bbox_names_record(tmp_path):
    path = write_gt(tmp_path, [{"id": 7, "image_id": 1, "category_id": 1,
                                "keypoints": [1, 2, 2]}])
    with pytest.raises(AnnotationError, match="record 7, field 'bbox'"):
        CocoMetric(ann_file=path)


def test_keypoint_count_mismatch_is_explained(fixtures_dir):
    metric = make_metric(COCO_META, ann_file=fixtures_dir / "coco" / "test_coco.json")
    metric.process([{"id": 1, "img_id": 785, "keypoints": np.zeros((1, 19, 2)),
                     "keypoint_scores": np.ones((1, 19))}])
    with pytest.raises(PosemixError, match="predictions have 19 keypoints, the schema "
                                           "'coco' has 17"):
        metric.evaluate()


def test_annotation_file_of_another_schema_is_explained(fixtures_dir):
    metric = make_metric(COCO_META, ann_file=fixtures_dir / "aic" / "test_aic.json")
    metric.process([{"id": 4, "img_id": 1, "keypoints": np.zeros((1, 17, 2)),
                     "keypoint_scores": np.ones((1, 17))}])
    with pytest.raises(PosemixError, match="has 14 keypoints per annotation, the schema "
                                           "'coco' has 17"):
        metric.evaluate()


def test_unknown_image_and_bad_shapes_are_reported(fixtures_dir):
    metric = make_metric(COCO_META, ann_file=fixtures_dir / "coco" / "test_coco.json")
    metric.process([{"id": 1, "img_id": 999, "keypoints": np.zeros((1, 17, 2)),
                     "keypoint_scores": np.ones((1, 17))}])
    with pytest.raises(PosemixError, match=r"image ids \[999\]"):
        metric.evaluate()
    with pytest.raises(PosemixError, match=r"id 5\): 'keypoint_scores' has shape \(1, 16\)"):
        metric.process([{"id": 5, "img_id": 785, "keypoints": np.zeros((1, 17, 2)),
                         "keypoint_scores": np.ones((1, 16))}])


def test_metric_needs_sigmas_and_valid_options(fixtures_dir):
    metric = CocoMetric(ann_file=fixtures_dir / "coco" / "test_coco.json")
    metric.process(gt_predictions(fixtures_dir / "coco" / "test_coco.json"))
    with pytest.raises(PosemixError, match="dataset_meta"):
        metric.evaluate()
    with pytest.raises(ConfigError, match="score_mode"):
        CocoMetric(score_mode="oks")
    with pytest.raises(ConfigError, match="outfile_prefix"):
        CocoMetric(format_only=True)
    with pytest.raises(ConfigError, match="nms_threshold"):
        METRICS.build({"type": "CocoMetric", "nms_threshold": 0.9})
