"""Image width and height from the file header, without decoding the pixels.

Formats that carry no sizes in the annotation (native AI Challenger) need them to clip
boxes; decoding 200k images for that would take many minutes, reading a few hundred
header bytes takes seconds. The size is the one ``cv2.imread(IMREAD_COLOR)`` returns:
JPEG EXIF orientations 5-8 (90 degree rotations) swap width and height. Formats other
than JPEG and PNG fall back to decoding with OpenCV.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from posemix.errors import ImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT/JPG/DAC
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD9)}
EXIF_ORIENTATION_TAG = 0x0112


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the image at ``path``; ImageError if missing or unreadable."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"\xff\xd8"):
                f.seek(2)
                width, height, orientation = _jpeg_frame(f, path)
                return _oriented(width, height, orientation)
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    except (OSError, struct.error) as exc:
        raise ImageError(f"{path}: cannot read the image header ({exc})") from None
    return _decoded_size(path)


def jpeg_header(data: bytes, path: str) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) of the JPEG ``data``, from its header alone.

    Width and height are those ``cv2.imdecode(IMREAD_COLOR)`` gives (swapped for the
    90-degree orientations 5-8); ImageError if the header is cut short or corrupt.
    """
    try:
        if not data.startswith(b"\xff\xd8"):
            raise ImageError(f"{path}: not a JPEG file")
        width, height, orientation = _jpeg_frame(io.BytesIO(data[2:]), path)
    except struct.error as exc:
        raise ImageError(f"{path}: cannot read the image header ({exc})") from None
    return (*_oriented(width, height, orientation), orientation)


def _oriented(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _jpeg_frame(f: BinaryIO, path: str) -> tuple[int, int, int]:
    """Stored width, height and the EXIF orientation, reading ``f`` from after SOI."""
    orientation = 1
    while True:
        byte = f.read(1)
        if not byte:
            raise ImageError(f"{path}: JPEG ends before its frame header")
        if byte != b"\xff":
            continue
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker:
            raise ImageError(f"{path}: JPEG ends before its frame header")
        code = marker[0]
        if code in STANDALONE_MARKERS:
            continue
        (length,) = struct.unpack(">H", f.read(2))
        if length < 2:
            raise ImageError(f"{path}: corrupt JPEG segment length {length}")
        if code in SOF_MARKERS:
            _, height, width = struct.unpack(">BHH", f.read(5))
            return width, height, orientation
        segment = f.read(length - 2)
        if code == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag of IFD0 in a TIFF/EXIF block; 1 (upright) when absent or odd."""
    if tiff[:2] not in (b"II", b"MM") or len(tiff) < 8:
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for n in range(count):
        entry = tiff[ifd + 2 + 12 * n: ifd + 14 + 12 * n]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == EXIF_ORIENTATION_TAG and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", entry[8:10])
            return value
    return 1


def _decoded_size(path: str) -> tuple[int, int]:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{path}: not a readable image")
    return img.shape[1], img.shape[0]
