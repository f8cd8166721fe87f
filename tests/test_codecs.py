"""Codecs against MMPose 1.3.2's golden outputs, the reference's worked examples and
hand-computed values (heatmap pixel j <-> input 4j for MSRA, j * 191/47 for UDP)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posemix.codecs import (
    MSRAHeatmap,
    SimCCLabel,
    UDPHeatmap,
    get_heatmap_maximum,
    get_simcc_maximum,
)
from posemix.codecs.heatmap_decoding import blur_channels
from posemix.errors import ConfigError, PosemixError
from posemix.registry import CODECS

INPUT, HEATMAP = (192, 256), (48, 64)
EXP_MINUS_EIGHTH = np.float32(0.8824969)  # exp(-1/8): one pixel from the peak, sigma 2


def msra(**kw) -> MSRAHeatmap:
    return MSRAHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=2, **kw)


def udp(**kw) -> UDPHeatmap:
    return UDPHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=2.0, **kw)


def one(*points: tuple[float, float]) -> np.ndarray:
    return np.array([points], dtype=np.float32)


def interior_points(n: int, seed: int) -> np.ndarray:
    """Random sub-pixel keypoints at least 40 input px from the border (no edge effects
    of the blurs); (1, n, 2) float32."""
    rng = np.random.default_rng(seed)
    return rng.uniform([40, 40], [152, 216], size=(1, n, 2)).astype(np.float32)


# ---------------------------------------------------------------- golden (MMPose 1.3.2)

@pytest.fixture(scope="module")
def decode_golden(golden_dir):
    return np.load(golden_dir / "heatmap_decode.npz")


@pytest.fixture(scope="module")
def pipeline_golden(golden_dir):
    return np.load(golden_dir / "combine_val_pipeline.npz")


@pytest.mark.parametrize("prefix, codec", [
    ("msra", msra()),
    ("msra_unbiased", msra(unbiased=True, blur_kernel_size=11)),
    ("udp", udp()),
])
def test_decode_matches_mmpose(decode_golden, prefix, codec):
    keypoints, scores = codec.decode(decode_golden["heatmaps"])
    assert keypoints.shape == (1, 19, 2) and scores.shape == (1, 19)
    np.testing.assert_allclose(keypoints, decode_golden[f"{prefix}_keypoints"], atol=1e-4)
    np.testing.assert_allclose(scores, decode_golden[f"{prefix}_scores"], atol=1e-4)


@pytest.mark.parametrize("prefix, codec", [("msra", msra()), ("udp", udp())])
def test_encode_matches_mmpose_pipeline(pipeline_golden, prefix, codec):
    g = pipeline_golden
    # what GenerateTarget feeds the codec: labelled AND defined by the sample's source
    visible = g["keypoints_visible"] * g["keypoints_defined"]
    for i in range(len(g["source"])):
        encoded = codec.encode(g[f"{prefix}_transformed_keypoints"][i:i + 1], visible[i:i + 1])
        assert encoded["heatmaps"].dtype == np.float32
        assert encoded["keypoint_weights"].dtype == np.float32
        np.testing.assert_allclose(encoded["heatmaps"], g[f"{prefix}_heatmaps"][i], atol=1e-5,
                                   err_msg=f"instance {i}")
        np.testing.assert_array_equal(encoded["keypoint_weights"][0],
                                      g[f"{prefix}_keypoint_weights"][i], err_msg=f"instance {i}")


def test_golden_weights_include_off_map_zeros(pipeline_golden):
    """The golden set exercises the off-map rule: some labelled points get weight 0."""
    g = pipeline_golden
    dropped = (g["keypoints_visible"] == 1) & (g["msra_keypoint_weights"] == 0)
    assert dropped.sum() == 2


# ---------------------------------------------------------------- MSRA encode, by hand

def test_msra_peak_window_and_values():
    # input (50.3, 70.9) -> heatmap (12.575, 17.725) -> centre (13, 18)
    hm = msra().encode(one((50.3, 70.9)))["heatmaps"][0]
    assert hm[18, 13] == 1.0
    assert hm[18, 14] == EXP_MINUS_EIGHTH and hm[17, 13] == EXP_MINUS_EIGHTH
    assert hm[24, 19] == np.float32(np.exp(-72 / 8))  # window corner (+6, +6)
    nonzero_rows, nonzero_cols = np.nonzero(hm)
    assert (nonzero_rows.min(), nonzero_rows.max()) == (12, 24)  # 13x13 window
    assert (nonzero_cols.min(), nonzero_cols.max()) == (7, 19)


def test_msra_centre_is_truncated_not_floored():
    # x = -2.5 -> -0.625 -> int(-0.125) = 0 (floor would give -1, off the map)
    hm = msra().encode(one((-2.5, 40.0)))["heatmaps"][0]
    assert hm[10, 0] == 1.0


@pytest.mark.parametrize("x, weight, written_cols", [
    (100.0, 1.0, (19, 31)),   # inside
    (213.9, 1.0, (47, 47)),   # mu 53, left 47: only the last column is written
    (214.0, 0.0, None),       # mu 54, left 48 >= 48: off the map
    (-30.0, 1.0, None),       # mu -7, right == 0: empty channel but the weight stays (MMPose)
    (-34.0, 0.0, None),       # mu -8, right -1 < 0: off the map
])
def test_msra_weights_at_the_gaussian_support_edge(x, weight, written_cols):
    encoded = msra().encode(one((x, 100.0)))
    assert encoded["keypoint_weights"][0, 0] == weight
    cols = np.nonzero(encoded["heatmaps"][0].any(axis=0))[0]
    if written_cols is None:
        assert cols.size == 0
    else:
        assert (cols.min(), cols.max()) == written_cols


def test_invisible_keypoints_get_no_gaussian_and_keep_their_weight():
    for codec in (msra(), msra(unbiased=True), udp()):
        encoded = codec.encode(one((100.0, 100.0), (90.0, 90.0), (80.0, 80.0)),
                               np.array([[0.0, 0.3, 1.0]], dtype=np.float32))
        np.testing.assert_array_equal(encoded["keypoint_weights"],
                                      np.array([[0.0, 0.3, 1.0]], dtype=np.float32))
        assert not encoded["heatmaps"][:2].any() and encoded["heatmaps"][2].max() > 0.9


def test_invisible_keypoints_may_be_nan_and_visibility_defaults_to_ones():
    kp = one((np.nan, np.nan), (100.0, 120.0))
    encoded = msra().encode(kp, np.array([[0.0, 1.0]], dtype=np.float32))
    assert not encoded["heatmaps"][0].any() and encoded["heatmaps"][1, 30, 25] == 1.0
    np.testing.assert_array_equal(msra().encode(kp[:, 1:])["keypoint_weights"], [[1.0]])


def test_unbiased_encode_is_a_full_map_subpixel_gaussian():
    # input (50.3, 70.9) -> heatmap (12.575, 17.725); no window, no rounding
    hm = msra(unbiased=True).encode(one((50.3, 70.9)))["heatmaps"][0]
    y, x = np.mgrid[0:64, 0:48]
    expected = np.exp(-((x - 12.575) ** 2 + (y - 17.725) ** 2) / 8)
    np.testing.assert_allclose(hm, expected, atol=2e-6)
    # weight rule with float bounds: kp_hm - 6 >= 48 is off the map
    weights = msra(unbiased=True).encode(one((215.9, 10.0), (216.1, 10.0)))["keypoint_weights"]
    np.testing.assert_array_equal(weights, [[1.0, 0.0]])


# ---------------------------------------------------------------- UDP encode, by hand

def test_udp_gaussian_is_centred_at_the_exact_subpixel_location():
    kx, ky = 50.3 * 47 / 191, 70.9 * 63 / 255  # (12.3775, 17.5165)
    hm = udp().encode(one((50.3, 70.9)))["heatmaps"][0]
    y, x = np.mgrid[0:64, 0:48]
    expected = np.exp(-((x - kx) ** 2 + (y - ky) ** 2) / 8)
    window = (np.abs(x - 12) <= 6) & (np.abs(y - 18) <= 6)  # around the rounded (12, 18)
    np.testing.assert_allclose(hm, np.where(window, expected, 0), atol=2e-6)


def test_udp_combined_encodes_disc_and_offsets():
    codec = udp(heatmap_type="combined")
    kp_hm = np.array([20.25, 30.5])
    maps = codec.encode(one(tuple(kp_hm * [191 / 47, 255 / 63])))["heatmaps"]
    assert maps.shape == (3, 64, 48)
    radius = 0.0546875 * 64  # 3.5 heatmap px
    y, x = np.mgrid[0:64, 0:48]
    np.testing.assert_allclose(maps[1], (kp_hm[0] - x) / radius, atol=1e-5)
    np.testing.assert_allclose(maps[2], (kp_hm[1] - y) / radius, atol=1e-5)
    disc = (x - kp_hm[0]) ** 2 + (y - kp_hm[1]) ** 2 <= radius**2
    assert np.array_equal(maps[0] == 1, disc) and maps[0].sum() == disc.sum()


# ---------------------------------------------------------------- decode, by hand

def test_msra_decode_worked_examples():
    codec = msra()
    hm = np.zeros((3, 64, 48), dtype=np.float32)
    hm[0, 20, 10], hm[0, 20, 11], hm[0, 20, 9] = 1.0, 0.5, 0.2  # right > left
    hm[0, 21, 10], hm[0, 19, 10] = 0.1, 0.3                     # down < up
    hm[1, 0, 1], hm[1, 0, 2] = 1.0, 0.5                         # x=1, y=0: not refined
    hm[2] = -1.0                                                # no positive maximum
    keypoints, scores = codec.decode(hm)
    np.testing.assert_array_equal(keypoints[0], [[41.0, 79.0], [4.0, 0.0], [-4.0, -4.0]])
    np.testing.assert_array_equal(scores[0], [1.0, 1.0, -1.0])
    # the reference's end-to-end example: input (50.3, 70.9) decodes to (52, 72)
    kp, _ = codec.decode(codec.encode(one((50.3, 70.9)))["heatmaps"])
    np.testing.assert_array_equal(kp[0, 0], [52.0, 72.0])


def test_all_zero_heatmaps_decode_to_minus_one_not_nan():
    """MMPose's DARK blur divides 0 by 0 here; posemix keeps the 'no detection' -1."""
    zeros = np.zeros((2, 64, 48), dtype=np.float32)
    for codec, scale in ((msra(unbiased=True), 4.0), (udp(), 192 / 47)):
        keypoints, scores = codec.decode(zeros)
        np.testing.assert_allclose(keypoints[0, :, 0], -scale, rtol=1e-6)
        np.testing.assert_array_equal(scores, 0.0)


