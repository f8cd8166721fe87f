"""The top-down pipeline steps against MMPose's golden outputs, pixels and hand-worked values."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from posemix.errors import AnnotationError, ConfigError, ImageError, MetainfoError
from posemix.registry import TRANSFORMS
from posemix.transforms import (
    Compose,
    GenerateTarget,
    GetBBoxCenterScale,
    LoadImage,
    PackPoseInputs,
    RandomBBoxTransform,
    RandomFlip,
    RandomHalfBody,
    TopdownAffine,
    collate,
    flip_keypoints,
    flip_sample,
    get_udp_warp_matrix,
    get_warp_matrix,
    jpeg_is_truncated,
    truncnorm_ppf,
)

# The combined COCO+AIC schema (coco_aic.py): COCO's 17, then head_top, neck.
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
FLIP_19 = COCO_FLIP + [17, 18]
UPPER_19 = list(range(11)) + [17, 18]
LOWER_19 = list(range(11, 17))
INPUT_SIZE = (192, 256)
CODEC_CFGS = {
    "msra": dict(type="MSRAHeatmap", input_size=INPUT_SIZE, heatmap_size=(48, 64), sigma=2),
    "udp": dict(type="UDPHeatmap", input_size=INPUT_SIZE, heatmap_size=(48, 64), sigma=2),
}


class ReplayRandomState:
    """The Generator API our steps use (``random``) fed by numpy's legacy RandomState, so a
    seed replays MMPose's global ``np.random`` stream draw for draw."""

    def __init__(self, seed: int):
        self._state = np.random.RandomState(seed)

    def random(self, size=None):
        return self._state.random_sample(size)


class FixedDraws:
    """An rng that hands out given uniforms in order (and fails if asked for more)."""

    def __init__(self, *values: float):
        self.values = list(values)

    def random(self, size=None):
        assert size is None, "these tests only script scalar draws"
        return self.values.pop(0)


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, np.ndarray]:
    with np.load(golden_dir / "combine_val_pipeline.npz") as data:
        return dict(data)


def golden_sample(golden: dict, i: int, fixtures_dir: Path, **extra) -> dict:
    """The i-th golden instance as a dataset would hand it to the pipeline."""
    return dict(
        img_path=str(fixtures_dir / str(golden["img_path"][i])),
        bbox=golden["bbox_xyxy"][i][None].copy(),
        bbox_score=np.ones(1, np.float32),
        keypoints=golden["keypoints"][i][None].copy(),
        keypoints_visible=golden["keypoints_visible"][i][None].copy(),
        keypoints_defined=golden["keypoints_defined"][i][None].copy(),
        flip_indices=FLIP_19, upper_body_ids=UPPER_19, lower_body_ids=LOWER_19,
        dataset_name=str(golden["source"][i]), sample_idx=i, id=i, img_id=i,
        **extra,
    )


def val_pipeline(mode: str, with_target: bool = True) -> Compose:
    steps = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale", padding=1.25),
             dict(type="TopdownAffine", input_size=INPUT_SIZE, use_udp=mode == "udp")]
    if with_target:
        steps.append(dict(type="GenerateTarget", encoder=CODEC_CFGS[mode]))
    return Compose(steps)


# --- golden: MMPose 1.3.2's val pipeline on the 21 fixture instances -------------------------

@pytest.mark.parametrize("mode", ["msra", "udp"])
def test_val_pipeline_geometry_matches_mmpose(golden, fixtures_dir, mode):
    pipeline = val_pipeline(mode, with_target=False)
    for i in range(len(golden["img_path"])):
        r = pipeline(golden_sample(golden, i, fixtures_dir))
        # OpenCV 4's fixed-point bilinear warp is reproduced: the crops are identical.
        np.testing.assert_array_equal(r["img"], golden[f"{mode}_img"][i], err_msg=f"sample {i}")
        np.testing.assert_allclose(r["input_center"], golden[f"{mode}_input_center"][i],
                                   rtol=1e-6)
        np.testing.assert_allclose(r["input_scale"], golden[f"{mode}_input_scale"][i], rtol=1e-6)
        np.testing.assert_allclose(r["transformed_keypoints"][0],
                                   golden[f"{mode}_transformed_keypoints"][i], rtol=1e-6,
                                   atol=1e-5)
        assert r["img_shape"] == r["ori_shape"] == cv2.imread(r["img_path"]).shape[:2]
        assert r["input_size"] == INPUT_SIZE


