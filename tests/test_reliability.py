"""Reliability of training runs.

Crash safety: SIGKILL at random iterations and inside checkpoint writes, SIGTERM/SIGINT
pre-emption, a full disk; each interrupted run, resumed, must end bitwise equal to an
uninterrupted one (CPU, same seed). Training runs use test_engine's toy config (12 samples,
batches of 4: 3 iterations per epoch, 4 epochs, a checkpoint every epoch). Also: unreadable
images skipped, listed and bounded; config errors before any annotation is read; a dead or
frozen gloo rank ends the other with an error instead of a hang.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_engine import EngineToyModel, assert_same_tensors, records, toy_cfg

from posemix.engine import load_checkpoint, train
from posemix.engine.checkpoint import epoch_checkpoints, read_pointer
from posemix.errors import CheckpointError, ConfigError, PosemixError

TESTS = Path(__file__).resolve().parent
MAX_EPOCHS, ITERS_PER_EPOCH = 4, 3
FINAL = f"epoch_{MAX_EPOCHS}.pth"
RESUME_KEYS = ("state_dict", "optimizer", "param_schedulers", "sampler", "rng")

# Runs one training in a fresh interpreter. At the n-th forward pass of this process the
# model sends itself SIG (SIGKILL: a crash mid-step; SIGTERM: pre-emption), or at the n-th
# checkpoint rename it is SIGKILLed after the temporary file was written and fsynced.
CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_engine, test_reliability
from posemix.engine import train

mode, n, work_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = [0]
if mode == "write":
    replace = os.replace
    def killing_replace(src, dst):
        if str(dst).endswith(".pth"):
            calls[0] += 1
            if calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst)
    os.replace = killing_replace
elif mode != "none":
    loss = test_engine.EngineToyModel.loss
    def signalled_loss(self, inputs, targets):
        calls[0] += 1
        if calls[0] == n:
            if mode == "SIGTERM-group":  # as `timeout` and cluster schedulers do
                os.killpg(0, signal.SIGTERM)
            else:
                os.kill(os.getpid(), getattr(signal, mode))
        return loss(self, inputs, targets)
    test_engine.EngineToyModel.loss = signalled_loss
cfg = test_reliability.run_cfg()
if mode == "SIGTERM-group":
    cfg.train_dataloader.num_workers = 1
train(cfg, work_dir=work_dir, resume=True)
"""


def run_cfg():
    """The toy run, logging every iteration's own loss (no averaging window that a resume
    would cut short)."""
    return toy_cfg(max_epochs=MAX_EPOCHS,
                   default_hooks=dict(logger=dict(type="LoggerHook", interval=1),
                                      checkpoint=dict(type="CheckpointHook", interval=1)))


def run_child(work_dir: Path, mode: str = "none", n: int = 0) -> subprocess.CompletedProcess:
    """The child in a process group of its own, which 'SIGTERM-group' signals whole."""
    script = CHILD.format(tests=str(TESTS))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", script, mode, str(n), str(work_dir)],
                          env=env, capture_output=True, text=True, timeout=120,
                          start_new_session=True)