def test_decode_does_not_modify_its_input(decode_golden):
    heatmaps = decode_golden["heatmaps"].copy()
    for codec in (msra(), msra(unbiased=True), udp()):
        codec.decode(heatmaps)
    np.testing.assert_array_equal(heatmaps, decode_golden["heatmaps"])


def test_udp_decode_scales_by_input_size_not_input_size_minus_one():
    # reference 7.3: input x 50.3 -> hm 50.3*47/191 -> decoded hm_x * 192/47 = 50.563
    kp, _ = udp().decode(udp().encode(one((50.3, 70.9)))["heatmaps"])
    np.testing.assert_allclose(kp[0, 0], [50.3 * 192 / 191, 70.9 * 256 / 255], atol=2e-3)
    assert kp.dtype == np.float64


def test_get_heatmap_maximum_is_batched_first_max_and_marks_nonpositive():
    hm = np.zeros((2, 3, 4, 5), dtype=np.float32)
    hm[0, 0, 2, 3] = 0.7
    hm[0, 1, 1, 4] = hm[0, 1, 3, 0] = 0.9  # tie: the first in row-major order wins
    hm[1, 2] = -0.5
    hm[1, 0, 0, 0] = 0.1
    locs, vals = get_heatmap_maximum(hm)
    assert locs.shape == (2, 3, 2) and locs.dtype == np.float32 and vals.shape == (2, 3)
    np.testing.assert_array_equal(locs[0, :2], [[3, 2], [4, 1]])
    np.testing.assert_array_equal(locs[0, 2], [-1, -1])  # all zero
    np.testing.assert_array_equal(locs[1], [[0, 0], [-1, -1], [-1, -1]])
    np.testing.assert_allclose(vals, [[0.7, 0.9, 0.0], [0.1, 0.0, -0.5]])


