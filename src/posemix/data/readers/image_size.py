"""Image width and height from the file header, without decoding the pixels.

Formats that carry no sizes in the annotation (native AI Challenger) need them to clip
boxes; decoding 200k images for that would take many minutes, reading their headers
takes seconds. The size is the one ``cv2.imread(IMREAD_COLOR)`` returns (JPEG headers are
read by :mod:`posemix.transforms.jpeg_header`, EXIF orientation included). Formats other
than JPEG and PNG fall back to decoding with OpenCV.
"""

from __future__ import annotations

import os
import struct

from posemix.errors import ImageError
from posemix.transforms.jpeg_header import SOI, HeaderCutShort, jpeg_header

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Enough for almost every JPEG header (an EXIF segment is at most 64 KiB); a longer
# header is read whole.
HEAD_BYTES = 1 << 17


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the image at ``path``; ImageError if missing or unreadable."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(SOI):
                try:
                    return jpeg_header(head, path)[:2]
                except HeaderCutShort:
                    if len(head) < HEAD_BYTES:
                        raise
                    return jpeg_header(head + f.read(), path)[:2]
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the image header ({exc})") from None
    return _decoded_size(path)


def _decoded_size(path: str) -> tuple[int, int]:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{path}: not a readable image")
    return img.shape[1], img.shape[0]
