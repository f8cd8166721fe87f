"""RTMPose's colour augmentations: hand-computed value maps for pinned draws, the draws'
ranges over many samples, and reproducibility per sample generator (reference section
6.7-6.9)."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from posemix.errors import ConfigError
from posemix.registry import TRANSFORMS
from posemix.transforms import Albumentation, PhotometricDistortion, YOLOXHSVRandomAug
from posemix.transforms.albumentation import translate_v1_args
from posemix.transforms.photometric import (
    DistortionParams,
    convert_table,
    shift_hsv,
    yolox_gains,
)

BODY8_ALBU = [dict(type="Blur", p=0.1), dict(type="MedianBlur", p=0.1),
              dict(type="CoarseDropout", max_holes=1, max_height=0.4, max_width=0.4,
                   min_holes=1, min_height=0.2, min_width=0.2, p=1.0)]


def _pixel(bgr) -> np.ndarray:
    return np.array([[bgr]], np.uint8)


def _params(**changes) -> DistortionParams:
    base = dict(contrast_mode=0, brightness_flag=0, contrast_flag=0, hsv_mode=0, swap_flag=0,
                delta_value=0.0, alpha_value=1.0, saturation_value=1.0, hue_value=0,
                swap_value=(0, 1, 2))
    return DistortionParams(**{**base, **changes})


# -- YOLOXHSVRandomAug ---------------------------------------------------------------------------
def test_yolox_gains_truncate_toward_zero_and_gate():
    gains = yolox_gains(np.array([0.95, -0.99, 0.5]), np.array([1, 1, 0]), (5, 30, 30))
    # 4.75 -> 4, -29.7 -> -29, 15 gated off -> 0
    assert gains.tolist() == [4, -29, 0] and gains.dtype == np.int16


def test_shift_hsv_wraps_hue_mod_180_and_clips_s_v():
    hsv = np.array([[[178, 250, 10], [2, 5, 200]]], np.uint8)
    out = shift_hsv(hsv, np.array([4, 29, -29], np.int16))
    assert out.tolist() == [[[2, 255, 0], [6, 34, 171]]]
    out = shift_hsv(hsv, np.array([-4, -29, 29], np.int16))
    assert out.tolist() == [[[174, 221, 39], [178, 0, 229]]]


def test_yolox_value_gain_on_grey_is_additive():
    # grey has H = 0, S = 0 and V = its level: +29 on V lifts 100 to 129
    out = YOLOXHSVRandomAug.apply(_pixel([100, 100, 100]), np.array([0, 0, 29], np.int16))
    assert out.tolist() == [[[129, 129, 129]]]
    # with S = 29 and H = 3 (6 degrees): R = V = 129, B = V(1 - S/255) = 114.3,
    # G = V(1 - S(1 - 6/60)/255) = 115.8
    out = YOLOXHSVRandomAug.apply(_pixel([100, 100, 100]), np.array([3, 29, 29], np.int16))
    assert out.tolist() == [[[114, 116, 129]]]


def test_yolox_draws_stay_in_range_and_gate_half_the_time():
    aug = YOLOXHSVRandomAug()
    gains = np.array([aug.draw_params(np.random.default_rng(i)) for i in range(4000)])
    assert np.abs(gains[:, 0]).max() == 4 and np.abs(gains[:, 1:]).max() == 29
    zero = (gains == 0).mean(axis=0)  # gate 1/2, plus truncation of |u * delta| < 1
    assert np.allclose(zero, [0.5 + 0.5 / 5, 0.5 + 0.5 / 30, 0.5 + 0.5 / 30], atol=0.03)


def test_yolox_is_registered_with_the_mmdet_prefix():
    aug = TRANSFORMS.build(dict(type="mmdet.YOLOXHSVRandomAug"))
    assert isinstance(aug, YOLOXHSVRandomAug) and aug.value_delta == 30


# -- PhotometricDistortion -----------------------------------------------------------------------
def test_convert_is_float32_then_truncating_cast():
    table = convert_table(alpha=1.0, beta=10.7)
    assert table[3] == 13 and table[250] == 255 and table[0] == 10
    assert convert_table(alpha=0.5)[255] == 127  # 127.5 truncated


def test_contrast_is_applied_twice_with_mode_one():
    img = _pixel([100, 40, 200])
    once = PhotometricDistortion.apply(img, _params(contrast_mode=1, contrast_flag=1,
                                                    alpha_value=1.5))
    assert once.tolist() == [[[225, 90, 255]]]  # 100*1.5*1.5, 40*2.25, clipped
    never = PhotometricDistortion.apply(img, _params(contrast_mode=0, contrast_flag=1,
                                                     alpha_value=1.5))
    assert never.tolist() == img.tolist()


def test_brightness_then_swap():
    img = _pixel([1, 2, 250])
    out = PhotometricDistortion.apply(img, _params(brightness_flag=1, delta_value=-1.5,
                                                   swap_flag=1, swap_value=(2, 0, 1)))
    # 1-1.5 -> 0, 2-1.5 = 0.5 -> 0, 250-1.5 = 248.5 -> 248; then channels (2, 0, 1)
    assert out.tolist() == [[[248, 0, 0]]]


def test_hue_wraps_modulo_256_before_opencv_reduces_it_modulo_180():
    red = _pixel([0, 0, 255])  # H = 0
    out = PhotometricDistortion.apply(red, _params(hsv_mode=2, hue_value=-18))
    # 0 - 18 wraps to 238 in uint8; OpenCV reads hue 238 as 58 (116 degrees): R falls
    # to (120 - 116) / 60 * 255 = 17, G stays 255, B 0.
    assert np.abs(out.astype(int) - [0, 255, 17]).max() <= 1
    direct = cv2.cvtColor(np.array([[[58, 255, 255]]], np.uint8), cv2.COLOR_HSV2BGR)
    assert out.tolist() == direct.tolist()


def test_saturation_scales_s_only():
    img = _pixel([100, 100, 200])  # S = 255 * (1 - 100/200) = 128 (rounded), V = 200
    out = PhotometricDistortion.apply(img, _params(hsv_mode=1, saturation_value=0.0))
    assert out.tolist() == [[[200, 200, 200]]]  # S = 0: grey at V


def _slow_distortion(img: np.ndarray, p: DistortionParams) -> np.ndarray:
    """Section 6.8 written out on whole float32 images (no lookup tables)."""
    def convert(x, alpha=1.0, beta=0.0):
        return np.clip(x.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)
    img = img.copy()
    if p.brightness_flag:
        img = convert(img, beta=p.delta_value)
    if p.contrast_mode == 1 and p.contrast_flag:
        img = convert(img, alpha=p.alpha_value)
    if p.hsv_mode:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if p.hsv_mode in (1, 3):
            hsv[..., 1] = convert(hsv[..., 1], alpha=p.saturation_value)
        if p.hsv_mode in (2, 3):
            hsv[..., 0] = (hsv[..., 0].astype(int) + p.hue_value) % 256
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if p.contrast_mode == 1 and p.contrast_flag:
        img = convert(img, alpha=p.alpha_value)
    if p.swap_flag:
        img = img[..., list(p.swap_value)]
    return img


def test_lookup_tables_give_the_same_bytes_as_the_full_image_arithmetic():
    img = np.random.default_rng(0).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    aug = PhotometricDistortion()
    for seed in range(200):
        params = aug.draw_params(np.random.default_rng(seed))
        assert np.array_equal(aug.apply(img, params), _slow_distortion(img, params)), params


def test_distortion_draws_stay_in_range():
    aug = PhotometricDistortion()
    draws = [aug.draw_params(np.random.default_rng(i)) for i in range(3000)]
    hue = np.array([d.hue_value for d in draws])
    assert hue.min() == -18 and hue.max() == 17
    beta = np.array([d.delta_value for d in draws])
    assert -32 <= beta.min() < -31 and 31 < beta.max() < 32
    for key in ("alpha_value", "saturation_value"):
        values = np.array([getattr(d, key) for d in draws])
        assert 0.5 <= values.min() < 0.51 and 1.49 < values.max() < 1.5
    assert {d.hsv_mode for d in draws} == {0, 1, 2, 3}
    assert all(sorted(d.swap_value) == [0, 1, 2] for d in draws)
    twice = np.mean([d.contrast_mode == 1 and d.contrast_flag == 1 for d in draws])
    assert abs(twice - 0.25) < 0.03


@pytest.mark.parametrize("aug", [PhotometricDistortion(), YOLOXHSVRandomAug()])
def test_colour_steps_reproduce_per_generator_and_keep_keypoints(aug):
    img = np.random.default_rng(1).integers(0, 256, (32, 24, 3), dtype=np.uint8)
    kpts = np.array([[[3.0, 4.0]]])

    def run(seed):
        return aug(dict(img=img.copy(), rng=np.random.default_rng(seed),
                        transformed_keypoints=kpts))
    first, again = run(7), run(7)
    assert np.array_equal(first["img"], again["img"])
    assert first["transformed_keypoints"] is kpts
    assert any(not np.array_equal(run(7)["img"], run(s)["img"]) for s in range(8, 12))


def test_colour_steps_refuse_a_grey_image():
    with pytest.raises(ConfigError, match="uint8 BGR"):
        YOLOXHSVRandomAug()(dict(img=np.zeros((4, 4), np.uint8), rng=np.random.default_rng()))


# -- Albumentation -------------------------------------------------------------------------------
def test_v1_arguments_are_translated():
    assert translate_v1_args("CoarseDropout", BODY8_ALBU[2]) == dict(
        type="CoarseDropout", num_holes_range=(1, 1), hole_height_range=(0.2, 0.4),
        hole_width_range=(0.2, 0.4), p=1.0)
    # 1.x: a missing min is the max; fill_value became fill
    assert translate_v1_args("CoarseDropout", dict(max_holes=2, max_height=8, max_width=4,
                                                   fill_value=3)) == dict(
        num_holes_range=(2, 2), hole_height_range=(8, 8), hole_width_range=(4, 4), fill=3)
    assert translate_v1_args("Blur", dict(blur_limit=5, always_apply=True)) == dict(
        blur_limit=(3, 5), p=1.0)
    assert translate_v1_args("MedianBlur", dict(p=0.1)) == dict(p=0.1)


def test_blur_kernels_are_3_5_or_7():
    aug = Albumentation([dict(type="Blur", p=1.0)])
    impulse = np.zeros((21, 21, 3), np.uint8)
    impulse[10, 10] = 255
    sizes = set()
    for seed in range(60):
        out = aug(dict(img=impulse.copy(), rng=np.random.default_rng(seed)))["img"]
        rows = np.flatnonzero(out[..., 0].any(axis=1))
        sizes.add(int(rows.max() - rows.min() + 1))  # the box filter's support
    assert sizes == {3, 5, 7}


def test_body8_dropout_holes_fill_and_probabilities():
    aug = Albumentation(BODY8_ALBU)
    img = np.full((256, 192, 3), 200, np.uint8)
    kpts = np.array([[[50.0, 60.0]]])
    heights, widths = [], []
    for seed in range(300):
        results = aug(dict(img=img.copy(), rng=np.random.default_rng(seed),
                           transformed_keypoints=kpts))
        assert results["transformed_keypoints"] is kpts  # geometry untouched
        hole = (results["img"] == 0).all(axis=-1)
        rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        assert hole.sum() == len(rows) * len(cols)  # one filled rectangle, black on all channels
        heights.append(len(rows))
        widths.append(len(cols))
    # int(256 * U(0.2, 0.4)) and int(192 * U(0.2, 0.4)): 51-102 and 38-76 px
    assert 51 <= min(heights) and max(heights) <= 102 and max(heights) - min(heights) > 40
    assert 38 <= min(widths) and max(widths) <= 76 and max(widths) - min(widths) > 30
    blur = Albumentation([dict(type="Blur", p=0.1)])
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    changed = np.mean([not np.array_equal(
        blur(dict(img=noise.copy(), rng=np.random.default_rng(s)))["img"], noise)
        for s in range(1500)])
    assert abs(changed - 0.1) < 0.03


def test_albumentation_reproduces_per_generator():
    aug = Albumentation(BODY8_ALBU)
    img = np.random.default_rng(2).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    first = aug(dict(img=img.copy(), rng=np.random.default_rng([0, 3, 5])))["img"]
    again = aug(dict(img=img.copy(), rng=np.random.default_rng([0, 3, 5])))["img"]
    other = aug(dict(img=img.copy(), rng=np.random.default_rng([0, 3, 6])))["img"]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_albumentations_imports_without_torchvision():
    code = "import sys, albumentations; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_albumentation_errors_name_the_transform():
    with pytest.raises(ConfigError, match="no transform 'NoSuchBlur'"):
        Albumentation([dict(type="NoSuchBlur")])
    with pytest.raises(ConfigError, match="keymap"):
        Albumentation([dict(type="Blur")], keymap={"img": "image", "mask": "mask"})


def _body8_pipeline(colour: bool) -> list:
    codec = dict(type="SimCCLabel", input_size=(192, 256), sigma=(4.9, 5.66),
                 simcc_split_ratio=2.0, normalize=False, use_dark=False)
    colour_steps = [dict(type="mmdet.YOLOXHSVRandomAug"), dict(type="PhotometricDistortion"),
                    dict(type="Albumentation", transforms=BODY8_ALBU)]
    return [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
            dict(type="RandomFlip", direction="horizontal"), dict(type="RandomHalfBody"),
            dict(type="RandomBBoxTransform", scale_factor=[0.6, 1.4], rotate_factor=80),
            dict(type="TopdownAffine", input_size=(192, 256)),
            *(colour_steps if colour else []),
            dict(type="GenerateTarget", encoder=codec), dict(type="PackPoseInputs")]


def test_body8_train_pipeline_changes_pixels_only(fixtures_dir):
    """The colour steps come after the crop: same geometry and SimCC targets as without
    them, other pixels; the config tree checks before anything is built."""
    from posemix.registry import DATASETS, check_config_tree

    def dataset(colour):
        cfg = dict(type="CocoDataset", data_root=str(fixtures_dir / "coco"),
                   ann_file="test_coco.json", pipeline=_body8_pipeline(colour), cache=False)
        check_config_tree(cfg)
        return DATASETS.build(cfg)

    with_colour, without = dataset(True), dataset(False)
    for index in range(3):
        a, b = with_colour[index], without[index]
        assert a["inputs"].shape == b["inputs"].shape == (3, 256, 192)
        for key in ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights"):
            assert np.array_equal(a["targets"][key].numpy(), b["targets"][key].numpy()), key
        assert not np.array_equal(a["inputs"].numpy(), b["inputs"].numpy())