@pytest.mark.parametrize("mode", ["msra", "udp"])
def test_val_pipeline_targets_match_mmpose(golden, fixtures_dir, mode):
    pipeline = val_pipeline(mode)
    for i in range(len(golden["img_path"])):
        r = pipeline(golden_sample(golden, i, fixtures_dir))
        np.testing.assert_allclose(r["heatmaps"], golden[f"{mode}_heatmaps"][i], atol=1e-5,
                                   err_msg=f"sample {i}")
        np.testing.assert_allclose(r["keypoint_weights"][0],
                                   golden[f"{mode}_keypoint_weights"][i], atol=1e-5)


# --- pixels and geometry agree through the random train pipeline -----------------------------

DOT_SIGMA = 3.0


@pytest.fixture(scope="module")
def dotted_image(golden, fixtures_dir, tmp_path_factory):
    """A fixture photo, darkened, with a bright Gaussian dot on every labelled keypoint."""
    i = int(np.argmax(golden["keypoints_visible"].sum(axis=1)))
    img = cv2.imread(str(fixtures_dir / str(golden["img_path"][i]))) // 4
    keypoints = golden["keypoints"][i]
    labelled = golden["keypoints_visible"][i] > 0
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    dots = np.zeros(img.shape[:2])
    for x, y in keypoints[labelled]:
        dots = np.maximum(dots, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * DOT_SIGMA ** 2)))
    img = np.maximum(img, np.rint(dots * 255).astype(np.uint8)[..., None])
    path = tmp_path_factory.mktemp("dots") / "dots.png"
    cv2.imwrite(str(path), img)
    # Dots that overlap a neighbour's cannot be told apart: check only isolated ones.
    gaps = np.linalg.norm(keypoints[:, None] - keypoints[None], axis=-1)
    gaps[np.eye(len(keypoints), dtype=bool) | ~labelled[None]] = np.inf
    isolated = labelled & (gaps.min(axis=1) > 4 * DOT_SIGMA)
    return path, i, isolated


@pytest.mark.parametrize("use_udp", [False, True])
def test_random_train_pipeline_keypoints_sit_on_their_dots(golden, fixtures_dir, dotted_image,
                                                           use_udp):
    path, i, isolated = dotted_image
    steps = [LoadImage(), GetBBoxCenterScale(), RandomFlip(), RandomHalfBody(),
             RandomBBoxTransform(), TopdownAffine(INPUT_SIZE, use_udp=use_udp)]
    checked, flips, half_bodies, rotations = 0, 0, 0, 0
    for seed in range(40):
        r = golden_sample(golden, i, fixtures_dir, rng=np.random.default_rng(seed))
        r["img_path"] = str(path)
        for step in steps:
            before = r.get("bbox_center")
            r = step(r)
            half_bodies += isinstance(step, RandomHalfBody) and not np.array_equal(
                before, r["bbox_center"])
        flips += r["flip"]
        rotations += r["bbox_rotation"][0] != 0
        brightness = r["img"].max(axis=-1).astype(int)
        # After a flip, index k holds the mirror partner's keypoint (and its dot).
        for k in np.flatnonzero(isolated[FLIP_19] if r["flip"] else isolated):
            x, y = r["transformed_keypoints"][0, k]
            if not (3 <= x <= INPUT_SIZE[0] - 4 and 3 <= y <= INPUT_SIZE[1] - 4):
                continue
            cx, cy = round(float(x)), round(float(y))
            window = brightness[cy - 3:cy + 4, cx - 3:cx + 4]
            wy, wx = np.unravel_index(np.argmax(window), window.shape)
            assert window.max() > 128, (seed, k)
            assert abs(cx - 3 + wx - x) <= 1 and abs(cy - 3 + wy - y) <= 1, (seed, k, x, y)
            checked += 1
    assert checked > 300
    assert flips > 5 and half_bodies > 3 and rotations > 5


# --- flipping -------------------------------------------------------------------------------

