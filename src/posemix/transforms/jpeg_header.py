"""The one JPEG header walker: frame size, EXIF orientation and where the scan data starts.

Image sizes for AIC boxes (``data.readers.image_size``), crop-first decoding and the
truncation check (``transforms.loading``) all read JPEG headers; they share this walker
so that they agree on the marker table. Segments are walked as libjpeg reads them: fill
bytes (FF FF ...) and stray bytes between segments are skipped, TEM, RST0-7 and EOI stand
alone, every other marker carries a big-endian length. An EOI before the frame header
means there is no image (libjpeg: "JPEG datastream contains no image").

Sizes are those ``cv2.imdecode(IMREAD_COLOR)`` returns: OpenCV applies the EXIF
orientation, so orientations 5-8 (90-degree turns) swap width and height.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from posemix.errors import ImageError

SOI = b"\xff\xd8"
EOI_MARKER = 0xD9
SOS_MARKER = 0xDA
APP1_MARKER = 0xE1
# Markers without a length field: TEM, RST0-RST7, SOI, EOI.
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})
# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic);
# not DHT (C4), JPG (C8) or DAC (CC).
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                         0xCE, 0xCF})
EXIF_ORIENTATION_TAG = 0x0112


class JpegHeader(NamedTuple):
    """The decoded (oriented) width and height and the EXIF orientation (1 = upright)."""

    width: int
    height: int
    orientation: int


class HeaderCutShort(ImageError):
    """The data ends inside the header (before the first scan)."""


def segments(data: bytes, path: str) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each segment after SOI, up to and including
    the first start-of-scan or EOI; HeaderCutShort if ``data`` ends first."""
    pos, n = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)  # skips stray bytes, as libjpeg does (with a warning)
        while 0 <= pos < n - 1 and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos < 0 or pos + 1 >= n:
            raise HeaderCutShort(f"{path}: JPEG ends before its frame header")
        marker = data[pos + 1]
        if marker == 0x00:  # a stuffed FF 00 is no marker
            pos += 2
            continue
        if marker in STANDALONE_MARKERS:
            yield marker, pos + 2, pos + 2
            if marker == EOI_MARKER:
                return
            pos += 2
            continue
        if pos + 4 > n:
            raise HeaderCutShort(f"{path}: JPEG ends before its frame header")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            raise ImageError(f"{path}: corrupt JPEG segment length {length}")
        end = pos + 2 + length
        if end > n and marker != SOS_MARKER:
            raise HeaderCutShort(f"{path}: JPEG ends before its frame header")
        yield marker, pos + 4, min(end, n)
        if marker == SOS_MARKER:
            return
        pos = end


def jpeg_header(data: bytes, path: str) -> JpegHeader:
    """Width and height (as OpenCV decodes them) and EXIF orientation of the JPEG ``data``,
    from its header alone; ImageError if it is not a JPEG or the header is cut or corrupt."""
    if not data.startswith(SOI):
        raise ImageError(f"{path}: not a JPEG file")
    orientation = 1
    for marker, start, end in segments(data, path):
        if marker in SOF_MARKERS:
            if end - start < 5:
                raise ImageError(f"{path}: corrupt JPEG frame header")
            height, width = struct.unpack(">HH", data[start + 1:start + 5])
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            return JpegHeader(width, height, orientation)
        if marker == APP1_MARKER and data.startswith(b"Exif\x00\x00", start):
            orientation = exif_orientation(data[start + 6:end])
        if marker in (SOS_MARKER, EOI_MARKER):
            break
    raise ImageError(f"{path}: JPEG has no frame header before its "
                     f"{'scan data' if marker == SOS_MARKER else 'end (EOI)'}")


def jpeg_is_truncated(data: bytes) -> bool:
    """True if a JPEG stream ends before its End-Of-Image marker (FFD9).

    OpenCV 4 decodes such files partly (grey bottom rows) with only a warning; OpenCV 5
    returns None. Walking the header up to the main image's first scan skips embedded
    EXIF thumbnails (with their own EOI); after that, entropy-coded data can hold FFD9
    only as the real EOI, so trailing bytes after the image stay allowed.
    """
    try:
        for marker, start, _ in segments(data, ""):
            if marker == SOS_MARKER:
                return data.rfind(b"\xff\xd9", start) < 0  # from the end: EOI is usually last
    except HeaderCutShort:
        return True
    except ImageError:
        return False  # a corrupt header: leave the verdict to the decoder
    return False  # EOI before any scan: not cut, but no image (the decoder says so)


def exif_orientation(tiff: bytes) -> int:
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
            return value if 1 <= value <= 8 else 1
    return 1