def test_stacked_blur_equals_per_channel_blur():
    rng = np.random.default_rng(3)
    maps = rng.random((5, 64, 48)).astype(np.float32)
    stacked = blur_channels(maps, 11, "constant")
    for k in range(5):
        single = cv2.GaussianBlur(np.pad(maps[k], 5), (11, 11), 0)[5:-5, 5:-5]
        np.testing.assert_array_equal(stacked[k], single)
    reflected = blur_channels(maps, 23, "reflect")
    np.testing.assert_array_equal(reflected[2], cv2.GaussianBlur(maps[2], (23, 23), 0))


# ---------------------------------------------------------------- round trips

def test_msra_round_trip_is_quantised_to_the_rounded_pixel():
    """unbiased=False cannot reach sub-pixel accuracy: the Gaussian sits on the rounded
    heatmap pixel and is symmetric, so the quarter-pixel step is 0 and the decoded point
    is exactly 4 * int(x/4 + 0.5), up to 2 input px (2.83 px in 2-D) from the truth."""
    kp = interior_points(200, seed=0)
    decoded, scores = msra().decode(msra().encode(kp)["heatmaps"])
    np.testing.assert_array_equal(decoded, 4 * (kp / 4 + 0.5).astype(np.int64))
    assert np.abs(decoded - kp).max() <= 2.0
    np.testing.assert_array_equal(scores, 1.0)