def flip_fixture_sample(rng=None) -> dict:
    rs = np.random.default_rng(7)
    k = 19
    return dict(
        img=rs.integers(0, 256, (30, 40, 3), dtype=np.uint8), img_shape=(30, 40),
        bbox=np.array([[3.5, 2.0, 20.0, 25.5]], np.float32),
        bbox_center=np.array([[11.75, 13.75]], np.float32),
        bbox_scale=np.array([[20.0, 29.0]], np.float32),
        keypoints=rs.uniform(0, 29, (1, k, 2)).astype(np.float32),
        keypoints_visible=rs.integers(0, 2, (1, k)).astype(np.float32),
        keypoints_occluded=rs.integers(0, 2, (1, k)).astype(bool),
        keypoints_defined=np.r_[np.ones(17), np.zeros(2)].astype(np.float32)[None],
        flip_indices=FLIP_19, rng=rng,
    )


def test_flipping_twice_is_the_identity():
    original = flip_fixture_sample()
    twice = flip_sample(flip_sample(flip_fixture_sample(), "horizontal"), "horizontal")
    for key in ("img", "bbox", "bbox_center", "bbox_scale", "keypoints", "keypoints_visible",
                "keypoints_occluded", "keypoints_defined"):
        # float32 x -> 39 - x -> 39 - (39 - x) may round in the last bit
        np.testing.assert_allclose(twice[key], original[key], rtol=0, atol=1e-5, err_msg=key)


def test_flipped_left_keypoints_are_the_originals_right_ones():
    original = flip_fixture_sample()
    r = RandomFlip(prob=1.0)(flip_fixture_sample(rng=np.random.default_rng(0)))
    assert r["flip"] is True and r["flip_direction"] == "horizontal"
    w = 40
    for left, right in [(1, 2), (5, 6), (9, 10), (11, 12), (15, 16)]:  # eyes, ..., ankles
        for a, b in [(left, right), (right, left)]:
            x, y = original["keypoints"][0, b]
            np.testing.assert_array_equal(r["keypoints"][0, a], [w - 1 - x, y])
            for key in ("keypoints_visible", "keypoints_occluded", "keypoints_defined"):
                assert r[key][0, a] == original[key][0, b], key
    np.testing.assert_array_equal(r["keypoints"][0, 0], [w - 1 - original["keypoints"][0, 0, 0],
                                                         original["keypoints"][0, 0, 1]])
    np.testing.assert_array_equal(r["img"], original["img"][:, ::-1])
    np.testing.assert_allclose(r["bbox"], [[w - 1 - 20.0, 2.0, w - 1 - 3.5, 25.5]])
    np.testing.assert_allclose(r["bbox_center"], [[w - 1 - 11.75, 13.75]])
    np.testing.assert_array_equal(r["bbox_scale"], original["bbox_scale"])


def test_flip_draw_rule_and_other_directions():
    # One uniform per sample: flip iff u < prob (numpy's choice with cumulative probs).
    assert RandomFlip()(flip_fixture_sample(FixedDraws(0.4999)))["flip"] is True
    not_flipped = RandomFlip()(flip_fixture_sample(FixedDraws(0.5)))
    assert not_flipped["flip"] is False and not_flipped["flip_direction"] is None
    choice = RandomFlip(prob=[0.3, 0.3], direction=["horizontal", "vertical"])
    assert choice(flip_fixture_sample(FixedDraws(0.2)))["flip_direction"] == "horizontal"
    assert choice(flip_fixture_sample(FixedDraws(0.4)))["flip_direction"] == "vertical"
    assert choice(flip_fixture_sample(FixedDraws(0.7)))["flip_direction"] is None
    kp = np.array([[[1.0, 2.0], [5.0, 7.0]]], np.float32)
    np.testing.assert_array_equal(flip_keypoints(kp, (40, 30), [1, 0], "vertical"),
                                  [[[5, 22], [1, 27]]])
    # A 180° turn keeps left and right: no index swap.
    np.testing.assert_array_equal(flip_keypoints(kp, (40, 30), [1, 0], "diagonal"),
                                  [[[38, 27], [34, 22]]])
    with pytest.raises(ConfigError, match="prob"):
        RandomFlip(prob=[0.5], direction=["horizontal", "vertical"])


def test_flip_indices_must_fit_the_keypoints():
    r = flip_fixture_sample(rng=np.random.default_rng(0))
    r["flip_indices"] = COCO_FLIP
    with pytest.raises(MetainfoError, match="17 entries but the keypoints have 19"):
        RandomFlip(prob=1.0)(r)


# --- MMPose's worked values (mmpose-topdown.md 5.5) ------------------------------------------