@pytest.fixture(autouse=True)
def _one_thread():
    """In-process runs use one thread, as the child processes do (OMP_NUM_THREADS=1), so
    that runs compared bitwise sum floats in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted reference run, in a child process like the interrupted runs (the
    same thread count: a different one may change float summation order)."""
    work_dir = tmp_path_factory.mktemp("straight")
    done = run_child(work_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    return work_dir


def assert_same_run(straight: Path, resumed: Path) -> None:
    """Same final state, and every iteration (the last time it ran) logged the same lr and
    loss: an epoch redone after a crash is redone exactly."""
    a, b = load_checkpoint(straight / FINAL), load_checkpoint(resumed / FINAL)
    for key in RESUME_KEYS:
        assert_same_tensors(a[key], b[key])
    assert (b["epoch"], b["iteration"]) == (MAX_EPOCHS, MAX_EPOCHS * ITERS_PER_EPOCH)

    def trace(work_dir: Path) -> dict[int, tuple[float, float]]:
        return {r["iter"]: (r["lr"], r["loss"]) for r in records(work_dir)
                if r["mode"] == "train"}

    assert list(trace(resumed)) == list(range(1, MAX_EPOCHS * ITERS_PER_EPOCH + 1))
    assert trace(straight) == trace(resumed)


def assert_only_complete_checkpoints(work_dir: Path) -> None:
    """Every checkpoint under a real name loads, and last_checkpoint names one of them."""
    for _, path in epoch_checkpoints(work_dir):
        load_checkpoint(path)
    pointed = read_pointer(work_dir)
    assert pointed is None or load_checkpoint(pointed)["epoch"] >= 1


@pytest.mark.slow
def test_sigkill_at_random_iterations_and_inside_checkpoint_writes(straight, tmp_path):
    total = MAX_EPOCHS * ITERS_PER_EPOCH
    draw = random.Random(2026)
    plan = [("SIGKILL", draw.randint(1, ITERS_PER_EPOCH)),  # before the first checkpoint
            ("write", 2),  # killed between writing epoch_2.pth's temp file and the rename
            ("SIGKILL", draw.randint(2, total // 2)),
            ("write", 1),
            ("SIGKILL", draw.randint(1, ITERS_PER_EPOCH))]
    work_dir = tmp_path / "killed"
    survived = []
    for mode, n in plan:
        before = [e for e, _ in epoch_checkpoints(work_dir)]
        done = run_child(work_dir, mode, n)
        assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
        survived.append((mode, n))
        assert_only_complete_checkpoints(work_dir)
        after = [e for e, _ in epoch_checkpoints(work_dir)]
        if mode == "write":  # the n-th checkpoint of this run was cut short: it never appears
            cut = max(before, default=0) + n
            assert after[0] == cut - 1 and cut not in after, (before, after, cut)
            assert list(work_dir.glob(".epoch_*.tmp"))  # the temp file is what was cut short
    done = run_child(work_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(survived) == len(plan) == 5
    assert not list(work_dir.glob(".*.tmp"))  # the cut-short files were cleaned up
    assert_same_run(straight, work_dir)


@pytest.mark.slow
def test_sigterm_finishes_the_step_checkpoints_and_exits_cleanly(straight, tmp_path):
    work_dir = tmp_path / "preempted"
    done = run_child(work_dir, "SIGTERM", 5)  # during iteration 5 (epoch 2, 2nd batch)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped by signal 15 after iteration 5" in done.stdout
    assert read_pointer(work_dir) == work_dir / "iter_5.pth"
    ckpt = load_checkpoint(work_dir / "iter_5.pth")
    assert (ckpt["epoch"], ckpt["iteration"], ckpt["inner"]) == (1, 5, 2)
    done = run_child(work_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from" in done.stdout and "iter_5.pth" in done.stdout
    assert not list(work_dir.glob("iter_*.pth"))  # superseded by the next epoch checkpoint
    assert_same_run(straight, work_dir)


@pytest.mark.slow
def test_sigterm_to_the_process_group_spares_the_data_workers(straight, tmp_path):
    """A scheduler signals the run and its DataLoader workers together: the workers ignore
    it, so the step in progress still finishes and is checkpointed."""
    work_dir = tmp_path / "preempted"
    done = run_child(work_dir, "SIGTERM-group", 5)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped by signal 15 after iteration 5" in done.stdout
    assert "DataLoader worker" not in done.stderr
    assert read_pointer(work_dir) == work_dir / "iter_5.pth"
    done = run_child(work_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(straight, work_dir)


def test_data_workers_ignore_sigterm():
    """What spares them above, checked directly: the worker init ignores SIGTERM."""
    script = ("import signal; from posemix.data.loader import seed_worker; "
              "seed_worker(0, seed=0, rank=0, num_workers=1); "
              "print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "True", done.stderr


@pytest.mark.parametrize("interval, said", [
    (1, "stopped by signal 2 after epoch 1; continue with --resume"),
    (2, "stopped by signal 2 after epoch 1; saved {work}/iter_3.pth; continue with --resume"),
])
def test_a_stop_at_an_epoch_end_is_said_once(tmp_path, monkeypatch, capsys, interval, said):
    """At the end of epoch 1 (step 3): the epoch checkpoint when one is due, else
    iter_3.pth; one line either way."""
    loss, calls = EngineToyModel.loss, []

    def interrupted_loss(self, inputs, targets):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return loss(self, inputs, targets)

    monkeypatch.setattr(EngineToyModel, "loss", interrupted_loss)
    cfg = toy_cfg(max_epochs=MAX_EPOCHS, default_hooks=dict(
        checkpoint=dict(type="CheckpointHook", interval=interval)))
    train(cfg, work_dir=str(tmp_path))
    lines = [line for line in capsys.readouterr().out.splitlines() if "stopped" in line]
    assert lines == [said.format(work=tmp_path)]


def test_sigint_in_process_stops_after_the_step_and_resumes_exactly(straight, tmp_path,
                                                                      monkeypatch):
    loss, calls = EngineToyModel.loss, []

    def interrupted_loss(self, inputs, targets):
        calls.append(1)
        if len(calls) in (3, 7):  # the end of epoch 1, and mid-epoch 3 on the next run
            os.kill(os.getpid(), signal.SIGINT)
        return loss(self, inputs, targets)

    monkeypatch.setattr(EngineToyModel, "loss", interrupted_loss)
    handler = signal.getsignal(signal.SIGINT)
    train(run_cfg(), work_dir=str(tmp_path))
    assert signal.getsignal(signal.SIGINT) is handler  # restored after training
    assert read_pointer(tmp_path).name == "epoch_1.pth" and len(calls) == 3
    train(run_cfg(), work_dir=str(tmp_path), resume=True)
    assert read_pointer(tmp_path).name == "iter_7.pth" and len(calls) == 7
    train(run_cfg(), work_dir=str(tmp_path), resume=True)
    assert len(calls) == MAX_EPOCHS * ITERS_PER_EPOCH
    assert_same_run(straight, tmp_path)


def test_disk_full_during_a_checkpoint_is_a_clear_error_and_keeps_the_previous(
        straight, tmp_path, monkeypatch):
    save, writes = torch.save, []

    def filling_save(obj, f):
        writes.append(1)
        if len(writes) == 3:  # epoch 3's checkpoint: the disk fills half-way
            f.write(b"PK\x03\x04" + bytes(1000))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, f)

    monkeypatch.setattr(torch, "save", filling_save)
    with pytest.raises(CheckpointError, match=r"epoch_3.pth: could not be written "
                                              r"\(No space left on device\)"):
        train(run_cfg(), work_dir=str(tmp_path))
    assert [e for e, _ in epoch_checkpoints(tmp_path)] == [2, 1]
    assert read_pointer(tmp_path).name == "epoch_2.pth"
    assert not list(tmp_path.glob(".*.tmp"))
    assert load_checkpoint(tmp_path / "epoch_2.pth")["iteration"] == 2 * ITERS_PER_EPOCH
    monkeypatch.undo()  # space freed: resuming loses nothing but the unsaved epoch
    train(run_cfg(), work_dir=str(tmp_path), resume=True)
    assert_same_run(straight, tmp_path)


def test_disk_full_while_logging_is_a_clear_error_and_keeps_the_checkpoints(tmp_path,
                                                                             monkeypatch):
    from posemix.engine.logger import RunLogger

    record, calls = RunLogger.record, []

    def filling_record(self, entry):
        calls.append(entry)
        if entry.get("mode") == "val" or len(calls) > 2 * ITERS_PER_EPOCH:
            self._jsonl.write = lambda text: (_ for _ in ()).throw(
                OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return record(self, entry)

    monkeypatch.setattr(RunLogger, "record", filling_record)
    with pytest.raises(PosemixError, match=r"metrics.jsonl: could not be written \(No space "
                                           r"left on device\); the checkpoints written so far "
                                           r"are intact"):
        train(run_cfg(), work_dir=str(tmp_path))
    assert epoch_checkpoints(tmp_path)
    for epoch, path in epoch_checkpoints(tmp_path):
        assert load_checkpoint(path)["epoch"] == epoch  # every file on disk is complete


# -- unreadable images during training ------------------------------------------------------
BROKEN = "000000040083.jpg"  # 2 of the fixture's 12 instances


def coco_run(fixtures_dir: Path, tmp_path: Path, fraction: float | None,
             num_workers: int = 0):
    """One epoch of the toy model on the 12 instances of the COCO fixture, with the image
    of instances 1 and 2 (000000040083.jpg) replaced by a broken JPEG."""
    root = tmp_path / "coco"
    shutil.copytree(fixtures_dir / "coco", root)
    (root / BROKEN).write_bytes(b"\xff\xd8 not really a JPEG")
    size = (24, 32)
    pipeline = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                dict(type="TopdownAffine", input_size=size),
                dict(type="GenerateTarget", encoder=dict(type="MSRAHeatmap", input_size=size,
                                                         heatmap_size=(6, 8), sigma=2)),
                dict(type="PackPoseInputs")]
    dataset = dict(type="CocoDataset", data_root=str(root), ann_file="test_coco.json",
                   data_prefix=dict(img=""), pipeline=pipeline, cache=False)
    train_cfg = dict(max_epochs=1)
    if fraction is not None:
        train_cfg["max_skip_fraction"] = fraction
    return toy_cfg(max_epochs=1, train_cfg=train_cfg,
                   train_dataloader=dict(batch_size=4, num_workers=num_workers,
                                         sampler=dict(type="DefaultSampler", shuffle=True),
                                         dataset=dataset))


def test_unreadable_images_are_skipped_counted_and_listed(fixtures_dir, tmp_path):
    cfg = coco_run(fixtures_dir, tmp_path, fraction=0.2, num_workers=1)
    with pytest.warns(UserWarning, match="unreadable") as caught:
        train(cfg, work_dir=str(tmp_path / "work"))
    counts = [str(w.message).split(" in epoch 1 ")[1][:24] for w in caught
              if "unreadable" in str(w.message)]
    assert counts == ["(1 of 12 samples so far)", "(2 of 12 samples so far)"]
    listed = (tmp_path / "work" / "skipped_images.txt").read_text().splitlines()
    assert len(listed) == 2  # counted in the worker, reported to the main process
    assert all(line.startswith(str(tmp_path / "coco" / BROKEN) + "\t") for line in listed)
    assert "cannot be decoded" in listed[0]
    assert load_checkpoint(tmp_path / "work" / "epoch_1.pth")["iteration"] == ITERS_PER_EPOCH


def test_too_many_unreadable_images_stop_training_with_a_clear_error(fixtures_dir, tmp_path):
    cfg = coco_run(fixtures_dir, tmp_path, fraction=None)  # default: 1% of 12 samples
    with pytest.warns(UserWarning, match="skipped"), \
            pytest.raises(PosemixError, match=r"1 of the 12 samples of epoch 1 had unreadable "
                                              r"images, more than train_cfg.max_skip_fraction="
                                              r"0.01; the files are listed in .*skipped_images"):
        train(cfg, work_dir=str(tmp_path / "work"))
    assert not list((tmp_path / "work").glob("epoch_*.pth"))


@pytest.mark.parametrize("fraction", [-0.1, 2, "1%", True])
def test_max_skip_fraction_must_be_a_fraction(fraction, fixtures_dir, tmp_path):
    with pytest.raises(ConfigError, match="max_skip_fraction must be a number in"):
        train(coco_run(fixtures_dir, tmp_path, fraction), work_dir=str(tmp_path / "work"))


# -- config errors come before any data is read ---------------------------------------------
@pytest.mark.parametrize(("override", "message"), [
    (dict(model=dict(type="TopdownPoseEstimatr")), "TopdownPoseEstimator"),
    (dict(optim_wrapper=dict(optimizer=dict(type="Adamm", lr=1e-3))), "Adamm"),
    (dict(), r"train_dataloader.dataset.ann_file: file not found: .*missing/train.json"),
    (dict(model=dict(type="TopdownPoseEstimator", backbone=dict(type="TinyResFPN", widht=3),
                     head=dict(type="HeatmapHead", in_channels=32))),
     r"model.backbone \(TinyResFPN\) has no argument 'widht'"),
    (dict(model=dict(type="TopdownPoseEstimator", backbone=dict(type="TinyResFPN"),
                     head=dict(type="HeatmapHead", in_channels=32, out_channels=19))),
     r"model.head.out_channels=19 disagrees with the training schema 'coco' \(17 keypoints\)"),
    (dict(val_cfg=dict(), val_evaluator=dict(type="PCKAccuracy"),
          val_dataloader=dict(batch_size=1, dataset=dict(
              type="CombinedDataset", metainfo=dict(from_file="coco"),
              datasets=[dict(type="CocoDataset", data_root=".", ann_file="nowhere.json")]))),
     r"val_dataloader.dataset.datasets\[0\].ann_file: file not found: ./nowhere.json"),
])
def test_config_errors_come_before_any_annotation_is_read(override, message, tmp_path,
                                                           monkeypatch):
    from posemix.data.datasets import BaseCocoStyleDataset

    def no_reading(self):
        raise AssertionError(f"{self.ann_file} was read before the config was checked")

    monkeypatch.setattr(BaseCocoStyleDataset, "load_annotations", no_reading)
    dataset = dict(type="CocoDataset", data_root=str(tmp_path / "missing"),
                   ann_file="train.json")
    if "train.json" not in message:  # the other cases have the training file
        (tmp_path / "missing").mkdir()
        (tmp_path / "missing" / "train.json").write_text("{}")
    cfg = toy_cfg(max_epochs=1, train_dataloader=dict(batch_size=2, dataset=dataset),
                  **override)
    with pytest.raises(ConfigError, match=message):
        train(cfg, work_dir=str(tmp_path / "work"))


# -- distributed: a rank that dies ----------------------------------------------------------
RANK_CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_engine
from posemix.engine import train

work_dir, fault, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
if os.environ["RANK"] == "1" and fault != "none":  # rank 1 crashes or freezes at step `at`
    loss, calls = test_engine.EngineToyModel.loss, [0]
    def dying_loss(self, inputs, targets):
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), getattr(signal, fault))
        return loss(self, inputs, targets)
    test_engine.EngineToyModel.loss = dying_loss
cfg = test_engine.toy_cfg(max_epochs=2, batch_size=2, num_samples=16,
                          env_cfg=dict(dist_cfg=dict(backend="gloo", timeout=5)))
train(cfg, work_dir=work_dir, device="cpu", resume=True)
"""


def run_ranks(work_dir: Path, fault: str = "none", at: int = 0) -> list[tuple[int, str]]:
    """Two gloo ranks (2 epochs of 4 steps of 2 samples each); (return code, stderr) of
    each, once rank 0 has ended."""
    from test_distributed import _free_port

    port, script = _free_port(), RANK_CHILD.format(tests=str(TESTS))
    ranks = []
    for rank in (0, 1):
        env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
        ranks.append(subprocess.Popen([sys.executable, "-c", script, str(work_dir), fault,
                                       str(at)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        ranks[0].communicate(timeout=90)
        if fault == "none":
            ranks[1].communicate(timeout=30)
    finally:
        for process in ranks:
            process.kill()
    return [(p.returncode, p.communicate()[1]) for p in ranks]


def assert_failed_with_traceback(code: int, stderr: str) -> None:
    """The surviving rank's collective raised in Python and the error was printed. After
    that, torch's C++ teardown of a gloo group with a dead or frozen peer now and then
    aborts the process (SIGABRT) instead of letting it exit 1: either way the rank ends,
    with the reason on stderr."""
    assert code in (1, -signal.SIGABRT), stderr[-2000:]
    assert "Traceback" in stderr, stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSTOP"])
def test_when_one_gloo_rank_dies_the_other_fails_instead_of_hanging(fault, tmp_path):
    """A killed rank closes its connections; a frozen one (SIGSTOP) does not, and only
    env_cfg.dist_cfg.timeout (5 s here, torch's default is 30 minutes) ends the wait."""
    (code, err0), _ = run_ranks(tmp_path, fault, at=2)
    assert_failed_with_traceback(code, err0)
    expected = {"SIGKILL": "Connection", "SIGSTOP": "Timed out waiting 5000ms"}[fault]
    assert expected in err0, err0[-2000:]


@pytest.mark.slow
def test_two_rank_run_resumes_after_a_rank_died(tmp_path):
    """Killed in epoch 2, both ranks resume from epoch_1.pth at the same sampler position
    and end where an unbroken 2-rank run ends."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert [code for code, _ in run_ranks(straight)] == [0, 0]
    (code, err0), _ = run_ranks(broken, "SIGKILL", at=6)
    assert_failed_with_traceback(code, err0)
    assert [e for e, _ in epoch_checkpoints(broken)] == [1]
    resumed = run_ranks(broken)
    assert [code for code, _ in resumed] == [0, 0], resumed[1][1][-1500:]
    a, b = load_checkpoint(straight / "epoch_2.pth"), load_checkpoint(broken / "epoch_2.pth")
    for key in ("state_dict", "optimizer", "sampler"):
        assert_same_tensors(a[key], b[key])
    assert b["iteration"] == 8
