"""What a run reports: a progress bar (or plain lines when not on a terminal), one JSON
record per logged step and per validation (``metrics.jsonl``), TensorBoard scalars when
``tensorboard`` is installed, and a PNG of the loss and validation curves at the end.

Everything here is done by the main process only; other ranks get a disabled logger.
"""

from __future__ import annotations

import datetime
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posemix.errors import PosemixError

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"

_COLORS = [(200, 90, 30), (40, 140, 40), (40, 40, 200), (160, 40, 160), (20, 150, 190),
           (110, 110, 20), (90, 90, 90), (200, 30, 120)]  # BGR
_MAX_CURVES = 8


LOG_INTERVAL = 50  # iterations between log lines (default_hooks.logger.interval)

def _tensorboard_writer(folder: Path) -> Any:
    """A SummaryWriter, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(folder))


def _format_eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(seconds))) if math.isfinite(seconds) else "?"


class RunLogger:
    """Progress and metrics of one training (or test) run."""

    def __init__(self, work_dir: str | Path | None, enabled: bool, interval: int = LOG_INTERVAL,
                 max_epochs: int = 1, epoch_length: int = 1, start_iter: int = 0,
                 progress_bar: bool | None = None):
        self.enabled = enabled
        self.interval = max(int(interval), 1)
        self.max_epochs, self.epoch_length = max_epochs, epoch_length
        self.total_iters = max_epochs * epoch_length
        self.start_iter = start_iter
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self._window: dict[str, list[float]] = defaultdict(list)
        self._started = time.perf_counter()
        self._jsonl = None
        self.tensorboard = None
        self.bar = None
        if not enabled:
            return
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(self.work_dir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115
            self.tensorboard = _tensorboard_writer(self.work_dir / "tensorboard")
        if progress_bar is None:
            progress_bar = sys.stderr.isatty()
        if progress_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total_iters, initial=start_iter, unit="it",
                            dynamic_ncols=True, file=sys.stderr)

    # -- output channels --------------------------------------------------------------------
    def info(self, text: str) -> None:
        """A line for the user (printed above the progress bar when there is one)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def record(self, entry: Mapping[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` and mirror numbers to TensorBoard."""
        if not self.enabled:
            return
        if self._jsonl is not None:
            try:
                self._jsonl.write(json.dumps(dict(entry)) + "\n")
                self._jsonl.flush()
            except OSError as exc:  # a full disk: say so; checkpoints are written atomically
                raise PosemixError(f"{self.work_dir / METRICS_FILE}: could not be written "
                                   f"({exc.strerror or exc}); the checkpoints written so far "
                                   f"are intact") from exc
        if self.tensorboard is not None:
            step = int(entry.get("iter", 0))
            for key, value in entry.items():
                if key not in ("mode", "epoch", "iter") and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(f"{entry['mode']}/{key}", value, step)

    # -- events -----------------------------------------------------------------------------
    def train_iter(self, epoch: int, inner_iter: int, global_iter: int, lr: float,
                   values: Mapping[str, float], iter_time: float, data_time: float) -> None:
        """After a training iteration: ``epoch`` 0-based, ``inner_iter`` 0-based in the epoch,
        ``global_iter`` the number of iterations done. Logs window means every ``interval``
        iterations and at the end of each epoch."""
        if not self.enabled:
            return
        for key, value in values.items():
            self._window[key].append(float(value))
        self._window["time"].append(iter_time)
        self._window["data_time"].append(data_time)
        if self.bar is not None:
            self.bar.set_description(f"epoch {epoch + 1}/{self.max_epochs}", refresh=False)
            self.bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4g}",
                                 lr=f"{lr:.3g}", refresh=False)
            self.bar.update(1)
        if (inner_iter + 1) % self.interval and inner_iter + 1 != self.epoch_length:
            return
        means = {k: float(np.mean(v)) for k, v in self._window.items()}
        self._window.clear()
        entry = {"mode": "train", "epoch": epoch + 1, "iter": global_iter,
                 "epoch_iter": inner_iter + 1, "lr": lr, **means}
        self.record(entry)
        if self.bar is None:
            elapsed = time.perf_counter() - self._started
            done = global_iter - self.start_iter
            eta = elapsed / done * (self.total_iters - global_iter) if done else math.inf
            shown = "  ".join(f"{k}: {v:.4g}" for k, v in means.items())
            self.info(f"epoch {epoch + 1}/{self.max_epochs} iter {inner_iter + 1}/"
                      f"{self.epoch_length}  lr: {lr:.4g}  {shown}  eta: {_format_eta(eta)}")

    def evaluation(self, mode: str, epoch: int, global_iter: int,
                   metrics: Mapping[str, float], notes: Sequence[str] = ()) -> None:
        """After validation (``mode='val'``) or a test run (``'test'``); ``notes`` (the
        evaluator's: which keypoints a partial source is not scored on) are kept in the
        record and shown under the metrics."""
        self.record({"mode": mode, "epoch": epoch, "iter": global_iter,
                     **{k: float(v) for k, v in metrics.items()},
                     **({"notes": list(notes)} if notes else {})})
        shown = "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items())
        self.info(f"{mode} after epoch {epoch}: {shown or '(no metrics)'}"
                  + "".join(f"\n  {note}" for note in notes))

    def close(self) -> None:
        """Finish the bar, close the files, and draw the curves of everything logged."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self._jsonl is not None:
            self._jsonl.close()
            records = read_records(self.work_dir / METRICS_FILE)
            if any(r.get("mode") == "train" for r in records):
                draw_curves(records, self.work_dir / CURVES_FILE)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a line cut short by a crash is skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


# -- curves -------------------------------------------------------------------------------
_PANEL_W, _PANEL_H = 640, 420
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 70, 20, 40, 50
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _range(values: Sequence[float], margin: float) -> tuple[float, float]:
    """[min, max] widened by ``margin`` of its length (a single value gets room around it)."""
    lo, hi = float(min(values)), float(max(values))
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * margin
    return lo - pad, hi + pad


def _panel(title: str, x_label: str,
           series: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> np.ndarray:
    """One white panel with axes, min/max ticks and a polyline (plus legend) per series."""
    img = np.full((_PANEL_H, _PANEL_W, 3), 255, np.uint8)
    cv2.putText(img, title, (_MARGIN_L, 26), _FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    x0, x1 = _MARGIN_L, _PANEL_W - _MARGIN_R
    y0, y1 = _PANEL_H - _MARGIN_B, _MARGIN_T
    cv2.rectangle(img, (x0, y1), (x1, y0), (0, 0, 0), 1)
    points = [(x, y) for _, xs, ys in series for x, y in zip(xs, ys, strict=True)
              if math.isfinite(y)]
    if not points:
        cv2.putText(img, "no data", (x0 + 20, (y0 + y1) // 2), _FONT, 0.6, (120, 120, 120), 1,
                    cv2.LINE_AA)
        return img
    xmin, xmax = _range([p[0] for p in points], 0.0)
    ymin, ymax = _range([p[1] for p in points], 0.05)

    def to_px(x: float, y: float) -> tuple[int, int]:
        return (int(round(x0 + (x - xmin) / (xmax - xmin) * (x1 - x0))),
                int(round(y0 - (y - ymin) / (ymax - ymin) * (y0 - y1))))

    small = 0.4
    for value, pos in ((ymax, y1 + 10), (ymin, y0)):
        cv2.putText(img, f"{value:.4g}", (4, pos), _FONT, small, (0, 0, 0), 1, cv2.LINE_AA)
    for value, pos in ((xmin, x0), (xmax, x1 - 40)):
        cv2.putText(img, f"{value:.4g}", (pos, y0 + 18), _FONT, small, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, x_label, ((x0 + x1) // 2 - 20, y0 + 38), _FONT, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    for i, (name, xs, ys) in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        pts = np.array([to_px(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)],
                       np.int32)
        if len(pts) == 1:
            cv2.circle(img, tuple(int(v) for v in pts[0]), 3, color, -1, cv2.LINE_AA)
        elif len(pts):
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, color, 1, cv2.LINE_AA)
        if len(series) > 1:
            cv2.putText(img, name, (x1 - 170, y1 + 18 + 16 * i), _FONT, small, color, 1,
                        cv2.LINE_AA)
    return img


def draw_curves(records: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Training loss against iterations and validation metrics against epochs, side by side
    in one PNG (OpenCV drawing, no plotting library)."""
    train = [r for r in records if r.get("mode") == "train" and "loss" in r]
    val = [r for r in records if r.get("mode") == "val"]
    loss = [("loss", [r["iter"] for r in train], [r["loss"] for r in train])]
    names: list[str] = []
    for r in val:
        names += [k for k, v in r.items() if k not in ("mode", "epoch", "iter")
                  and isinstance(v, (int, float)) and k not in names]
    metrics = [(n, [r["epoch"] for r in val if n in r], [r[n] for r in val if n in r])
               for n in names[:_MAX_CURVES]]
    img = np.concatenate([_panel("training loss", "iteration", loss),
                          _panel("validation", "epoch", metrics)], axis=1)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")