@pytest.mark.parametrize("seed, flip, center, scale, rotation", [
    (0, False, (300, 270), (332.91217, 443.88287), 0.0),
    (1, True, (307.0103, 243.78148), (241.01852, 321.35803), -61.318813),
    (3, False, (288.29404, 271.40826), (486.83893, 649.1186), 59.251465),
])
def test_random_steps_replay_mmpose_draws(seed, flip, center, scale, rotation):
    keypoints = np.stack(np.meshgrid(np.linspace(230, 370, 17), [200.0]), -1).reshape(1, 17, 2)
    visible = np.ones((1, 17), np.float32)
    visible[0, 3] = 0  # 16 of 17 labelled: half-body is possible, so it draws
    r = dict(img=np.zeros((480, 640, 3), np.uint8), img_shape=(480, 640),
             bbox=np.array([[220, 80, 380, 460]], np.float32),
             keypoints=keypoints.astype(np.float32), keypoints_visible=visible,
             flip_indices=COCO_FLIP, upper_body_ids=list(range(11)),
             lower_body_ids=list(range(11, 17)), rng=ReplayRandomState(seed))
    for step in (GetBBoxCenterScale(), RandomFlip(direction="horizontal"), RandomHalfBody(),
                 RandomBBoxTransform(), TopdownAffine(INPUT_SIZE)):
        r = step(r)
    assert r["flip"] is flip
    np.testing.assert_allclose(r["input_center"], center, rtol=1e-6)
    np.testing.assert_allclose(r["input_scale"], scale, rtol=1e-6)
    np.testing.assert_allclose(r["bbox_rotation"], [rotation], rtol=1e-6)
    assert r["bbox_rotation"].dtype == np.float32


def test_truncated_normal_from_uniforms():
    # seed 0 after the flip and half-body draws: z of the 5.5 table.
    state = np.random.RandomState(0)
    state.random_sample(2)
    np.testing.assert_allclose(truncnorm_ppf(state.random_sample((1, 4))),
                               [[0.17677, 0.076882, -0.13102, 0.252313]], atol=2e-6)
    np.testing.assert_allclose(truncnorm_ppf(np.array([0.0, 0.5, 1.0])), [-1, 0, 1], atol=1e-12)


def test_half_body_picks_upper_or_lower_body():
    keypoints = np.array([[[10 * k, 5 * k] for k in range(17)]], np.float32)
    visible = np.ones((1, 17), np.float32)

    def run(visible, *draws):
        rng = FixedDraws(*draws)
        r = dict(keypoints=keypoints, keypoints_visible=visible, bbox_center=np.ones((1, 2)),
                 bbox_scale=np.ones((1, 2)), upper_body_ids=list(range(11)),
                 lower_body_ids=list(range(11, 17)), rng=rng)
        return RandomHalfBody()(r), rng.values

    r, left = run(visible, 0.3, 0.69)  # applied (u1 <= 0.3), upper preferred (u2 < 0.7)
    np.testing.assert_allclose(r["bbox_center"], [[50, 25]])  # mean of keypoints 0..10
    np.testing.assert_allclose(r["bbox_scale"], [[100 * 1.5, 50 * 1.5]])
    r, _ = run(visible, 0.1, 0.7)  # lower
    np.testing.assert_allclose(r["bbox_center"], [[135, 67.5]])
    np.testing.assert_allclose(r["bbox_scale"], [[50 * 1.5, 25 * 1.5]])
    r, left = run(visible, 0.31, 0.0)  # not applied: no second draw
    assert left == [0.0] and r["bbox_center"].tolist() == [[1, 1]]
    few = visible.copy()
    few[0, :9] = 0  # 8 labelled < min_total_keypoints: no draw at all
    r, left = run(few, 0.0)
    assert left == [0.0] and r["bbox_center"].tolist() == [[1, 1]]
    lower_missing = visible.copy()
    lower_missing[0, 11:15] = 0  # 2 lower < 3: upper whatever u2 says
    r, _ = run(lower_missing, 0.0, 0.99)
    np.testing.assert_allclose(r["bbox_center"], [[50, 25]])


