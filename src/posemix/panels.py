"""Composing pictures into one: side by side, one below the other, or a titled grid
(browse's sheets, the demo's prediction grid)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from posemix.errors import PosemixError
from posemix.visualization import (
    BACKGROUND,
    FONT,
    PANEL_GAP,
    TEXT_COLOR,
    TITLE_HEIGHT,
    fit_font,
    to_bgr,
)


def _title_strip(text: str, width: int) -> np.ndarray:
    strip = np.full((TITLE_HEIGHT, width, 3), BACKGROUND, np.uint8)
    text, font_scale = fit_font(text, width - 6, 0.45)
    (_, th), _ = cv2.getTextSize(text, FONT, font_scale, 1)
    cv2.putText(strip, text, (3, (TITLE_HEIGHT + th) // 2), FONT, font_scale, TEXT_COLOR, 1,
                cv2.LINE_AA)
    return strip


def _resize_to_height(img: np.ndarray, height: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(1, int(round(w * height / h)))
    interpolation = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interpolation)


def _check_titles(titles: Sequence[str] | None, n: int, where: str) -> None:
    if titles is not None and len(titles) != n:
        raise PosemixError(f"{where}: {len(titles)} titles for {n} images")


def hstack_panels(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                  gap: int = PANEL_GAP) -> np.ndarray:
    """Images side by side at the tallest one's height, each under its title (if given)."""
    if not images:
        raise PosemixError("hstack_panels: no images")
    _check_titles(titles, len(images), "hstack_panels")
    height = max(np.asarray(i).shape[0] for i in images)
    panels = []
    for n, img in enumerate(images):
        panel = _resize_to_height(to_bgr(img), height)
        if titles is not None:
            panel = np.vstack([_title_strip(titles[n], panel.shape[1]), panel])
        panels.append(panel)
    spacer = np.full((panels[0].shape[0], gap, 3), BACKGROUND, np.uint8)
    parts = [p for panel in panels for p in (panel, spacer)][:-1]
    return np.hstack(parts)


def vstack_panels(images: Sequence[np.ndarray], gap: int = PANEL_GAP) -> np.ndarray:
    """Images one below the other, left-aligned, padded to the widest one."""
    if not images:
        raise PosemixError("vstack_panels: no images")
    width = max(np.asarray(i).shape[1] for i in images)
    rows = []
    for img in images:
        img = to_bgr(img)
        pad = np.full((img.shape[0], width - img.shape[1], 3), BACKGROUND, np.uint8)
        rows += [np.hstack([img, pad]), np.full((gap, width, 3), BACKGROUND, np.uint8)]
    return np.vstack(rows[:-1])


def contact_sheet(images: Sequence[np.ndarray], columns: int,
                  titles: Sequence[str] | None = None, gap: int = PANEL_GAP) -> np.ndarray:
    """A grid of ``columns`` cells per row, each as large as the largest image (centred)."""
    if not images:
        raise PosemixError("contact_sheet: no images")
    _check_titles(titles, len(images), "contact_sheet")
    images = [to_bgr(i) for i in images]
    columns = max(1, min(int(columns), len(images)))
    rows = -(-len(images) // columns)
    cell_h = max(i.shape[0] for i in images) + (TITLE_HEIGHT if titles is not None else 0)
    cell_w = max(i.shape[1] for i in images)
    sheet = np.full((rows * cell_h + (rows - 1) * gap, columns * cell_w + (columns - 1) * gap,
                     3), BACKGROUND, np.uint8)
    for n, img in enumerate(images):
        y = (n // columns) * (cell_h + gap)
        x = (n % columns) * (cell_w + gap)
        if titles is not None:
            sheet[y:y + TITLE_HEIGHT, x:x + cell_w] = _title_strip(titles[n], cell_w)
            y += TITLE_HEIGHT
        h, w = img.shape[:2]
        y += (cell_h - (TITLE_HEIGHT if titles is not None else 0) - h) // 2
        x += (cell_w - w) // 2
        sheet[y:y + h, x:x + w] = img
    return sheet
