"""Image decoding: OpenCV, BGR, exactly as MMPose/mmcv's ``LoadImage`` with the cv2 backend.

With the default ``color_type='color'`` every image comes out (h, w, 3) uint8 BGR: a grey
image is replicated to three channels, a fourth (alpha) channel is dropped, 16-bit data
is scaled to 8 bits and EXIF orientation is applied (all by ``cv2.IMREAD_COLOR``).
A missing, undecodable or truncated file raises ``ImageError`` naming the file and sample.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from posemix.errors import ConfigError, ImageError
from posemix.registry import TRANSFORMS
from posemix.transforms.compose import BaseTransform, describe_sample

IMREAD_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "color_ignore_orientation": cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "grayscale_ignore_orientation": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
    "unchanged": cv2.IMREAD_UNCHANGED,
}
# JPEG markers that stand alone (no length field): TEM, RST0-7, SOI, EOI.
_STANDALONE_MARKERS = {0x01, *range(0xD0, 0xDA)}


def jpeg_is_truncated(data: bytes) -> bool:
    """True if a JPEG stream ends before its End-Of-Image marker (FFD9).

    OpenCV 4 decodes such files partly (grey bottom rows) with only a warning; OpenCV 5
    returns None. Walking the header segments up to the main image's first scan skips
    embedded EXIF thumbnails (with their own EOI); after that, entropy-coded data can hold
    FFD9 only as the real EOI, so trailing bytes after the image stay allowed.
    """
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a well-formed header: leave the verdict to the decoder
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _STANDALONE_MARKERS:
            pos += 2
        elif marker == 0xDA:  # start of scan: the compressed data follows
            return data.find(b"\xff\xd9", pos) < 0
        else:
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return True  # the header itself was cut off


def decode_image(data: bytes, flag: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """Decode encoded image bytes with OpenCV; None if undecodable or a truncated JPEG."""
    if data[:2] == b"\xff\xd8" and jpeg_is_truncated(data):
        return None
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        return None


@TRANSFORMS.register()
class LoadImage(BaseTransform):
    """Decode ``results['img_path']`` into ``img``; set ``img_shape`` and ``ori_shape`` (h, w).

    An ``img`` already in ``results`` (an array given by the caller) is used as is.
    With ``ignore_empty=True`` an unreadable image returns None, which drops the sample.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color",
                 imdecode_backend: str = "cv2", ignore_empty: bool = False,
                 file_client_args: dict | None = None, backend_args: dict | None = None):
        if color_type not in IMREAD_FLAGS:
            raise ConfigError(
                f"LoadImage color_type '{color_type}' is not one of {sorted(IMREAD_FLAGS)}"
            )
        if imdecode_backend != "cv2":
            raise ConfigError(
                f"LoadImage imdecode_backend '{imdecode_backend}' is not supported; posemix "
                "decodes with OpenCV ('cv2') so that pixels match MMPose's defaults"
            )
        for name, args in (("file_client_args", file_client_args),
                           ("backend_args", backend_args)):
            if args not in (None, {}, {"backend": "local"}):
                raise ConfigError(f"LoadImage {name}={args!r}: only local files are supported")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.ignore_empty = ignore_empty

    def __call__(self, results: dict) -> dict | None:
        img = results.get("img")
        if img is None:
            img = self._read(results)
            if img is None:
                return None
        else:
            results.setdefault("img_path", None)
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def _read(self, results: dict) -> np.ndarray | None:
        path = results.get("img_path")
        if not path:
            problem = "is not given (no img_path)"
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                problem = f"cannot be read ({exc.strerror or exc})"
            else:
                img = decode_image(data, IMREAD_FLAGS[self.color_type])
                if img is not None and img.size > 0:
                    return img
                problem = "cannot be decoded (empty, truncated or not an image OpenCV reads)"
        if self.ignore_empty:
            return None
        raise ImageError(
            f"image '{path}' {problem} ({describe_sample(results, with_image=False)})"
        )