def test_bbox_transform_formulas():
    rng = np.random.default_rng(5)
    r = dict(bbox_center=np.array([[100, 200]], np.float32),
             bbox_scale=np.array([[50, 80]], np.float32), rng=rng)
    u = np.random.default_rng(5).random(7)
    z = truncnorm_ppf(u[:4]).astype(np.float32)
    r = RandomBBoxTransform(shift_prob=1.0, scale_prob=1.0, rotate_prob=1.0)(r)
    np.testing.assert_allclose(r["bbox_center"], [[100 + z[0] * 0.16 * 50,
                                                   200 + z[1] * 0.16 * 80]], rtol=1e-6)
    np.testing.assert_allclose(r["bbox_scale"], [[50 * (1 + 0.5 * z[2]), 80 * (1 + 0.5 * z[2])]],
                               rtol=1e-6)
    np.testing.assert_allclose(r["bbox_rotation"], [z[3] * 80], rtol=1e-6)


def test_warp_matrices_follow_the_reference_formulas():
    # Worked example (reference 6): centre (140, 150), aspect-fixed scale (234.375, 312.5).
    center = np.array([140, 150], np.float32)
    scale = np.array([234.375, 312.5], np.float32)
    m = get_warp_matrix(center, scale, 0.0, INPUT_SIZE)
    np.testing.assert_allclose(m, [[0.8192, 0, 96 - 0.8192 * 140], [0, 0.8192, 128 - 0.8192 * 150]],
                               atol=1e-4)
    # +30°: a point right of the centre moves up (standard) but down (UDP).
    rotated = get_warp_matrix(center, scale, 30.0, INPUT_SIZE)
    assert (rotated @ [190, 150, 1])[1] < 128
    udp = get_udp_warp_matrix(center, scale, 30.0, INPUT_SIZE)
    assert (udp @ [190, 150, 1])[1] > 127.5
    # UDP: box edges onto the first and last pixel centres.
    udp0 = get_udp_warp_matrix(center, scale, 0.0, INPUT_SIZE)
    np.testing.assert_allclose(udp0 @ [140 - 117.1875, 150 - 156.25, 1], [0, 0], atol=1e-4)
    np.testing.assert_allclose(udp0 @ [140 + 117.1875, 150 + 156.25, 1], [191, 255], atol=1e-4)
    inverse = get_warp_matrix(center, scale, 30.0, INPUT_SIZE, inv=True)
    np.testing.assert_allclose(inverse @ np.r_[rotated @ [190, 150, 1], 1], [190, 150],
                               atol=1e-3)


# --- targets --------------------------------------------------------------------------------

def test_target_weights_mask_unlabelled_undefined_and_off_map_keypoints():
    k = 4
    r = dict(transformed_keypoints=np.array([[[40, 40], [80, 100], [100, 60], [500, 60]]],
                                            np.float32),
             keypoints_visible=np.array([[1, 0, 1, 1]], np.float32),
             keypoints_defined=np.array([[1, 1, 0, 1]], np.float32),
             dataset_keypoint_weights=np.array([1, 1, 1.5, 2], np.float32))
    step = GenerateTarget(encoder=CODEC_CFGS["msra"])
    out = step(dict(r))
    np.testing.assert_array_equal(out["keypoint_weights"], [[1, 0, 0, 0]])
    assert out["heatmaps"].shape == (k, 64, 48) and out["heatmaps"][0].max() == 1.0
    weighted = GenerateTarget(encoder=CODEC_CFGS["msra"], use_dataset_keypoint_weights=True)
    inside = dict(r, keypoints_defined=np.ones((1, k), np.float32),
                  transformed_keypoints=r["transformed_keypoints"].clip(0, 150))
    np.testing.assert_array_equal(weighted(inside)["keypoint_weights"], [[1, 0, 1.5, 2]])
    # MMPose converter layout (N, K, 2): labelled flags and "defined" weights are split.
    split = step(dict(r, keypoints_visible=np.array([[[1, 1], [1, 0], [0, 1], [1, 1]]],
                                                    np.float32)))
    np.testing.assert_array_equal(split["keypoints_visible"], [[1, 1, 0, 1]])
    np.testing.assert_array_equal(split["keypoints_visible_weights"], [[1, 0, 1, 1]])


