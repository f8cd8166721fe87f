"""Image decoding: OpenCV, BGR, exactly as MMPose/mmcv's ``LoadImage`` with the cv2 backend.

With the default ``color_type='color'`` every image comes out (h, w, 3) uint8 BGR: a grey
image is replicated to three channels, a fourth (alpha) channel is dropped, 16-bit data
is scaled to 8 bits and EXIF orientation is applied (all by ``cv2.IMREAD_COLOR``).
A missing, undecodable or truncated file raises ``ImageError`` naming the file and sample.

Crop-first decoding (``crop_first``, see :mod:`posemix.transforms.crop_first`): a JPEG
is not decoded here but handed on as a ``DeferredImage`` with its size from the header,
and ``TopdownAffine`` decodes only what its crop needs (DCT-domain 1/2, 1/4, 1/8
scaling). Its crops are filtered, not pixel-identical to MMPose's, so it is for
training: ``crop_first=None`` (the default) lets the dataset decide, and datasets turn
it on when ``test_mode=False`` and every step between ``LoadImage`` and
``TopdownAffine`` moves only coordinates (``enable_crop_first``). Outside a dataset
(``None`` and nobody deciding) and in test mode, images are decoded here, in full.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from posemix.errors import ConfigError, ImageError
from posemix.registry import TRANSFORMS
from posemix.transforms.affine import TopdownAffine
from posemix.transforms.bbox import GetBBoxCenterScale
from posemix.transforms.bbox_transform import RandomBBoxTransform
from posemix.transforms.compose import BaseTransform, Compose, describe_sample
from posemix.transforms.crop_first import DeferredImage
from posemix.transforms.flip import RandomFlip
from posemix.transforms.half_body import RandomHalfBody
from posemix.transforms.jpeg_header import jpeg_header, jpeg_is_truncated

IMREAD_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "color_ignore_orientation": cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "grayscale_ignore_orientation": cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
    "unchanged": cv2.IMREAD_UNCHANGED,
}
# Flags a DeferredImage decodes (at full or reduced scale) exactly as eager decoding does.
_DEFERRABLE_FLAGS = (cv2.IMREAD_COLOR, cv2.IMREAD_GRAYSCALE)
# Steps that move only coordinates: crop-first decoding may pass them before the crop.
GEOMETRY_ONLY_STEPS = (GetBBoxCenterScale, RandomFlip, RandomHalfBody, RandomBBoxTransform)


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
    ``crop_first`` (posemix): True defers JPEG decoding to ``TopdownAffine`` (see the
    module docstring; ``img`` is then a ``DeferredImage``), False always decodes here,
    None (default) leaves it to the dataset, which turns it on for training.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color",
                 imdecode_backend: str = "cv2", ignore_empty: bool = False,
                 file_client_args: dict | None = None, backend_args: dict | None = None,
                 crop_first: bool | None = None):
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
        self.crop_first = crop_first
        self._defer = bool(crop_first)

    def allow_crop_first(self) -> bool:
        """Turn crop-first decoding on unless the config decided; True if it is on."""
        if self.crop_first is None and not (self.to_float32 or self.ignore_empty):
            self._defer = True
        return self._defer

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

    @staticmethod
    def _deferred(data: bytes, flag: int, path: str, results: dict) -> DeferredImage | None:
        """The JPEG as a DeferredImage; None if its header is unreadable (then the decoder
        reports the problem)."""
        try:
            width, height, orientation = jpeg_header(data, path)
        except ImageError:
            return None
        if width <= 0 or height <= 0:
            return None
        label = f"image '{path}' ({describe_sample(results, with_image=False)})"
        return DeferredImage(data, flag, (width, height), orientation, label)

    def _read(self, results: dict) -> np.ndarray | DeferredImage | None:
        path = results.get("img_path")
        if not path:
            problem = "is not given (no img_path)"
        else:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                problem = f"cannot be read ({exc.strerror or exc})"
            else:
                flag = IMREAD_FLAGS[self.color_type]
                if (self._defer and not self.to_float32 and not self.ignore_empty
                        and flag in _DEFERRABLE_FLAGS and data[:2] == b"\xff\xd8"
                        and not jpeg_is_truncated(data)):
                    deferred = self._deferred(data, flag, path, results)
                    if deferred is not None:
                        return deferred
                img = decode_image(data, flag)
                if img is not None and img.size > 0:
                    return img
                problem = "cannot be decoded (empty, truncated or not an image OpenCV reads)"
        if self.ignore_empty:
            return None
        raise ImageError(
            f"image '{path}' {problem} ({describe_sample(results, with_image=False)})"
        )


def enable_crop_first(pipeline: Compose) -> bool:
    """Turn on crop-first decoding in a training ``pipeline`` where it is safe.

    Safe means: a ``LoadImage`` whose ``crop_first`` is None is followed, through steps
    that move only coordinates (``GEOMETRY_ONLY_STEPS``), by a ``TopdownAffine``.
    Returns whether it was turned on.
    """
    steps = pipeline.transforms
    for i, step in enumerate(steps):
        if not isinstance(step, LoadImage):
            continue
        for later in steps[i + 1:]:
            if isinstance(later, TopdownAffine):
                return step.allow_crop_first()
            if not isinstance(later, GEOMETRY_ONLY_STEPS):
                return False
        return False
    return False
