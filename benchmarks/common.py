"""What the benchmark scripts share: timing, memory readings, the figure lines they print,
and the seed's combine config pointed at the fixtures.

Every figure is one line ``name: value unit  ratio x reference [target ...: ok|MISSED]``,
so that a run's output can be read (and grepped) figure by figure.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "fixtures"
COMBINE_CONFIG = (REPO / "configs/body_2d_keypoint/topdown_heatmap/coco/"
                  "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """(the fastest of ``repeat`` wall-clock runs of ``fn`` in seconds, its last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def median_rate(runs: list[tuple[int, float]]) -> float:
    """Median of items per second over (items, seconds) runs."""
    return statistics.median(n / s for n, s in runs)


def figure(name: str, value: float, unit: str, ratio: float | None = None,
           reference: str = "", target: str = "", ok: bool | None = None) -> None:
    """Print one figure line (see the module docstring)."""
    text = f"{name}: {value:,.4g} {unit}"
    if ratio is not None:
        text += f"  {ratio:.3g} x {reference}"
    if target:
        verdict = "" if ok is None else (": ok" if ok else ": MISSED")
        text += f"  [target {target}{verdict}]"
    print(text, flush=True)


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        import psutil
    except ImportError:  # the bench extra brings psutil; /proc works on Linux without it
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return psutil.Process().memory_info().rss


def private_memory(pid: int) -> tuple[int, int]:
    """(USS, PSS) in bytes of process ``pid``: the memory it alone holds, and its share of
    the memory it shares."""
    import psutil

    info = psutil.Process(pid).memory_full_info()
    return info.uss, info.pss


def combine_config(fixture_sources: bool = True, options: list[str] | None = None) -> Any:
    """The seed's combine config, its two training sources pointed at the fixtures."""
    from posemix.api import load_config

    prefix = "train_dataloader.dataset.datasets"
    cfg_options = [
        f"{prefix}.0.data_root={FIXTURES / 'coco'}", f"{prefix}.0.ann_file=test_coco.json",
        f"{prefix}.0.data_prefix.img=",
        f"{prefix}.1.data_root={FIXTURES / 'aic'}", f"{prefix}.1.ann_file=test_aic.json",
        f"{prefix}.1.data_prefix.img=",
    ] if fixture_sources else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights for 19 keypoints
        return load_config(str(COMBINE_CONFIG), cfg_options + list(options or []))


def build_train_dataset(cfg: Any) -> Any:
    """The training dataset of ``cfg``, built as ``posemix train`` builds it."""
    from posemix.api import build_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_dataset(cfg, "train")