def test_several_encoders_merge_or_stack_per_level():
    keypoints = np.array([[[40, 40], [100, 200]]], np.float32)
    r = dict(transformed_keypoints=keypoints, keypoints_visible=np.ones((1, 2), np.float32),
             keypoints_defined=np.array([[1, 0]], np.float32),
             img=np.zeros((256, 192, 3), np.uint8))
    simcc = dict(type="SimCCLabel", input_size=INPUT_SIZE, sigma=6.0, simcc_split_ratio=2.0)
    merged = GenerateTarget(encoder=[CODEC_CFGS["msra"], simcc])(dict(r))
    assert merged["heatmaps"].shape == (2, 64, 48)
    assert merged["keypoint_x_labels"].shape == (1, 2, 384)
    assert [w.tolist() for w in merged["keypoint_weights"]] == [[[1, 0]], [[1, 0]]]
    with pytest.raises(ConfigError, match="both produce 'heatmaps'"):
        GenerateTarget(encoder=[CODEC_CFGS["msra"], CODEC_CFGS["udp"]])(dict(r))
    coarse = dict(CODEC_CFGS["msra"], heatmap_size=(24, 32))
    levels = GenerateTarget(encoder=[CODEC_CFGS["msra"], coarse], multilevel=True)(dict(r))
    batch = collate([PackPoseInputs()(dict(levels)), PackPoseInputs()(dict(levels))])
    assert [t.shape for t in batch["targets"]["heatmaps"]] == [(2, 2, 64, 48), (2, 2, 32, 24)]
    assert [t.shape for t in batch["targets"]["keypoint_weights"]] == [(2, 2), (2, 2)]


# --- loading and bad input ------------------------------------------------------------------

def test_load_image_is_opencv_bgr(fixtures_dir):
    path = fixtures_dir / "coco" / "000000196141.jpg"
    r = LoadImage()(dict(img_path=str(path)))
    np.testing.assert_array_equal(r["img"], cv2.imread(str(path)))
    assert r["img"].dtype == np.uint8 and r["img_shape"] == r["ori_shape"] == (429, 640)
    assert LoadImage(to_float32=True)(dict(img_path=str(path)))["img"].dtype == np.float32


def test_missing_and_truncated_images_raise_image_error(fixtures_dir, tmp_path):
    missing = dict(img_path=str(tmp_path / "nope.jpg"), dataset_name="aic", sample_idx=12)
    with pytest.raises(ImageError, match=r"nope\.jpg.*dataset 'aic', sample_idx 12"):
        LoadImage()(missing)
    data = (fixtures_dir / "coco" / "000000000785.jpg").read_bytes()
    assert not jpeg_is_truncated(data) and not jpeg_is_truncated(data + b"trailer")
    for cut in (len(data) - 2, len(data) // 2, 300):
        assert jpeg_is_truncated(data[:cut])
        path = tmp_path / f"cut{cut}.jpg"
        path.write_bytes(data[:cut])
        with pytest.raises(ImageError, match=f"cut{cut}.jpg.*cannot be decoded"):
            LoadImage()(dict(img_path=str(path), dataset_name="coco", sample_idx=0))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="junk.png"):
        LoadImage()(dict(img_path=str(junk)))
    # ignore_empty: the sample is dropped (None), and Compose stops there.
    pipeline = Compose([dict(type="LoadImage", ignore_empty=True), GetBBoxCenterScale()])
    assert pipeline(dict(img_path=str(junk), bbox=np.zeros((1, 4), np.float32))) is None


