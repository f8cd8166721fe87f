"""Crop-first decoding: a DeferredImage decodes what the crop needs and gives the crop of
full decoding up to filtering (>= 28 dB PSNR) with identical targets; training datasets
use it, evaluation datasets and plain LoadImage calls do not."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemix.api import build_dataset, load_config
from posemix.errors import ImageError
from posemix.registry import DATASETS
from posemix.transforms import (
    Compose,
    DeferredImage,
    LoadImage,
    enable_crop_first,
    get_warp_matrix,
    warp_affine,
)
from posemix.transforms import crop_first as crop_first_module
from posemix.transforms.crop_first import reduced_grid, reduction_factor

COMBINE = "configs/body_2d_keypoint/topdown_heatmap/coco/" \
          "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py"
INPUT_SIZE = (192, 256)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def deferred(path: Path) -> DeferredImage:
    img = LoadImage(crop_first=True)(dict(img_path=str(path)))["img"]
    assert isinstance(img, DeferredImage)
    return img


@pytest.fixture(scope="module")
def large_photo(fixtures_dir, tmp_path_factory) -> Path:
    """A COCO fixture photo upscaled 3x (1920x1287), as a camera of today takes them."""
    photo = cv2.imread(str(fixtures_dir / "coco" / "000000196141.jpg"))
    path = tmp_path_factory.mktemp("large") / "large.jpg"
    cv2.imwrite(str(path), cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


# -- geometry -------------------------------------------------------------------------------

def test_reduction_factor_keeps_one_and_a_half_source_pixels_per_crop_pixel():
    def shrinking(s, rot=0.0):
        return get_warp_matrix(np.array([500.0, 400.0]), np.array([192.0 * s, 256.0 * s]),
                               rot, INPUT_SIZE)

    assert [reduction_factor(shrinking(s)) for s in (1, 2.9, 3.01, 5.9, 6.01, 11.9, 12.01, 40)] == \
        [1, 1, 2, 2, 4, 4, 8, 8]
    assert reduction_factor(shrinking(6.5, rot=37)) == 4  # rotation does not change the zoom


@pytest.mark.parametrize("k", [2, 4, 8])
def test_reduced_pixel_centres_sit_at_k_i_plus_half_k_minus_one(fixtures_dir, k):
    """libjpeg's 1/k image matches the full image low-passed and sampled at k*i + (k-1)/2,
    and clearly better than sampled at k*i (the wrong convention)."""
    data = np.fromfile(str(fixtures_dir / "aic" / "054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg"),
                       np.uint8)
    full = cv2.GaussianBlur(cv2.imdecode(data, cv2.IMREAD_COLOR), (0, 0), k / 2)
    reduced = cv2.imdecode(data, crop_first_module.REDUCED_FLAGS[cv2.IMREAD_COLOR][k])
    h, w = reduced.shape[:2]
    assert (h, w) == (-(-600 // k), -(-900 // k))

    def sampled(grid: np.ndarray) -> np.ndarray:
        to_reduced = cv2.invertAffineTransform(grid[:2])
        return cv2.warpAffine(full, to_reduced, (w, h), flags=cv2.INTER_LINEAR)

    wrong = np.array([[k, 0, 0], [0, k, 0], [0, 0, 1]], dtype=np.float64)
    right = psnr(reduced[:-1, :-1], sampled(reduced_grid(k))[:-1, :-1])
    assert right >= 30
    assert right > psnr(reduced[:-1, :-1], sampled(wrong)[:-1, :-1]) + 1.5


@pytest.mark.parametrize(("scale", "rot", "flip"), [(3.2, 0, False), (6.5, 25, True),
                                                     (13, -40, True), (1.4, 10, True)])
def test_crops_agree_with_full_decoding(large_photo, scale, rot, flip):
    image = deferred(large_photo)
    full = cv2.imread(str(large_photo))
    if flip:
        image, full = np.flip(image, (1,)), np.ascontiguousarray(np.flip(full, 1))
    assert isinstance(image, DeferredImage)
    matrix = get_warp_matrix(np.array([900.0, 700.0]), np.array([192.0, 256.0]) * scale, rot,
                             INPUT_SIZE)
    crop = image.warp(matrix, INPUT_SIZE)
    exact = warp_affine(full, matrix, INPUT_SIZE)
    assert crop.shape == exact.shape == (256, 192, 3)
    # no reduction (1.4): OpenCV's own bilinear warp, within a grey level or so
    assert psnr(crop, exact) >= (28 if scale >= 3 else 45)


def test_flips_are_coordinate_maps_and_anything_else_decodes(fixtures_dir):
    path = fixtures_dir / "coco" / "000000040083.jpg"
    full = cv2.imread(str(path))
    image = deferred(path)
    assert image.shape == full.shape and image.dtype == np.uint8 and image.ndim == 3
    mirrored = np.flip(image, axis=(0, 1))
    assert isinstance(mirrored, DeferredImage)
    np.testing.assert_array_equal(np.asarray(mirrored), full[::-1, ::-1])
    np.testing.assert_array_equal(mirrored[5:7, :3], full[::-1, ::-1][5:7, :3])
    assert np.mean(image) == pytest.approx(full.mean())
    np.testing.assert_array_equal(np.flip(image, -1), full[..., ::-1])  # channels: decoded


def exif_oriented(data: bytes, orientation: int) -> bytes:
    """``data`` with an EXIF block (orientation tag) right after SOI."""
    ifd = struct.pack("<HHHIHH", 1, 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    body = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def test_exif_rotated_images_keep_their_decoded_size_and_are_not_reduced(large_photo,
                                                                          tmp_path):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(exif_oriented(large_photo.read_bytes(), 6))
    full = cv2.imread(str(path))
    image = deferred(path)
    assert image.shape == full.shape and full.shape[0] > full.shape[1]  # turned upright
    matrix = get_warp_matrix(np.array([600.0, 900.0]), np.array([192.0, 256.0]) * 5, 0,
                             INPUT_SIZE)
    assert psnr(image.warp(matrix, INPUT_SIZE), warp_affine(full, matrix, INPUT_SIZE)) >= 45


def test_unreadable_files_fail_in_load_image_as_before(fixtures_dir, tmp_path):
    data = (fixtures_dir / "coco" / "000000000785.jpg").read_bytes()
    for name, content in (("cut.jpg", data[: len(data) // 2]), ("header.jpg", data[:2] + b"x")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageError, match=name):
            LoadImage(crop_first=True)(dict(img_path=str(tmp_path / name)))


# -- who decodes crop-first -------------------------------------------------------------------

def fixture_options(fixtures_dir: Path, *extra: str) -> list[str]:
    prefix = "train_dataloader.dataset.datasets"
    return [f"{prefix}.0.data_root={fixtures_dir / 'coco'}", f"{prefix}.0.ann_file=test_coco.json",
            f"{prefix}.0.data_prefix.img=", f"{prefix}.1.data_root={fixtures_dir / 'aic'}",
            f"{prefix}.1.ann_file=test_aic.json", f"{prefix}.1.data_prefix.img=", *extra]


def seed_train_dataset(fixtures_dir: Path, request, *extra: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE),
                          fixture_options(fixtures_dir, *extra))
        return build_dataset(cfg, "train")


def test_training_uses_crop_first_with_identical_targets(fixtures_dir, request):
    fast = seed_train_dataset(fixtures_dir, request)
    exact = seed_train_dataset(fixtures_dir, request,
                               "train_dataloader.dataset.pipeline.0.crop_first=False")
    assert fast.pipeline.transforms[0].allow_crop_first()
    assert not exact.pipeline.transforms[0].allow_crop_first()
    for epoch in range(3):
        for index in range(len(fast)):
            a, b = fast[(epoch, index)], exact[(epoch, index)]
            assert psnr(a["inputs"].numpy(), b["inputs"].numpy()) >= 28
            assert a["targets"].keys() == b["targets"].keys()
            for key in a["targets"]:
                np.testing.assert_array_equal(a["targets"][key], b["targets"][key])
            assert a["meta"]["ori_shape"] == b["meta"]["ori_shape"]


def test_large_people_are_decoded_reduced(large_photo, tmp_path, request, monkeypatch):
    ann = tmp_path / "large.json"
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": large_photo.name, "width": 1920, "height": 1287}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [600, 150, 700, 1100],
                         "keypoints": [900, 400, 2] * 17, "num_keypoints": 17}]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = load_config(str(request.config.rootpath / COMBINE), []).train_pipeline
    dataset = DATASETS.build(dict(type="CocoDataset", ann_file=str(ann),
                                  data_prefix=dict(img=str(large_photo.parent)),
                                  pipeline=pipeline, cache=False))
    flags = []
    decode = DeferredImage._decode
    monkeypatch.setattr(DeferredImage, "_decode",
                        lambda self, flag: flags.append(flag) or decode(self, flag))
    for epoch in range(6):
        dataset.set_epoch(epoch)
        assert tuple(dataset[0]["inputs"].shape) == (3, 256, 192)
    assert set(flags) & {cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_COLOR_4}


def test_evaluation_and_plain_calls_decode_in_full(fixtures_dir, request):
    path = fixtures_dir / "coco" / "000000196141.jpg"
    assert isinstance(LoadImage()(dict(img_path=str(path)))["img"], np.ndarray)
    val = DATASETS.build(dict(type="CocoDataset",
                              ann_file=str(fixtures_dir / "coco" / "test_coco.json"),
                              data_prefix=dict(img=str(fixtures_dir / "coco")),
                              pipeline=[dict(type="LoadImage"),
                                        dict(type="GetBBoxCenterScale")],
                              test_mode=True))
    assert isinstance(val[0]["img"], np.ndarray)
    # only coordinate steps may stand between LoadImage and TopdownAffine
    assert not enable_crop_first(Compose([LoadImage(), lambda r: r,
                                          dict(type="TopdownAffine", input_size=INPUT_SIZE)]))
    assert not enable_crop_first(Compose([LoadImage(to_float32=True),
                                          dict(type="TopdownAffine", input_size=INPUT_SIZE)]))
    assert enable_crop_first(Compose([LoadImage(), dict(type="GetBBoxCenterScale"),
                                      dict(type="RandomFlip"),
                                      dict(type="TopdownAffine", input_size=INPUT_SIZE)]))