def test_msra_unbiased_round_trip_within_0_3_px():
    kp = interior_points(200, seed=1)
    decoded, _ = msra(unbiased=True).decode(msra(unbiased=True).encode(kp)["heatmaps"])
    assert np.linalg.norm(decoded - kp, axis=-1).max() < 0.3


def test_udp_round_trip_within_0_1_px():
    kp = interior_points(200, seed=2)
    decoded, _ = udp().decode(udp().encode(kp)["heatmaps"])
    # decode's input space is stretched by w/(w-1) (see the test above); undo it
    decoded = decoded * (np.array(INPUT) - 1) / np.array(INPUT)
    assert np.linalg.norm(decoded - kp, axis=-1).max() < 0.1


def test_udp_combined_round_trip_is_exact():
    kp = interior_points(50, seed=3)
    codec = udp(heatmap_type="combined")
    decoded, scores = codec.decode(codec.encode(kp)["heatmaps"])
    decoded = decoded * (np.array(INPUT) - 1) / np.array(INPUT)
    np.testing.assert_allclose(decoded, kp, atol=1e-3)
    assert (scores > 0).all()


# ---------------------------------------------------------------- SimCC

def test_simcc_gaussian_labels_by_hand():
    codec = SimCCLabel(input_size=INPUT, sigma=(4.9, 5.66), simcc_split_ratio=2.0)
    # x 50.25 -> 100.5 -> around (half to even) = 100; y 70.75 -> 141.5 -> 142
    enc = codec.encode(one((50.25, 70.75)))
    assert enc["keypoint_x_labels"].shape == (1, 1, 384)
    assert enc["keypoint_y_labels"].shape == (1, 1, 512)
    x_lab, y_lab = enc["keypoint_x_labels"][0, 0], enc["keypoint_y_labels"][0, 0]
    assert x_lab.argmax() == 100 and y_lab.argmax() == 142
    i = np.arange(384)
    expected = np.exp(-((i - 100) ** 2) / (2 * 4.9**2)) / (4.9 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(x_lab, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(enc["keypoint_weights"], [[1.0]])


def test_simcc_weights_and_standard_smoothing():
    codec = SimCCLabel(input_size=INPUT, smoothing_type="standard", label_smooth_weight=0.1)
    enc = codec.encode(one((10.0, 20.0), (-1.0, 20.0), (10.0, 20.0)),
                       np.array([[1.0, 1.0, 0.0]], dtype=np.float32))
    np.testing.assert_array_equal(enc["keypoint_weights"], [[1.0, 0.0, 0.0]])
    x_lab = enc["keypoint_x_labels"][0]
    assert x_lab[0, 20] == np.float32(0.9)
    np.testing.assert_allclose(np.delete(x_lab[0], 20), 0.1 / 383)
    assert not x_lab[1:].any()
    gauss = SimCCLabel(input_size=INPUT, sigma=6.0)  # off if mu - 18 >= 384, i.e. mu >= 402
    weights = gauss.encode(one((200.7, 5.0), (200.8, 5.0)))["keypoint_weights"]
    np.testing.assert_array_equal(weights, [[1.0, 0.0]])


@pytest.mark.parametrize("use_dark", [False, True])
def test_simcc_round_trip(use_dark):
    codec = SimCCLabel(input_size=INPUT, sigma=(4.9, 5.66), use_dark=use_dark)
    rng = np.random.default_rng(4)
    kp = rng.uniform([20, 20], [172, 236], size=(3, 17, 2)).astype(np.float32)
    enc = codec.encode(kp)
    decoded, scores = codec.decode(enc["keypoint_x_labels"], enc["keypoint_y_labels"])
    assert decoded.shape == (3, 17, 2) and scores.shape == (3, 17)
    np.testing.assert_allclose(decoded, np.around(kp * 2) / 2, atol=1e-3)
    assert np.abs(decoded - kp).max() <= 0.25


def test_simcc_dark_recovers_a_subbin_centre():
    codec = SimCCLabel(input_size=INPUT, sigma=(4.9, 5.66), use_dark=True)
    assert codec.dark_kernels == (29, 35)  # int((20 sigma - 7) // 3), made odd
    sx = np.exp(-((np.arange(384) - 100.3) ** 2) / (2 * 4.9**2)).astype(np.float32)
    sy = np.exp(-((np.arange(512) - 141.7) ** 2) / (2 * 5.66**2)).astype(np.float32)
    decoded, _ = codec.decode(sx[None], sy[None])
    np.testing.assert_allclose(decoded, [[[50.15, 70.85]]], atol=0.01)


def test_get_simcc_maximum_score_is_the_smaller_axis_maximum():
    sx = np.array([[0.1, 0.8, 0.2], [0.0, 0.0, 0.0]], dtype=np.float32)
    sy = np.array([[0.5, 0.1], [0.3, 0.4]], dtype=np.float32)
    locs, scores = get_simcc_maximum(sx, sy)
    np.testing.assert_array_equal(locs, [[1, 0], [-1, -1]])
    np.testing.assert_allclose(scores, [0.5, 0.0])


# ---------------------------------------------------------------- config and bad input

def test_codecs_build_from_config_with_mmpose_names():
    codec = CODECS.build(dict(type="MSRAHeatmap", input_size=(192, 256),
                              heatmap_size=(48, 64), sigma=2))
    assert codec.input_size == (192, 256) and codec.heatmap_size == (48, 64)
    np.testing.assert_array_equal(codec.scale_factor, [4.0, 4.0])
    assert isinstance(CODECS.build(dict(type="UDPHeatmap", input_size=(192, 256),
                                        heatmap_size=(48, 64), sigma=2)), UDPHeatmap)
    assert isinstance(CODECS.build(dict(type="SimCCLabel", input_size=(192, 256),
                                        sigma=(4.9, 5.66), simcc_split_ratio=2.0,
                                        normalize=False, use_dark=False)), SimCCLabel)


@pytest.mark.parametrize("cfg, message", [
    (dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=2,
          blur_kernel_size=10), "blur_kernel_size"),
    (dict(type="MSRAHeatmap", input_size=(192,), heatmap_size=(48, 64), sigma=2), "input_size"),
    (dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=0), "sigma"),
    (dict(type="UDPHeatmap", input_size=(192, 256), heatmap_size=(48, 64),
          heatmap_type="offset"), "heatmap_type"),
    (dict(type="SimCCLabel", input_size=(192, 256), label_smooth_weight=0.1),
     "label_smooth_weight"),
    (dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigmaa=2), "sigma"),
])
def test_bad_config_raises_config_error(cfg, message):
    with pytest.raises(ConfigError, match=message):
        CODECS.build(cfg)


def test_bad_input_raises_posemix_error():
    codec = msra()
    with pytest.raises(PosemixError, match="'keypoints'"):
        codec.encode(np.zeros((1, 17, 3)))
    with pytest.raises(PosemixError, match="one instance"):
        codec.encode(np.zeros((2, 17, 2)))
    with pytest.raises(PosemixError, match="keypoints_visible"):
        codec.encode(np.zeros((1, 17, 2)), np.ones((1, 16)))
    with pytest.raises(PosemixError, match="keypoint 1 is not finite"):
        codec.encode(one((1.0, 1.0), (np.inf, 2.0)))
    with pytest.raises(PosemixError, match="heatmap_size"):
        codec.decode(np.zeros((17, 48, 64), dtype=np.float32))
    with pytest.raises(PosemixError, match="multiple of 3"):
        udp(heatmap_type="combined").decode(np.zeros((4, 64, 48), dtype=np.float32))
