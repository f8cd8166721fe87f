"""Training checkpoints: atomic writes, safe reads, rotation, best-model files, resume lookup.

Files in the work dir (mmengine's names): ``epoch_{n}.pth`` (everything needed to resume),
``last_checkpoint`` (the name of the newest one), ``best_{metric}_epoch_{n}.pth`` (weights
of the best validation score, no optimizer state). A checkpoint holds only tensors and
plain containers, so it is read with ``torch.load(weights_only=True)``: loading never runs
code from the file. Writes go to a temporary file in the same folder that is flushed,
fsynced and renamed over the target, so a crash never leaves a half-written checkpoint
under a real name.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posemix.errors import CheckpointError, ConfigError

POINTER_FILE = "last_checkpoint"
EPOCH_PATTERN = re.compile(r"^epoch_(\d+)\.pth$")
INTERRUPTED_PATTERN = re.compile(r"^iter_(\d+)\.pth$")
# What a checkpoint needs so that training can continue from it.
RESUME_KEYS = ("state_dict", "optimizer", "param_schedulers", "epoch", "iteration")


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it into place.

    A failed write (a full disk, a quota) raises CheckpointError naming the file and leaves
    the previous file under that name untouched.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) or isinstance(exc.__cause__, OSError):
            error = exc if isinstance(exc, OSError) else exc.__cause__
            raise CheckpointError(f"{target}: could not be written ({error.strerror or error}); "
                                  "the previous file under this name, if any, is unchanged"
                                  ) from exc
        raise
    _fsync_dir(target.parent)


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (tensors and plain containers only) atomically to ``path``."""
    atomic_write(path, lambda f: torch.save(dict(payload), f))


class RefusedCheckpointError(CheckpointError):
    """A PyTorch checkpoint that holds more than ``weights_only=True`` admits: not damaged,
    and a foreign (MMPose) one may still be read by models.init_weights, which admits
    numpy metadata."""


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``, to CPU), or raise CheckpointError
    naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):  # not torch.save's format: damaged or foreign
            raise _unreadable(path, exc) from exc
        raise RefusedCheckpointError(
            f"{path}: refused to load: posemix reads checkpoints with "
            f"torch.load(weights_only=True), and this file holds more than tensors and plain "
            f"containers ({_torch_reason(exc)})") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        raise _unreadable(path, exc) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not a checkpoint dict")
    return data


def contents_if_posemix(path: str | os.PathLike) -> dict[str, Any]:
    """``load_checkpoint(path)``, or {} for an intact foreign (MMPose) checkpoint that
    ``weights_only`` refuses and models.init_weights reads itself; a damaged file, an ONNX
    export or a missing one still raises CheckpointError."""
    try:
        return load_checkpoint(path)
    except RefusedCheckpointError:
        return {}


def is_onnx_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ONNX model: named ``.onnx``, or, where onnx is installed, a
    file that parses as an ONNX graph whatever its name. So a command can tell an export
    passed for a checkpoint apart from a damaged checkpoint, and ``infer`` run one."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    if not path.is_file() or zipfile.is_zipfile(path):  # torch.save's format
        return False
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        return False
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except (DecodeError, OSError, ValueError):
        return False
    return len(graph.node) > 0  # junk that happens to parse has no nodes


def _torch_reason(exc: BaseException) -> str:
    """torch's reason for a failed load, without its advice to load with weights_only=False
    (posemix never does)."""
    text = str(exc).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
    return text[:300]


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    if is_onnx_file(path):
        return CheckpointError(f"{path}: this is an ONNX export, not a training checkpoint; "
                               f"pass the .pth it was exported from ('posemix infer' runs "
                               f"ONNX exports directly)")
    return CheckpointError(f"{path}: not a readable PyTorch checkpoint ({path.stat().st_size} "
                           f"bytes; truncated or corrupt?): {type(exc).__name__}: "
                           f"{_torch_reason(exc)}")