def test_grey_and_alpha_pngs_load_as_three_channel_bgr(tmp_path):
    grey = np.arange(12 * 20, dtype=np.uint8).reshape(12, 20)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    img = LoadImage()(dict(img_path=str(tmp_path / "grey.png")))["img"]
    assert img.shape == (12, 20, 3)
    np.testing.assert_array_equal(img, np.repeat(grey[..., None], 3, axis=-1))
    bgra = np.random.default_rng(1).integers(0, 256, (9, 11, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    img = LoadImage()(dict(img_path=str(tmp_path / "alpha.png")))["img"]
    np.testing.assert_array_equal(img, bgra[..., :3])  # alpha dropped, not blended


def test_zero_area_box(tmp_path):
    def sample(bbox):
        return dict(img=np.zeros((100, 100, 3), np.uint8), img_path="x.jpg",
                    dataset_name="coco", sample_idx=4, bbox=np.array([bbox], np.float32),
                    keypoints=np.zeros((1, 17, 2), np.float32))

    r = GetBBoxCenterScale()(sample([50, 40, 50, 40]))
    np.testing.assert_array_equal(r["bbox_scale"], [[0, 0]])
    with pytest.raises(AnnotationError, match=r"x\.jpg.*'bbox'.*no area.*sample_idx 4"):
        TopdownAffine(INPUT_SIZE)(r)
    # Only one side zero: the aspect fix gives a valid crop (width from the height).
    r = TopdownAffine(INPUT_SIZE)(GetBBoxCenterScale()(sample([50, 20, 50, 60])))
    np.testing.assert_allclose(r["input_scale"], [50 * 0.75, 50])


def test_missing_inputs_and_bad_configs_raise_config_errors():
    with pytest.raises(ConfigError, match=r"RandomFlip needs results\['rng'\]"):
        RandomFlip()(flip_fixture_sample(rng=None))
    with pytest.raises(ConfigError, match="upper_body_ids"):
        RandomHalfBody()(dict(keypoints=np.zeros((1, 17, 2)), keypoints_visible=np.ones((1, 17)),
                              rng=np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="input_size"):
        TopdownAffine((192,))
    with pytest.raises(ConfigError, match="rotate_factor"):
        TRANSFORMS.build(dict(type="RandomBBoxTransform", rotate_factr=30))
    with pytest.raises(ConfigError, match="TopdownAffine"):
        Compose([dict(type="TopDownAffine", input_size=INPUT_SIZE)])


# --- packing and batching -------------------------------------------------------------------

def test_pack_and_collate_shapes_and_dtypes(golden, fixtures_dir):
    pipeline = Compose([
        dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
        dict(type="RandomFlip", direction="horizontal"), dict(type="RandomHalfBody"),
        dict(type="RandomBBoxTransform"), dict(type="TopdownAffine", input_size=INPUT_SIZE),
        dict(type="GenerateTarget", encoder=CODEC_CFGS["msra"]),
        dict(type="PackPoseInputs", pack_transformed=True),
    ])
    samples = [golden_sample(golden, i, fixtures_dir, rng=np.random.default_rng(i),
                             area=np.array([100.0], np.float32), source_index=0)
               for i in (0, 13, 20)]
    global_state = np.random.get_state()[1].copy()
    packed = [pipeline(s) for s in samples]
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)  # only results['rng']
    p = packed[1]
    assert p["inputs"].dtype == torch.uint8 and p["inputs"].shape == (3, 256, 192)
    assert p["targets"]["heatmaps"].shape == (19, 64, 48)
    assert p["targets"]["heatmaps"].dtype == torch.float32
    for key in ("keypoint_weights", "keypoints_defined"):
        assert p["targets"][key].shape == (19,) and p["targets"][key].dtype == torch.float32
    np.testing.assert_array_equal(p["targets"]["keypoints_defined"].numpy() == 0,
                                  golden["keypoints_defined"][13] == 0)
    meta = p["meta"]
    assert meta["bbox"].shape == (4,) and meta["keypoints"].shape == (19, 2)
    assert meta["keypoints_visible"].shape == (19,) and meta["input_center"].shape == (2,)
    assert meta["transformed_keypoints"].shape == (19, 2)
    assert meta["bbox_score"] == 1.0 and meta["area"] == 100.0
    assert meta["dataset_name"] == "aic" and meta["input_size"] == INPUT_SIZE
    assert isinstance(meta["flip"], bool) and meta["flip_indices"] == FLIP_19

    loader = torch.utils.data.DataLoader(packed, batch_size=3, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["inputs"].shape == (3, 3, 256, 192) and batch["inputs"].dtype == torch.uint8
    assert batch["targets"]["heatmaps"].shape == (3, 19, 64, 48)
    assert batch["targets"]["keypoint_weights"].shape == (3, 19)
    assert [m["id"] for m in batch["meta"]] == [0, 13, 20]
    torch.testing.assert_close(batch["inputs"][1], p["inputs"])


def test_pack_inputs_are_the_crop_in_chw_bgr():
    img = np.random.default_rng(3).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    packed = PackPoseInputs()(dict(img=img, id=5, bbox=np.zeros((1, 4), np.float32)))
    np.testing.assert_array_equal(packed["inputs"].numpy(), img.transpose(2, 0, 1))
    assert packed["targets"] == {} and set(packed["meta"]) == {"id", "bbox"}
    assert packed["meta"]["id"] == 5 and packed["meta"]["bbox"].shape == (4,)
