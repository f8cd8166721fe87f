"""Distributed training on CPU (gloo): two processes hold identical weights, match one
process over the same global batch, gather validation predictions once each, and
``python -m posemix train`` works under torchrun with rank 0 alone writing files.

Why the two runs agree: DefaultSampler shuffles the same permutation on every rank (from
(seed, epoch)) and gives rank r the samples r, r+2, ..., so a step's two per-rank batches
of 2 hold exactly the single process's batch of 4. DDP averages the two per-rank gradients
of mean losses, which equals the gradient of the mean over all 4 samples, so the updates
agree up to float summation order. The toy model has no BatchNorm on purpose: BN would
normalise each rank's 2 samples with their own statistics (not the 4-sample batch's) and
the runs would differ by design, short of SyncBatchNorm.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_engine import records, toy_cfg

from posemix.engine import Runner, load_checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DIST_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg(batch_size: int):
    return toy_cfg(max_epochs=2, batch_size=batch_size, num_samples=16, val_values=[0.5])


def _worker(rank: int, world_size: int, port: int, out_dir: str, cfg=None) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = _cfg(batch_size=2) if cfg is None else cfg
    runner = Runner(cfg, work_dir=out_dir, device="cpu", progress_bar=False)
    finished = False
    try:
        metrics = runner.train()
        torch.save({"state_dict": runner.state.module.state_dict(), "metrics": metrics},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        finished = True
    finally:  # as posemix.engine.runner.train: ranks leave the group together
        runner.close(synchronize=finished)


def _one_process(cfg, work_dir) -> Runner:
    """The same training in a single process, for comparison."""
    runner = Runner(cfg, work_dir=work_dir, device="cpu", progress_bar=False)
    try:
        runner.train()
    finally:
        runner.close()
    return runner


def test_two_gloo_processes_match_one_process(tmp_path, monkeypatch):
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in ranks[0]["state_dict"].items():  # DDP keeps the replicas bitwise equal
        assert torch.equal(value, ranks[1]["state_dict"][key]), key
    # the 5 validation samples (split 3 + 2 over the ranks) were gathered and scored once,
    # and both ranks got the metrics
    expected = {"coco/AP": 0.5, "coco/count": 5.0, "coco/unique": 5.0}
    assert ranks[0]["metrics"] == ranks[1]["metrics"] == expected

    single = _one_process(_cfg(batch_size=4), tmp_path / "single")
    ddp_ckpt = load_checkpoint(tmp_path / "ddp" / "epoch_2.pth")  # written by rank 0
    assert ddp_ckpt["iteration"] == 8  # 16 samples / (2 ranks x 2) per step, 2 epochs
    for key, value in single.state.module.state_dict().items():
        torch.testing.assert_close(ranks[0]["state_dict"][key], value, rtol=1e-4, atol=1e-6)
        assert torch.equal(ddp_ckpt["state_dict"][key], ranks[0]["state_dict"][key])


def test_multi_source_sampler_on_two_gloo_ranks_matches_one_process(tmp_path, monkeypatch):
    """MultiSourceSampler gives rank r the batches r, r+2, ... of one global draw, each
    2 COCO + 2 AIC; a step's two per-rank batches hold the single process's batch of
    4 + 4 (the same per-source streams), so the runs agree as DefaultSampler's do."""
    from test_kill_resume import multi_source_cfg

    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), multi_source_cfg(4)),
             nprocs=2, join=True)
    ranks = [torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in ranks[0]["state_dict"].items():
        assert torch.equal(value, ranks[1]["state_dict"][key]), key
    single = _one_process(multi_source_cfg(8), tmp_path / "single")
    ddp_ckpt = load_checkpoint(tmp_path / "ddp" / "epoch_2.pth")
    assert ddp_ckpt["iteration"] == 6  # ceil(ceil(21 / 2 ranks) / 4) = 3 steps per epoch
    assert ddp_ckpt["sampler"] == {"seed": 3, "epoch": 1}
    for key, value in single.state.module.state_dict().items():
        torch.testing.assert_close(ranks[0]["state_dict"][key], value, rtol=1e-4, atol=1e-6)


def _ema_cfg(batch_size: int):
    cfg = _cfg(batch_size)
    cfg.custom_hooks = [dict(type="EMAHook", ema_type="ExpMomentumEMA", momentum=0.0002,
                             update_buffers=True, priority=49)]
    return cfg


def test_ema_under_ddp_averages_the_unwrapped_model(tmp_path, monkeypatch):
    """EMAHook on two ranks averages the module DDP wraps: the checkpoint's keys are the
    model's own (``module.net.0.weight``, not ``module.module.…``), and the EMA and the raw
    weights agree with one process over the same global batches."""
    for name in DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), _ema_cfg(2)), nprocs=2,
             join=True)
    _one_process(_ema_cfg(4), tmp_path / "single")
    ddp, one = (load_checkpoint(tmp_path / run / "epoch_2.pth") for run in ("ddp", "single"))
    assert set(ddp["ema_state_dict"]) == {"steps"} | {f"module.{k}" for k in ddp["state_dict"]}
    assert int(ddp["ema_state_dict"]["steps"]) == 8
    for part in ("state_dict", "ema_state_dict"):
        for key, value in one[part].items():
            torch.testing.assert_close(ddp[part][key], value, rtol=1e-4, atol=1e-6)


def test_python_m_posemix_train_under_torchrun(tmp_path):
    cfg = toy_cfg(max_epochs=2, num_samples=8, batch_size=2, val_values=[0.5])
    cfg["custom_imports"] = dict(imports=["test_engine"])  # registers the toy types
    cfg.dump(tmp_path / "toy.py")
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(REPO / "tests"), str(REPO / "src"), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={_free_port()}", "-m", "posemix", "train",
               str(tmp_path / "toy.py"), "--work-dir", str(tmp_path / "work"), "--device", "cpu"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    work = tmp_path / "work"
    assert sorted(p.name for p in work.glob("epoch_*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
    logged = records(work)  # one writer: every step once (2 iterations per epoch)
    assert [(r["mode"], r["iter"]) for r in logged] == [
        ("train", 2), ("val", 2), ("train", 4), ("val", 4)]
    assert logged[1]["coco/count"] == 5.0
