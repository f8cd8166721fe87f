"""OKS-based non-maximum suppression of pose instances within one image.

Top-down models see overlapping detector boxes of the same person and predict near
identical poses; MMPose's CocoMetric removes those duplicates with greedy OKS NMS before
COCO evaluation. The pairwise OKS is computed in one vectorised step; only the greedy
selection, which is sequential by nature, loops (at most once per kept instance).
"""

from __future__ import annotations

import numpy as np


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Pairwise object keypoint similarity of N poses, (N, N) float32.

    ``keypoints`` (N, K, 2), ``areas`` (N,), ``sigmas`` (K,). As in MMPose's ``oks_iou``
    every keypoint counts (no visibility threshold), the scale of a pair is the mean of
    the two areas, and the result is float32 (so threshold comparisons match MMPose's).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    variances = (np.asarray(sigmas) * 2) ** 2
    delta = keypoints[:, None] - keypoints[None, :]  # (N, N, K, 2)
    squared = (delta**2).sum(-1)
    scale = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    e = squared / variances / scale[..., None] / 2
    return np.exp(-e).mean(-1).astype(np.float32)


def _descending(scores: np.ndarray) -> np.ndarray:
    # MMPose orders by ``scores.argsort()[::-1]``; for the handful of poses per image
    # numpy's default sort is stable, so ties come out last-index first, as here.
    return np.argsort(scores, kind="stable")[::-1]


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
            sigmas: np.ndarray, thr: float) -> np.ndarray:
    """Indices of the poses kept by greedy OKS NMS, highest score first.

    Each kept pose removes every lower-scored pose whose OKS with it exceeds ``thr``.
    """
    if len(scores) == 0:
        return np.zeros(0, dtype=np.intp)
    oks = oks_matrix(keypoints, areas, sigmas)
    order = _descending(np.asarray(scores))
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[oks[best, rest] <= thr]
    return np.asarray(keep, dtype=np.intp)


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
                 sigmas: np.ndarray, thr: float, max_dets: int = 20) -> np.ndarray:
    """Indices of the poses kept by Gaussian soft OKS NMS, at most ``max_dets``.

    After each pick the remaining scores decay by ``exp(-oks**2 / thr)`` and are
    re-sorted. As in MMPose the decayed scores only decide the order and the cut at
    ``max_dets``; callers keep the poses' original scores.
    """
    if len(scores) == 0:
        return np.zeros(0, dtype=np.intp)
    oks = oks_matrix(keypoints, areas, sigmas)
    order = _descending(np.asarray(scores))
    remaining = np.asarray(scores, dtype=np.float64)[order]
    keep = []
    while order.size and len(keep) < max_dets:
        best = order[0]
        keep.append(best)
        order = order[1:]
        remaining = remaining[1:] * np.exp(-oks[best, order] ** 2 / thr)
        resort = _descending(remaining)
        order, remaining = order[resort], remaining[resort]
    return np.asarray(keep, dtype=np.intp)
