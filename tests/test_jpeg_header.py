"""The one JPEG header walker (posemix.transforms.jpeg_header) against what OpenCV decodes:
the fixture JPEGs, a progressive JPEG with restart markers, every EXIF orientation in both
byte orders, and headers that end or break early. Header sizes, image_size and LoadImage
(eager and crop-first) must all give the decoded image's size."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from posemix.data.readers import image_size
from posemix.errors import ImageError
from posemix.transforms import DeferredImage, LoadImage, jpeg_header, jpeg_is_truncated


def exif_app1(orientation: int, order: str = "<") -> bytes:
    """An APP1 segment: EXIF with IFD0 holding one Orientation (SHORT) entry."""
    tiff = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    tiff += struct.pack(order + "HHHIH", 1, 0x0112, 3, 1, orientation) + b"\x00\x00"
    tiff += struct.pack(order + "I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def encode(height: int, width: int, *params: int) -> bytes:
    rng = np.random.default_rng(height * width)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (height, width, 3), np.uint8),
                           list(params))
    assert ok
    return buf.tobytes()


def decoded_size(data: bytes) -> tuple[int, int]:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return img.shape[1], img.shape[0]


def assert_agrees_with_opencv(data: bytes, path: Path) -> None:
    """Header, image_size, eager and crop-first LoadImage: all the decoded (w, h)."""
    path.write_bytes(data)
    w, h = decoded_size(data)
    assert jpeg_header(data, str(path))[:2] == (w, h)
    assert image_size(path) == (w, h)
    assert not jpeg_is_truncated(data)
    eager = LoadImage(crop_first=False)(dict(img_path=str(path)))
    deferred = LoadImage(crop_first=True)(dict(img_path=str(path)))
    assert isinstance(deferred["img"], DeferredImage)
    assert eager["img_shape"] == deferred["img_shape"] == (h, w)


def test_fixture_jpegs(data_dir, tmp_path):
    paths = sorted((data_dir / "fixtures").rglob("*.jpg"))
    assert len(paths) >= 10
    for path in paths:
        data = path.read_bytes()
        assert_agrees_with_opencv(data, tmp_path / path.name)
        assert jpeg_is_truncated(data[:len(data) // 2])
        assert jpeg_is_truncated(data[:40])  # inside the header


def test_progressive_jpeg_with_restart_markers(tmp_path):
    data = encode(37, 53, cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2)
    assert b"\xff\xc2" in data and b"\xff\xc0" not in data  # SOF2: really progressive
    assert_agrees_with_opencv(data, tmp_path / "progressive.jpg")
    assert jpeg_is_truncated(data[:-2])


@pytest.mark.parametrize("order", ["<", ">"])
def test_every_exif_orientation(order, tmp_path):
    data = encode(20, 30)
    for orientation in range(1, 9):
        rotated = data[:2] + exif_app1(orientation, order) + data[2:]
        header = jpeg_header(rotated, "x.jpg")
        assert header.orientation == orientation
        expected = (20, 30) if orientation >= 5 else (30, 20)  # 5-8 turn by 90 degrees
        assert header[:2] == expected == decoded_size(rotated)
        assert_agrees_with_opencv(rotated, tmp_path / f"o{orientation}{order}.jpg")


def test_progressive_and_rotated(tmp_path):
    data = encode(24, 40, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    rotated = data[:2] + exif_app1(6) + data[2:]
    assert jpeg_header(rotated, "x.jpg") == (24, 40, 6)
    assert_agrees_with_opencv(rotated, tmp_path / "pr.jpg")


def test_fill_bytes_and_stray_bytes_between_segments(tmp_path):
    data = encode(9, 13)
    padded = data[:2] + b"\xff\xff\xff" + data[2:]  # fill bytes before the first marker
    assert_agrees_with_opencv(padded, tmp_path / "fill.jpg")


def test_end_of_image_before_the_frame_means_no_image(tmp_path):
    """EOI (FFD9) stands alone: read as a segment with a length, the bytes after it would
    give a size to a file OpenCV cannot decode."""
    data = encode(9, 13)
    bad = data[:2] + b"\xff\xd9" + b"\x00\x04\x00\x00" + data[2:]
    assert cv2.imdecode(np.frombuffer(bad, np.uint8), cv2.IMREAD_COLOR) is None
    with pytest.raises(ImageError, match=r"no frame header before its end \(EOI\)"):
        jpeg_header(bad, "eoi.jpg")
    path = tmp_path / "eoi.jpg"
    path.write_bytes(bad)
    with pytest.raises(ImageError, match="eoi.jpg"):
        image_size(path)
    with pytest.raises(ImageError, match="eoi.jpg.*cannot be decoded"):
        LoadImage(crop_first=True)(dict(img_path=str(path)))


def test_broken_headers_raise_image_errors_naming_the_file():
    data = encode(9, 13)
    with pytest.raises(ImageError, match="a.jpg: not a JPEG"):
        jpeg_header(b"GIF89a", "a.jpg")
    with pytest.raises(ImageError, match="b.jpg: JPEG ends before its frame header"):
        jpeg_header(data[:30], "b.jpg")
    with pytest.raises(ImageError, match="c.jpg: corrupt JPEG segment length 1"):
        jpeg_header(data[:2] + b"\xff\xe0\x00\x01" + data[2:], "c.jpg")
    sos = data.index(b"\xff\xda")
    sof = data.index(b"\xff\xc0")
    no_frame = data[:sof] + data[sos:]
    with pytest.raises(ImageError, match="d.jpg: JPEG has no frame header before its scan"):
        jpeg_header(no_frame, "d.jpg")


def test_large_header_is_read_whole(tmp_path):
    """A header longer than image_size's first read (three full APP segments)."""
    data = encode(11, 17)
    filler = b"\xff\xe2\xff\xff" + bytes(0xFFFD)
    big = data[:2] + filler * 3 + exif_app1(8) + data[2:]
    path = tmp_path / "big.jpg"
    path.write_bytes(big)
    assert image_size(path) == (11, 17) == decoded_size(big)
