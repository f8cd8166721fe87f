"""SIGKILL at the moments test_reliability does not reach, each resumed to the state of an
uninterrupted run (bitwise, CPU, same seed): while ``last_checkpoint`` is written, during
validation, and while the best-model file is saved; and MultiSourceSampler driving real
training (crop decoding, combined COCO + AIC fixtures), killed and pre-empted mid-epoch.

Runs go through the public ``train`` entry point in a fresh interpreter, as in
test_reliability; the kill is armed by wrapping ``os.replace`` (the rename that puts a
written file under its name), the metric's ``process`` (validation) or the model's loss.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_engine import EngineToyModel, assert_same_tensors, records, toy_cfg

from posemix.engine import load_checkpoint
from posemix.engine.checkpoint import read_pointer
from posemix.evaluation.base import BaseMetric
from posemix.registry import METRICS

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "data" / "fixtures"

CHILD = """
import sys
sys.path.insert(0, {tests!r})
import test_kill_resume as t
from posemix.engine import train

config, kill, n, work_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t.arm(kill, n)
train(t.CONFIGS[config](), work_dir=work_dir, resume=True)
"""


@METRICS.register()
class EngineScoreMetric(BaseMetric):
    """'AP' = the mean predicted keypoint score: a function of the weights alone, so a
    resumed run reports what an uninterrupted one does (unlike a scripted metric)."""

    def _parse(self, sample, index):
        return {"score": float(np.mean(sample["keypoint_scores"]))}

    def compute_metrics(self, results):
        return {"AP": float(np.mean([r["score"] for r in results]))}


def validated_cfg():
    """The toy run (4 epochs of 3 iterations) validated every epoch, keeping the best."""
    cfg = toy_cfg(max_epochs=4, val_values=[0.0],
                  default_hooks=dict(logger=dict(type="LoggerHook", interval=1),
                                     checkpoint=dict(type="CheckpointHook", interval=1,
                                                     save_best="coco/AP", rule="greater")))
    cfg.val_evaluator = dict(type="EngineScoreMetric")
    return cfg


def multi_source_cfg(batch_size: int = 4):
    """The COCO (12) and AIC (9 instances) fixtures in COCO's layout, batches of half COCO,
    half AIC drawn by MultiSourceSampler (batch 4: 6 iterations per epoch), 2 epochs, toy
    model."""
    size = (24, 32)
    by_name = [dict(type="KeypointConverter", mapping="by_name")]
    pipeline = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                dict(type="RandomFlip", direction="horizontal"),
                dict(type="RandomBBoxTransform"),
                dict(type="TopdownAffine", input_size=size),
                dict(type="GenerateTarget", encoder=dict(type="MSRAHeatmap", input_size=size,
                                                         heatmap_size=(6, 8), sigma=2)),
                dict(type="PackPoseInputs")]
    dataset = dict(type="CombinedDataset", metainfo="coco", pipeline=pipeline,
                   datasets=[dict(type="CocoDataset", data_root=str(FIXTURES / "coco"),
                                  ann_file="test_coco.json", pipeline=by_name, cache=False),
                             dict(type="AicDataset", data_root=str(FIXTURES / "aic"),
                                  ann_file="test_aic.json", pipeline=by_name, cache=False)])
    return toy_cfg(max_epochs=2, default_hooks=dict(
        logger=dict(type="LoggerHook", interval=1),
        checkpoint=dict(type="CheckpointHook", interval=1)),
        train_dataloader=dict(batch_size=batch_size, num_workers=0, dataset=dataset,
                              sampler=dict(type="MultiSourceSampler", batch_size=batch_size,
                                           source_ratio=[1, 1])))


def ema_cfg():
    """The validated run with RTMPose's EMAHook: validation, best files and checkpoints on
    the EMA weights."""
    cfg = validated_cfg()
    cfg.custom_hooks = [dict(type="EMAHook", ema_type="ExpMomentumEMA", momentum=0.0002,
                             update_buffers=True, priority=49)]
    return cfg


CONFIGS = {"validated": validated_cfg, "multi_source": multi_source_cfg, "ema": ema_cfg}


def arm(kill: str, n: int) -> None:
    """SIGKILL this process at the n-th event of kind ``kill``: 'pointer' / 'best' (before
    the rename of last_checkpoint / a best-model file, its temporary file written),
    'after-best' (right after that rename), 'validation' (a metric's process call),
    'SIGKILL' / 'SIGTERM' (sent at the n-th loss, i.e. training step)."""
    calls = [0]

    def count() -> bool:
        calls[0] += 1
        return calls[0] == n

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if kill in ("pointer", "best", "after-best"):
        replace = os.replace

        def killing_replace(src, dst):
            name = Path(dst).name
            hit = name == "last_checkpoint" if kill == "pointer" else name.startswith("best_")
            if hit and count() and kill != "after-best":
                die()
            replace(src, dst)
            if hit and kill == "after-best" and calls[0] == n:
                die()

        os.replace = killing_replace
    elif kill == "validation":
        process = EngineScoreMetric.process

        def killing_process(self, predictions):
            if count():
                die()
            process(self, predictions)

        EngineScoreMetric.process = killing_process
    elif kill in ("SIGKILL", "SIGTERM"):
        loss = EngineToyModel.loss

        def signalled_loss(self, inputs, targets):
            if count():
                os.kill(os.getpid(), getattr(signal, kill))
            return loss(self, inputs, targets)

        EngineToyModel.loss = signalled_loss


def run_child(config: str, work_dir: Path, kill: str = "none", n: int = 0):
    script = CHILD.format(tests=str(TESTS))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", script, config, kill, str(n), str(work_dir)],
                          env=env, capture_output=True, text=True, timeout=180)


def finished(config: str, work_dir: Path, kills: list[tuple[str, int]]) -> Path:
    """Run ``config`` in ``work_dir`` once per kill (each must die by it), then to the end."""
    for kill, n in kills:
        done = run_child(config, work_dir, kill, n)
        expected = 0 if kill == "SIGTERM" else -signal.SIGKILL
        assert done.returncode == expected, (kill, n, done.stderr[-2000:])
    done = run_child(config, work_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    return work_dir


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> dict[str, Path]:
    """The uninterrupted runs, in child processes like the interrupted ones."""
    return {name: finished(name, tmp_path_factory.mktemp(name), []) for name in CONFIGS}


def assert_same_final_state(straight: Path, resumed: Path, final: str) -> None:
    """The final checkpoint (weights, optimizer, schedulers, sampler, generators, best
    record), the best-model files, and every iteration's and validation's last logged
    values equal those of the uninterrupted run."""
    a, b = load_checkpoint(straight / final), load_checkpoint(resumed / final)
    for key in ("state_dict", "optimizer", "param_schedulers", "sampler", "rng", "best",
                "epoch", "iteration", "ema_state_dict"):
        assert_same_tensors(a.get(key), b.get(key))
    best = sorted(p.name for p in straight.glob("best_*.pth"))
    assert sorted(p.name for p in resumed.glob("best_*.pth")) == best
    for name in best:
        assert_same_tensors(load_checkpoint(straight / name)["state_dict"],
                            load_checkpoint(resumed / name)["state_dict"])
    assert not list(resumed.glob(".*.tmp"))
    assert read_pointer(resumed) == resumed / final

    def trace(work_dir: Path) -> dict:
        return {(r["mode"], r["iter"]): {k: v for k, v in r.items() if k not in ("time",
                                                                             "data_time")}
                for r in records(work_dir)}

    assert trace(resumed) == trace(straight)


def test_the_validated_run_improves_its_best_more_than_once(straight):
    """What the kills below rely on: several best-model saves (the first is not the last)."""
    val = [r["coco/AP"] for r in records(straight["validated"]) if r["mode"] == "val"]
    assert len(val) == 4
    improvements = sum(v > max(val[:i], default=-np.inf) for i, v in enumerate(val))
    assert improvements >= 2, val
    assert len(list(straight["validated"].glob("best_*.pth"))) == 1


@pytest.mark.parametrize("kills", [
    # last_checkpoint of epoch 3 never renamed into place; then again, on the redo
    [("pointer", 3), ("pointer", 1)],
    # validating epoch 1 (no checkpoint yet); then validating epoch 2 (epoch_1.pth there)
    [("validation", 1), ("validation", 2)],
    # the second best-model file cut short; on the redo, killed right after its rename,
    # before the previous best file was deleted and the epoch checkpoint written
    [("best", 2), ("after-best", 1)],
], ids=lambda kills: "+".join(f"{k}{n}" for k, n in kills))
def test_sigkill_while_checkpointing_or_validating_resumes_exactly(kills, straight, tmp_path):
    resumed = finished("validated", tmp_path / "run", kills)
    assert_same_final_state(straight["validated"], resumed, "epoch_4.pth")


def test_multi_source_sampler_trains_killed_and_preempted_mid_epoch(straight, tmp_path):
    """Pre-empted (SIGTERM) at step 3, then killed at step 5 of the resumed process (step 8
    overall: mid-epoch 2, back to epoch_1.pth): the same run as an unbroken one."""
    ckpt = load_checkpoint(straight["multi_source"] / "epoch_2.pth")
    assert ckpt["iteration"] == 12  # ceil(21 / 4) = 6 batches of 2 COCO + 2 AIC per epoch
    resumed = finished("multi_source", tmp_path / "run", [("SIGTERM", 3), ("SIGKILL", 5)])
    assert_same_final_state(straight["multi_source"], resumed, "epoch_2.pth")


def test_ema_run_preempted_and_killed_while_validating_resumes_exactly(straight, tmp_path):
    """With EMAHook: pre-empted (SIGTERM) mid-epoch 2, then killed while validating epoch 3
    of the resumed process: the EMA (ema_state_dict), the EMA-weighted state_dict, the
    best-model files and the logged validations equal an unbroken run's."""
    ckpt = load_checkpoint(straight["ema"] / "epoch_4.pth")
    assert int(ckpt["ema_state_dict"]["steps"]) == 12
    resumed = finished("ema", tmp_path / "run", [("SIGTERM", 5), ("validation", 2)])
    assert_same_final_state(straight["ema"], resumed, "epoch_4.pth")