def check_resumable(ckpt: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError unless ``ckpt`` carries what resuming training needs."""
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: cannot resume training from it: it lacks "
                              f"{', '.join(missing)} (a best-model or foreign checkpoint?); "
                              f"use load_from=... to start a new run from its weights")


# -- random number generator states ---------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states as tensors and lists."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() \
            and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- files in the work dir ------------------------------------------------------------------
def epoch_checkpoints(work_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every ``epoch_{n}.pth`` in ``work_dir``, newest first."""
    folder = Path(work_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := EPOCH_PATTERN.match(p.name)) and p.is_file()]
    return sorted(found, reverse=True)


def read_pointer(work_dir: str | os.PathLike) -> Path | None:
    """The checkpoint ``last_checkpoint`` names (relative names resolve in ``work_dir``)."""
    pointer = Path(work_dir) / POINTER_FILE
    if not pointer.is_file():
        return None
    text = pointer.read_text(encoding="utf-8").strip()
    if not text:
        return None
    path = Path(text)
    return path if path.is_absolute() else Path(work_dir) / path


def find_resume_checkpoint(work_dir: str | os.PathLike
                           ) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint in ``work_dir`` and its contents, or None.

    ``last_checkpoint`` is tried first, then ``epoch_{n}.pth`` from the highest n down; a
    checkpoint that cannot be read (a crash while the disk filled up, a copy cut short) is
    skipped with a warning naming it and the reason.
    """
    candidates: list[Path] = []
    pointed = read_pointer(work_dir)
    if pointed is not None:
        candidates.append(pointed)
    candidates += [p for _, p in epoch_checkpoints(work_dir) if p not in candidates]
    problems = []
    for path in candidates:
        try:
            ckpt = load_checkpoint(path)
            check_resumable(ckpt, path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        if problems:
            warnings.warn(f"resuming from {path}, the newest usable checkpoint; skipped: "
                          + "; ".join(problems), stacklevel=2)
        return path, ckpt
    if problems:
        raise CheckpointError(f"no usable checkpoint in {work_dir}: " + "; ".join(problems))
    return None


def best_or_last_checkpoint(work_dir: str | os.PathLike) -> Path:
    """The best-model file that the newest checkpoint records, else that checkpoint: the
    model a finished run stands for (names are not compared: epoch_10 sorts before epoch_9).
    """
    found = find_resume_checkpoint(work_dir)
    if found is None:
        raise CheckpointError(f"no checkpoint in {work_dir}")
    path, ckpt = found
    best = (ckpt.get("best") or {}).get("file")
    if best and (Path(work_dir) / best).is_file():
        return Path(work_dir) / best
    return path


def infer_rule(metric: str) -> str:
    """'less' for metrics where lower is better (losses, errors), else 'greater'."""
    lowered = metric.lower()
    return "less" if any(w in lowered for w in ("loss", "error", "epe", "nme")) else "greater"


@dataclass
class CheckpointPolicy:
    """``default_hooks.checkpoint``: when to save, how many to keep, which metric is best."""

    interval: int = 1
    max_keep_ckpts: int = -1
    save_last: bool = True
    save_begin: int = 0
    save_best: str | None = None
    rule: str | None = None
    best_score: float | None = None
    best_file: str | None = None
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> CheckpointPolicy:
        """Read MMPose's CheckpointHook settings; options posemix does not implement
        (out_dir, filename_tmpl, ...) are listed in ``ignored``."""
        cfg = dict(cfg or {})
        cfg.pop("type", None)
        if not cfg.pop("by_epoch", True):
            raise ConfigError("default_hooks.checkpoint by_epoch=False is not supported: "
                              "posemix checkpoints at the end of epochs")
        known = {"interval", "max_keep_ckpts", "save_last", "save_begin", "save_best", "rule"}
        policy = cls(**{k: v for k, v in cfg.items() if k in known},
                     ignored=sorted(set(cfg) - known))
        if not isinstance(policy.interval, int) or policy.interval == 0:
            raise ConfigError(f"default_hooks.checkpoint.interval must be a non-zero integer, "
                              f"got {policy.interval!r}")
        if policy.rule not in (None, "greater", "less"):
            raise ConfigError(f"default_hooks.checkpoint.rule must be 'greater' or 'less', "
                              f"got {policy.rule!r}")
        if policy.save_best is not None and not isinstance(policy.save_best, str):
            raise ConfigError("default_hooks.checkpoint.save_best must be one metric name "
                              f"(e.g. 'coco/AP') or 'auto', got {policy.save_best!r}")
        return policy

    def due(self, epoch: int, max_epochs: int) -> bool:
        """Whether to write ``epoch_{epoch}.pth`` after 1-based epoch ``epoch``."""
        if epoch <= self.save_begin:
            return False
        regular = self.interval > 0 and (epoch - self.save_begin) % self.interval == 0
        return regular or (self.save_last and epoch == max_epochs)

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.save_best, "score": self.best_score, "file": self.best_file}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the best-score record, unless the config now tracks another metric."""
        metric = state.get("metric")
        if self.save_best == "auto" and metric:
            self.save_best = metric
        if metric is not None and metric == self.save_best:
            self.best_score, self.best_file = state.get("score"), state.get("file")

    def best_improved(self, metrics: Mapping[str, float]) -> str | None:
        """Record ``metrics`` if they beat the best so far (strictly); returns the metric key
        when they do. ``save_best='auto'`` picks the first metric."""
        if self.save_best is None or not metrics:
            return None
        if self.save_best == "auto":
            self.save_best = next(iter(metrics))
        key = self.save_best
        if key not in metrics:
            raise ConfigError(f"default_hooks.checkpoint.save_best='{key}' is not among the "
                              f"validation metrics {sorted(metrics)}")
        score = float(metrics[key])
        rule = self.rule or infer_rule(key)
        best = self.best_score
        if best is not None and not (score > best if rule == "greater" else score < best):
            return None
        self.best_score = score
        return key


class CheckpointWriter:
    """Writes the work dir's checkpoint files (on the main process only)."""

    def __init__(self, work_dir: str | os.PathLike, policy: CheckpointPolicy):
        self.work_dir = Path(work_dir)
        self.policy = policy

    def save_epoch(self, epoch: int, payload: Mapping[str, Any]) -> Path:
        """Write ``epoch_{epoch}.pth``, point ``last_checkpoint`` at it, drop old ones."""
        path = self.work_dir / f"epoch_{epoch}.pth"
        save_checkpoint(path, payload)
        atomic_write(self.work_dir / POINTER_FILE, lambda f: f.write(path.name.encode()))
        for stale in self.work_dir.glob("iter_*.pth"):
            if INTERRUPTED_PATTERN.match(stale.name):
                stale.unlink(missing_ok=True)
        for cut_short in self.work_dir.glob(".*.tmp"):  # left by a killed process
            if cut_short.name.split(".")[-2] != str(os.getpid()):
                cut_short.unlink(missing_ok=True)
        self._prune(epoch)
        return path

    def save_interrupted(self, iteration: int, payload: Mapping[str, Any]) -> Path:
        """Write ``iter_{iteration}.pth`` (a run stopped mid-epoch) and point
        ``last_checkpoint`` at it; the next epoch checkpoint supersedes and deletes it."""
        path = self.work_dir / f"iter_{iteration}.pth"
        save_checkpoint(path, payload)
        atomic_write(self.work_dir / POINTER_FILE, lambda f: f.write(path.name.encode()))
        return path

    def save_best(self, epoch: int, metric: str, payload: Mapping[str, Any]) -> Path:
        """Write ``best_{metric}_epoch_{epoch}.pth`` and delete the previous best file."""
        name = f"best_{metric.replace('/', '_')}_epoch_{epoch}.pth"
        path = self.work_dir / name
        save_checkpoint(path, payload)
        previous = self.policy.best_file
        if previous and previous != name:
            (self.work_dir / previous).unlink(missing_ok=True)
        self.policy.best_file = name
        return path

    def _prune(self, epoch: int) -> None:
        """Keep the newest ``max_keep_ckpts`` epoch checkpoints up to ``epoch``."""
        keep = self.policy.max_keep_ckpts
        if keep is None or keep <= 0:
            return
        older = [p for n, p in epoch_checkpoints(self.work_dir) if n <= epoch]
        for path in older[keep:]:
            path.unlink(missing_ok=True)
