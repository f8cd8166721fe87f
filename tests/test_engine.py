"""Training engine: lr schedules against hand-computed values, checkpoints (atomic writes,
corrupt files, fallback, pruning, best model), exact resume, gradient clipping,
auto_scale_lr and the run logs, on a tiny synthetic dataset and a 2-layer conv model."""

from __future__ import annotations

import json
import math
import random
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from posemix.config import Config
from posemix.engine import (
    CheckpointPolicy,
    build_schedulers,
    find_resume_checkpoint,
    load_checkpoint,
    save_checkpoint,
    step_schedulers,
    train,
)
from posemix.engine import (
    test as run_test,
)
from posemix.engine.checkpoint import rng_state, set_rng_state
from posemix.engine.loops import EpochBasedTrainLoop
from posemix.engine.optim import OptimizerStep, build_optimizer, parse_optim_wrapper, scale_lr
from posemix.engine.runner import Runner
from posemix.errors import CheckpointError, ConfigError, PosemixError
from posemix.evaluation.base import BaseMetric
from posemix.keypoints import load_schema
from posemix.models.builder import build_model
from posemix.registry import DATASETS, METRICS, MODELS

H, W, STRIDE = 32, 24, 4  # input crop (h, w) and heatmap stride


# -- tiny synthetic data, model and metric ------------------------------------------------
@DATASETS.register()
class EngineToyDataset:
    """Packed samples in posemix's format: fixed GT per index, plus pixel noise drawn from
    (seed, epoch, index) like an augmentation, so epochs and seeds matter."""

    def __init__(self, num_samples: int = 12, nan_targets: bool = False, seed: int = 0):
        self.schema = load_schema("coco")
        self.num_samples, self.nan_targets = num_samples, nan_targets
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        k = self.schema.num_keypoints
        gt = np.random.default_rng([7, index])
        keypoints = gt.uniform([0, 0], [W - 1, H - 1], size=(k, 2)).astype(np.float32)
        image = gt.integers(0, 200, size=(3, H, W))
        noise = np.random.default_rng([self.seed, epoch, index]).integers(0, 56, size=image.shape)
        ys, xs = np.mgrid[0:H // STRIDE, 0:W // STRIDE]
        centers = keypoints / STRIDE
        heatmaps = np.exp(-((xs - centers[:, 0, None, None]) ** 2
                            + (ys - centers[:, 1, None, None]) ** 2) / 2).astype(np.float32)
        if self.nan_targets:
            heatmaps[:] = np.nan
        meta = {"id": index, "img_id": index, "dataset_name": "coco", "source_index": 0,
                "input_size": (W, H), "input_center": np.array([W / 2, H / 2]),
                "input_scale": np.array([W, H], np.float32), "bbox": np.array([0, 0, W, H]),
                "bbox_score": 1.0, "area": float(W * H), "keypoints": keypoints,
                "keypoints_visible": np.ones(k, np.float32),
                "flip_indices": list(self.schema.flip_indices)}
        return {"inputs": torch.from_numpy((image + noise).astype(np.uint8)),
                "targets": {"heatmaps": torch.from_numpy(heatmaps),
                            "keypoint_weights": torch.ones(k)},
                "meta": meta}


@MODELS.register()
class EngineToyModel(nn.Module):
    """Two stride-2 convolutions (no BatchNorm) from uint8 crops to heatmaps."""

    def __init__(self, num_keypoints: int, channels: int = 8):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.net = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(channels, num_keypoints, 3, 2, 1))

    def forward(self, inputs, targets=None, metas=None, mode="tensor"):
        if mode == "loss":
            return self.loss(inputs, targets)
        if mode == "predict":
            return self.predict(inputs, metas)
        return self.net(inputs.float() / 255)

    def loss(self, inputs, targets):
        heatmaps = self.net(inputs.float() / 255)
        weights = targets["keypoint_weights"][..., None, None]
        return {"loss_kpt": ((heatmaps - targets["heatmaps"]) ** 2 * weights).mean(),
                "acc_pose": torch.tensor(0.5)}

    @torch.no_grad()
    def predict(self, inputs, metas):
        heatmaps = self.net(inputs.float() / 255).flatten(2)
        flat = heatmaps.argmax(-1)
        width = W // STRIDE
        xy = torch.stack([flat % width, flat // width], -1).float() * STRIDE
        scores = heatmaps.amax(-1)
        return [{"keypoints": xy[i:i + 1].numpy(), "keypoint_scores": scores[i:i + 1].numpy()}
                for i in range(len(metas))]


@METRICS.register()
class EngineScriptedMetric(BaseMetric):
    """Reports the scripted ``values`` in turn as 'AP', and how many samples it saw."""

    def __init__(self, values=(0.5,), prefix=None):
        super().__init__(prefix)
        self.values, self.calls = list(values), 0

    def _parse(self, sample, index):
        return {"id": int(sample["id"])}

    def compute_metrics(self, results):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"AP": value, "count": len(results), "unique": len({r["id"] for r in results})}


def toy_cfg(max_epochs: int = 4, val_values: list[float] | None = None, batch_size: int = 4,
            num_samples: int = 12, **overrides) -> Config:
    """A complete training config over the toy types (3 iterations per epoch by default):
    warm-up over 5 iterations, halving after epoch 3, a checkpoint every epoch."""
    cfg = dict(
        model=dict(type="EngineToyModel"),
        train_dataloader=dict(
            batch_size=batch_size, num_workers=0,
            sampler=dict(type="DefaultSampler", shuffle=True),
            dataset=dict(type="EngineToyDataset", num_samples=num_samples)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=1e-2),
                           clip_grad=dict(max_norm=1.0, norm_type=2)),
        param_scheduler=[
            dict(type="LinearLR", start_factor=0.1, begin=0, end=5, by_epoch=False),
            dict(type="MultiStepLR", milestones=[3], gamma=0.5, begin=0, end=max_epochs,
                 by_epoch=True)],
        default_hooks=dict(logger=dict(type="LoggerHook", interval=2),
                           checkpoint=dict(type="CheckpointHook", interval=1)),
        randomness=dict(seed=3),
    )
    if val_values is not None:
        cfg.update(
            val_dataloader=dict(batch_size=3, num_workers=0,
                                sampler=dict(type="DefaultSampler", shuffle=False,
                                             round_up=False),
                                dataset=dict(type="EngineToyDataset", num_samples=5)),
            val_evaluator=dict(type="EngineScriptedMetric", values=val_values))
    cfg.update(overrides)
    return Config(cfg)


def records(work_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_tensors(a, b) -> None:
    """Bitwise equality of two nested structures of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_tensors(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_tensors(x, y)
    else:
        assert a == b


class Interrupted(Exception):
    """Stands for a crash (or Ctrl-C) right after an epoch's checkpoint was written."""


def interrupt_after(monkeypatch, epoch: int) -> None:
    original = EpochBasedTrainLoop.after_epoch

    def after_epoch(self, state):
        original(self, state)
        if state.epoch == epoch:
            raise Interrupted

    monkeypatch.setattr(EpochBasedTrainLoop, "after_epoch", after_epoch)


# -- learning-rate schedules ----------------------------------------------------------------
def _lr_trace(scheduler_cfg, epochs: int, epoch_length: int, lr: float = 5e-4) -> list[float]:
    """The lr each iteration trains with, stepping as the runner does."""
    optimizer = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=lr)
    schedulers = build_schedulers(scheduler_cfg, optimizer, epoch_length, epochs)
    trace = []
    for _ in range(epochs):
        for _ in range(epoch_length):
            trace.append(optimizer.param_groups[0]["lr"])
            step_schedulers(schedulers, by_epoch=False)
        step_schedulers(schedulers, by_epoch=True)
    return trace


SEED_SCHEDULE = [
    dict(type="LinearLR", begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type="MultiStepLR", begin=0, end=210, milestones=[170, 200], gamma=0.1, by_epoch=True),
]


def test_seed_config_schedule_matches_mmengine():
    # 8 GPUs x 64 on COCO: 293 iterations per epoch, so the warm-up spans epochs 0 and 1.
    lrs = _lr_trace(SEED_SCHEDULE, 210, 293)
    assert lrs[0] == 5e-4 * 0.001  # the constructor's step: iteration 0 trains with 5e-7
    assert lrs[1] == 1.501002004008016e-06  # reference §13.2
    for t in (2, 100, 292, 293, 294, 498, 499):  # closed form base·(0.001 + 0.999·t/499)
        assert lrs[t] == pytest.approx(5e-4 * (0.001 + 0.999 * t / 499), rel=1e-12)
    # the chained products, bit for bit (reference §13.2)
    assert lrs[499] == lrs[500] == lrs[170 * 293 - 1] == 0.0005000000000000014
    assert lrs[170 * 293] == lrs[200 * 293 - 1] == 5.0000000000000145e-05
    assert lrs[200 * 293] == lrs[-1] == 5.000000000000015e-06


def test_seed_schedule_on_one_gpu_warms_up_inside_epoch_0():
    lrs = _lr_trace(SEED_SCHEDULE, 3, 2341)
    assert lrs[499] == lrs[2340] == lrs[2341] == 0.0005000000000000014
    assert lrs[250] == pytest.approx(5e-4 * (0.001 + 0.999 * 250 / 499), rel=1e-12)


def test_cosine_converted_to_iterations():
    # 2 epochs of 3 iterations: T_max 2 epochs becomes 6 iterations, lr = base·(1+cos(πk/6))/2
    lrs = _lr_trace([dict(type="CosineAnnealingLR", T_max=2, eta_min=0.0, by_epoch=True,
                          begin=0, end=2, convert_to_iter_based=True)], 2, 3, lr=1.0)
    expected = [(1 + math.cos(math.pi * k / 6)) / 2 for k in range(6)]
    assert lrs == pytest.approx(expected, abs=1e-12)


def test_scheduler_default_end_is_end_of_training():
    # LinearLR without end ramps over the whole run: 4 epochs of 2 iterations → 7 steps
    lrs = _lr_trace([dict(type="LinearLR", start_factor=0.5, by_epoch=False)], 4, 2, lr=1.0)
    assert lrs == pytest.approx([0.5 + 0.5 * k / 7 for k in range(8)], abs=1e-12)


@pytest.mark.parametrize("bad, message", [
    (dict(type="LinearLR", start_factor=0.0), "start_factor"),
    (dict(type="MultiStepLR", milestones=5), "milestones"),
    (dict(type="MultiStepLR", milestones=[2], begin=3, end=3), "begin < end"),
    (dict(type="StepLRR", step_size=1), "Did you mean"),
])
def test_bad_scheduler_configs_are_config_errors(bad, message):
    with pytest.raises(ConfigError, match=message):
        _lr_trace([bad], 1, 1)


# -- optimizer, clipping, auto_scale_lr -----------------------------------------------------
def test_clip_grad_by_norm_and_by_value():
    # loss = 3·p0 + 4·p1: gradient (3, 4), norm 5
    for clip, grad in ((dict(max_norm=1.0), (0.6, 0.8)), (dict(type="value", clip_value=1.0),
                                                          (1.0, 1.0))):
        param = nn.Parameter(torch.zeros(2))
        optimizer = torch.optim.SGD([param], lr=1.0)
        _, settings = parse_optim_wrapper(dict(optimizer=dict(type="SGD", lr=1.0),
                                               clip_grad=clip))
        norm = OptimizerStep(optimizer, settings.clip_grad)((param * torch.tensor([3., 4.])).sum())
        assert param.detach().tolist() == pytest.approx([-grad[0], -grad[1]])
        assert norm == (pytest.approx(5.0) if "max_norm" in clip else None)
        assert param.grad is None  # zero_grad after the step


def test_auto_scale_lr_only_when_enabled():
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, dict(type="Adam", lr=5e-4))
    assert scale_lr(optimizer, dict(base_batch_size=512), 64) is None
    assert optimizer.param_groups[0]["lr"] == 5e-4
    assert scale_lr(optimizer, dict(base_batch_size=512, enable=True), 64) == 0.125
    assert optimizer.param_groups[0]["lr"] == 6.25e-5  # reference §13.3: 1 GPU x 64


def test_auto_scale_lr_in_training_sets_initial_lr(tmp_path):
    cfg = toy_cfg(max_epochs=1, param_scheduler=None,
                  auto_scale_lr=dict(base_batch_size=8, enable=True))
    train(cfg, work_dir=str(tmp_path))
    lrs = {r["lr"] for r in records(tmp_path) if r["mode"] == "train"}
    assert lrs == {1e-2 * 4 / 8}


class _ScaleNormLike(nn.Module):
    """A parameter named ``g`` outside any norm class: mmengine decays it (reference §7.2)."""

    def __init__(self):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1))


def _paramwise_model() -> nn.Sequential:
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Linear(3, 2),
                          nn.LayerNorm(2), _ScaleNormLike())
    model[2].weight.requires_grad_(False)  # frozen: in no group
    return model


def test_paramwise_cfg_decays_weights_not_norms_or_biases():
    model = _paramwise_model()
    _, settings = parse_optim_wrapper(dict(
        optimizer=dict(type="AdamW", lr=4e-3, weight_decay=0.05),
        paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True)))
    optimizer = build_optimizer(model, dict(type="AdamW", lr=4e-3, weight_decay=0.05),
                                settings.paramwise)
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    expected = {"0.weight": 0.05, "0.bias": 0.0, "1.weight": 0.0, "1.bias": 0.0,
                "2.bias": 0.0, "3.weight": 0.0, "3.bias": 0.0, "4.g": 0.05}
    assert {n: decay_of[id(p)] for n, p in model.named_parameters() if id(p) in decay_of} \
        == expected
    assert len(optimizer.param_groups) == 2  # one group per distinct decay, not per parameter


def test_paramwise_decay_reaches_the_update():
    # AdamW with zero gradients moves a parameter only by its decoupled decay: p·(1 - lr·wd)
    model = _paramwise_model()
    optimizer = build_optimizer(model, dict(type="AdamW", lr=0.1, weight_decay=0.5),
                                dict(norm_decay_mult=0, bias_decay_mult=0))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer.step()
    after = dict(model.named_parameters())
    assert torch.allclose(after["4.g"], before["4.g"] * 0.95)
    assert torch.allclose(after["0.weight"], before["0.weight"] * 0.95)
    assert torch.equal(after["1.weight"], before["1.weight"])  # BN weight: no decay
    assert torch.equal(after["0.bias"], before["0.bias"])


def test_paramwise_shared_parameter_needs_bypass_duplicate():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight  # tied weights: one parameter, two modules
    with pytest.raises(ConfigError, match="bypass_duplicate"):
        build_optimizer(model, dict(type="AdamW", lr=1e-3), dict(bypass_duplicate=False))
    optimizer = build_optimizer(model, dict(type="AdamW", lr=1e-3), dict(bypass_duplicate=True))
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 3


@pytest.mark.parametrize("wrapper, message", [
    (dict(optimizer=dict(type="Adam", lr=1e-3), accumulative_counts=4), "accumulative_counts"),
    (dict(optimizer=dict(type="Adam", lr=1e-3), clip_grad=dict(norm_type=2)), "max_norm"),
    (dict(optimizer=dict(type="Adam", lr=1e-3), momentum=0.9), "unknown key"),
    (dict(type="ApexOptimWrapper", optimizer=dict(type="Adam")), "not supported"),
    (dict(optimizer=dict(type="Adam"), paramwise_cfg=dict(custom_keys={})), "custom_keys"),
    (dict(optimizer=dict(type="Adam"), paramwise_cfg=dict(norm_decay_mult=-1)), ">= 0"),
])
def test_bad_optim_wrapper_is_config_error(wrapper, message):
    with pytest.raises(ConfigError, match=message):
        parse_optim_wrapper(wrapper)


# -- checkpoint files -----------------------------------------------------------------------
def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "epoch_1.pth"
    save_checkpoint(path, {"epoch": 1, "w": torch.arange(3)})

    def broken_save(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="epoch_1.pth: could not be written .disk full"):
        save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_1.pth"]  # no temp file left


def test_corrupt_checkpoints_raise_checkpoint_error_naming_the_file(tmp_path):
    good = tmp_path / "good.pth"
    save_checkpoint(good, {"state_dict": {"w": torch.ones(1000)}})
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:300])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"obj": Interrupted("x")}, unsafe)
    for path, reason in ((truncated, "truncated or corrupt"), (garbage, "truncated or corrupt"),
                         (unsafe, "refused"), (tmp_path / "missing.pth", "not found")):
        with pytest.raises(CheckpointError, match=reason) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "rng.pth", {"rng": rng_state()})
    expected = (random.random(), np.random.normal(), np.random.rand(), torch.rand(2))
    set_rng_state(load_checkpoint(tmp_path / "rng.pth")["rng"])
    again = (random.random(), np.random.normal(), np.random.rand(), torch.rand(2))
    assert expected[:3] == again[:3] and torch.equal(expected[3], again[3])


def test_checkpoint_policy_schedule_and_best_rule():
    policy = CheckpointPolicy.from_cfg(dict(type="CheckpointHook", interval=10,
                                            save_best="coco/AP", rule="greater"))
    assert [e for e in range(1, 26) if policy.due(e, 25)] == [10, 20, 25]  # + the last epoch
    assert policy.best_improved({"coco/AP": 0.5}) == "coco/AP"
    assert policy.best_improved({"coco/AP": 0.5}) is None  # strictly greater only
    assert policy.best_improved({"coco/AP": 0.6}) == "coco/AP"
    less = CheckpointPolicy.from_cfg(dict(save_best="val/loss"))  # rule inferred: lower wins
    assert less.best_improved({"val/loss": 2.0}) and less.best_improved({"val/loss": 1.0})
    assert less.best_improved({"val/loss": 1.5}) is None
    with pytest.raises(ConfigError, match="coco/AP"):
        policy.best_improved({"pck/PCK": 1.0})


# -- training runs --------------------------------------------------------------------------
def test_resume_after_interruption_gives_identical_weights(tmp_path, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    cfg = toy_cfg(val_values=[0.5])  # validation every epoch must not shift any generator
    train(cfg, work_dir=str(straight))
    interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train(cfg, work_dir=str(broken))
    monkeypatch.undo()
    assert sorted(p.name for p in broken.glob("epoch_*.pth")) == ["epoch_1.pth", "epoch_2.pth"]
    train(cfg, work_dir=str(broken), resume=True)
    a, b = load_checkpoint(straight / "epoch_4.pth"), load_checkpoint(broken / "epoch_4.pth")
    for key in ("state_dict", "optimizer", "param_schedulers", "sampler", "rng"):
        assert_same_tensors(a[key], b[key])
    assert (a["epoch"], a["iteration"]) == (b["epoch"], b["iteration"]) == (4, 12)
    # the lr each logged iteration trained with is the same too (warm-up crosses the cut)
    lrs = [[(r["iter"], r["lr"], r["loss"]) for r in records(d) if r["mode"] == "train"]
           for d in (straight, broken)]
    assert lrs[0] == lrs[1]
    assert [lr for _, lr, _ in lrs[0]] == pytest.approx(
        [1e-2 * (0.1 + 0.9 * 1 / 4), 1e-2 * (0.1 + 0.9 * 2 / 4), 1e-2, 1e-2, 1e-2, 1e-2,
         5e-3, 5e-3])  # logged at iterations 2, 3, 5, 6, 8, 9, 11, 12


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(toy_cfg(), work_dir=str(straight))
    interrupt_after(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train(toy_cfg(), work_dir=str(broken))
    monkeypatch.undo()
    newest = broken / "epoch_2.pth"
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short, e.g. by a full disk
    with pytest.warns(UserWarning, match="epoch_2.pth"):
        path, ckpt = find_resume_checkpoint(broken)
    assert path.name == "epoch_1.pth" and ckpt["epoch"] == 1
    with pytest.warns(UserWarning, match="epoch_1.pth, the newest usable"):
        train(toy_cfg(), work_dir=str(broken), resume=True)
    assert_same_tensors(load_checkpoint(straight / "epoch_4.pth")["state_dict"],
                        load_checkpoint(broken / "epoch_4.pth")["state_dict"])


def test_resume_from_explicit_path_and_best_only_file_is_refused(tmp_path):
    cfg = toy_cfg(max_epochs=2, val_values=[0.1, 0.2],
                  default_hooks=dict(checkpoint=dict(interval=1, save_best="coco/AP")))
    train(cfg, work_dir=str(tmp_path))
    with pytest.raises(CheckpointError, match="lacks optimizer"):
        train(cfg, work_dir=str(tmp_path), resume=str(tmp_path / "best_coco_AP_epoch_2.pth"))


def test_resume_without_checkpoints_trains_from_scratch(tmp_path):
    with pytest.warns(UserWarning, match="no checkpoint"):
        train(toy_cfg(max_epochs=1), work_dir=str(tmp_path), resume=True)
    assert load_checkpoint(tmp_path / "epoch_1.pth")["iteration"] == 3


def test_max_keep_ckpts_prunes_old_epochs(tmp_path):
    cfg = toy_cfg(default_hooks=dict(checkpoint=dict(interval=1, max_keep_ckpts=2)))
    train(cfg, work_dir=str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["epoch_3.pth", "epoch_4.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "epoch_4.pth"
    ckpt = load_checkpoint(tmp_path / "epoch_4.pth")
    assert {"state_dict", "optimizer", "param_schedulers", "sampler", "rng", "epoch",
            "iteration", "best", "config", "posemix_version"} <= set(ckpt)
    assert "EngineToyModel" in ckpt["config"]


def test_save_best_keeps_one_best_file_and_records_it(tmp_path):
    cfg = toy_cfg(val_values=[0.3, 0.7, 0.5, 0.7],
                  default_hooks=dict(checkpoint=dict(interval=2, save_best="coco/AP",
                                                     rule="greater")))
    metrics = train(cfg, work_dir=str(tmp_path))
    # the last validation's metrics; the 5 validation samples were each seen once
    assert metrics == {"coco/AP": 0.7, "coco/count": 5.0, "coco/unique": 5.0}
    best = sorted(p.name for p in tmp_path.glob("best_*.pth"))
    assert best == ["best_coco_AP_epoch_2.pth"]  # 0.7 at epoch 4 is not strictly better
    ckpt = load_checkpoint(tmp_path / best[0])
    assert ckpt["epoch"] == 2 and "optimizer" not in ckpt
    # the epoch checkpoint, written after validation, records the new best
    assert load_checkpoint(tmp_path / "epoch_2.pth")["best"] == {
        "metric": "coco/AP", "score": 0.7, "file": "best_coco_AP_epoch_2.pth"}
    assert load_checkpoint(tmp_path / "epoch_4.pth")["best"]["score"] == 0.7
    val = [r for r in records(tmp_path) if r["mode"] == "val"]
    assert [(r["epoch"], r["coco/AP"]) for r in val] == [(1, 0.3), (2, 0.7), (3, 0.5), (4, 0.7)]


def test_a_save_best_typo_fails_at_the_first_validation_with_the_epoch_checkpointed(tmp_path):
    cfg = toy_cfg(max_epochs=2, val_values=[0.3, 0.7],
                  default_hooks=dict(checkpoint=dict(interval=1, save_best="coco/APP")))
    with pytest.raises(ConfigError, match=r"save_best='coco/APP' is not among the validation "
                       r"metrics \['coco/AP', .*continue with --resume"):
        train(cfg, work_dir=str(tmp_path))
    assert load_checkpoint(tmp_path / "epoch_1.pth")["iteration"] == 3
    assert (tmp_path / "last_checkpoint").read_text() == "epoch_1.pth"


def test_a_failing_validation_leaves_the_epoch_checkpointed_and_unlogged(tmp_path,
                                                                        monkeypatch):
    def broken(self, results):
        raise FileNotFoundError("val image missing")

    monkeypatch.setattr(EngineScriptedMetric, "compute_metrics", broken)
    with pytest.raises(FileNotFoundError, match="val image missing"):
        train(toy_cfg(max_epochs=2, val_values=[0.3]), work_dir=str(tmp_path))
    assert load_checkpoint(tmp_path / "epoch_1.pth")["iteration"] == 3
    assert not [r for r in records(tmp_path) if r["mode"] == "val"]
    monkeypatch.undo()  # fixed: the run continues with the second epoch
    metrics = train(toy_cfg(max_epochs=2, val_values=[0.3]), work_dir=str(tmp_path),
                    resume=True)
    assert metrics["coco/AP"] == 0.3
    assert load_checkpoint(tmp_path / "epoch_2.pth")["iteration"] == 6


@pytest.mark.parametrize("override, message", [
    (dict(optim_wrapper=dict(optimizer=dict(type="Adam", lr="fast"))),
     r"optimizer 'Adam': 'lr' must be a number \(its default is 0.001\), got 'fast'"),
    (dict(default_hooks=dict(logger=dict(type="LoggerHook", interval="abc"))),
     "'interval' must be a number"),
    (dict(param_scheduler=[dict(type="LinearLR", end="abc")]), "'end' must be a number"),
    (dict(randomness=dict(seed="abc")), "randomness.seed must be a non-negative integer"),
    (dict(randomness=dict(seed=1, deterministic="yes")),
     "randomness.deterministic must be True or False"),
    (dict(train_dataloader=dict(batch_size=4, num_workers=-1,
                                dataset=dict(type="EngineToyDataset"))),
     r"train_dataloader.num_workers must be 0 \(load in the main process\) or more, got -1"),
])
def test_values_of_the_wrong_kind_are_config_errors(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train(toy_cfg(max_epochs=1, **override), work_dir=str(tmp_path))


def test_a_misspelt_run_key_is_pointed_out(tmp_path):
    cfg = toy_cfg(max_epochs=1, optim_wraper=dict(optimizer=dict(type="Adam", lr=0.1)))
    with pytest.warns(UserWarning, match="config key 'optim_wraper' is not read by the run; "
                                         "did you mean 'optim_wrapper'"):
        train(cfg, work_dir=str(tmp_path))


@pytest.mark.parametrize("bar", [True, False])
def test_validation_shows_a_progress_bar_with_the_training_one(tmp_path, capsys, bar):
    runner = Runner(toy_cfg(max_epochs=1, val_values=[0.5]), work_dir=str(tmp_path),
                    progress_bar=bar)
    try:
        runner.train()
    finally:
        runner.close()
    # 5 val samples in batches of 3
    assert ("evaluating: " in capsys.readouterr().err) is bar


def test_a_fresh_run_refuses_a_work_dir_that_holds_another_run(tmp_path):
    train(toy_cfg(max_epochs=1), work_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"holds a previous run \(epoch_1.pth\); continue it "
                                          r"with --resume, or train into a new --work-dir"):
        train(toy_cfg(max_epochs=2), work_dir=str(tmp_path))
    assert len([r for r in records(tmp_path) if r["mode"] == "train"]) == 2  # log untouched
    train(toy_cfg(max_epochs=2), work_dir=str(tmp_path), resume=True)
    assert load_checkpoint(tmp_path / "epoch_2.pth")["iteration"] == 6


def test_logs_metrics_jsonl_and_curves_png(tmp_path, capsys):
    train(toy_cfg(max_epochs=2, val_values=[0.4, 0.6]), work_dir=str(tmp_path))
    logged = records(tmp_path)
    train_logs = [(r["epoch"], r["epoch_iter"], r["iter"]) for r in logged if r["mode"] == "train"]
    assert train_logs == [(1, 2, 2), (1, 3, 3), (2, 2, 5), (2, 3, 6)]  # interval 2 + epoch end
    first = logged[0]
    assert {"loss", "loss_kpt", "acc_pose", "grad_norm", "lr", "time", "data_time"} <= set(first)
    assert first["acc_pose"] == 0.5 and first["loss"] == pytest.approx(first["loss_kpt"])
    assert [r["coco/AP"] for r in logged if r["mode"] == "val"] == [0.4, 0.6]
    image = cv2.imread(str(tmp_path / "curves.png"))
    assert image.shape == (420, 1280, 3) and (image < 128).any()
    out = capsys.readouterr().out  # not a terminal: one plain line per logged step
    assert out.count("epoch 1/2 iter 2/3") == 1 and "eta" in out


def test_test_evaluates_a_trained_checkpoint(tmp_path):
    cfg = toy_cfg(max_epochs=1, val_values=[0.25])
    train(cfg, work_dir=str(tmp_path / "run"))
    metrics = run_test(cfg, str(tmp_path / "run" / "epoch_1.pth"), work_dir=str(tmp_path / "eval"))
    assert metrics == {"coco/AP": 0.25, "coco/count": 5.0, "coco/unique": 5.0}
    assert records(tmp_path / "eval") == [{"mode": "test", "epoch": 1, "iter": 3, **metrics}]


def test_test_evaluates_a_foreign_checkpoint_that_weights_only_refuses(tmp_path):
    """An MMPose 1.x checkpoint (numpy metadata beside the weights) is evaluated, not
    turned away as unreadable."""
    cfg = toy_cfg(max_epochs=1, val_values=[0.25])
    train(cfg, work_dir=str(tmp_path / "run"))
    mmpose = tmp_path / "mmpose.pth"
    torch.save({"state_dict": load_checkpoint(tmp_path / "run" / "epoch_1.pth")["state_dict"],
                "meta": {"sigmas": np.ones(3)}}, mmpose)
    cfg.model.num_keypoints = 17  # a foreign file does not say; its config does
    assert run_test(cfg, str(mmpose)) == {"coco/AP": 0.25, "coco/count": 5.0,
                                          "coco/unique": 5.0}


def test_non_finite_loss_stops_training(tmp_path):
    cfg = toy_cfg(max_epochs=1)
    cfg.train_dataloader.dataset.nan_targets = True
    with pytest.raises(PosemixError, match="loss became nan in epoch 1, iteration 1"):
        train(cfg, work_dir=str(tmp_path))


@pytest.mark.parametrize("override, message", [
    (dict(train_cfg=dict(by_epoch=True)), "max_epochs"),
    (dict(train_cfg=dict(type="IterBasedTrainLoop", max_iters=10)), "epoch-based"),
    (dict(randomness=dict(seed=1, sede=2)), "sede"),
    (dict(val_dataloader=dict(dataset=dict(type="EngineToyDataset"))), "val_evaluator"),
    (dict(model=dict(type="EngineToyModl")), "EngineToyModel"),
])
def test_config_errors_surface_before_training(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        train(toy_cfg(**override), work_dir=str(tmp_path))
    assert not (tmp_path / "metrics.jsonl").exists()


def _topdown_cfg(out_channels):
    return dict(type="TopdownPoseEstimator",
                backbone=dict(type="TinyResFPN", widths=(8, 8, 8), num_blocks=(1, 1, 1),
                              out_channels=8),
                head=dict(type="HeatmapHead", in_channels=8, out_channels=out_channels,
                          deconv_out_channels=None))


def test_head_out_channels_come_from_the_training_data():
    assert build_model(_topdown_cfg(None), 17).head.out_channels == 17
    assert build_model(_topdown_cfg(17), 17).head.out_channels == 17
    with pytest.raises(ConfigError, match="17"):
        build_model(_topdown_cfg(19), 17)


def test_amp_on_cpu_warns_and_trains_in_float32(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(toy_cfg(max_epochs=1), work_dir=str(tmp_path), amp=True, device="cpu")
    assert any("needs CUDA" in str(w.message) for w in caught)
    assert load_checkpoint(tmp_path / "epoch_1.pth")["state_dict"]["net.0.weight"].dtype \
        == torch.float32


def test_unsafe_object_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_real_topdown_model_trains_and_validates_with_pck(tmp_path):
    """The engine with posemix's own model, codec, evaluator and PCK metric (out_channels
    filled from the data's 17 keypoints)."""
    model = _topdown_cfg(None)
    model["head"]["decoder"] = dict(type="MSRAHeatmap", input_size=(W, H),
                                    heatmap_size=(W // STRIDE, H // STRIDE), sigma=2)
    cfg = toy_cfg(max_epochs=1, val_values=[0.0], model=model,
                  val_evaluator=dict(type="PCKAccuracy", thr=0.5))
    metrics = train(cfg, work_dir=str(tmp_path))
    assert 0.0 <= metrics["coco/PCK"] <= 1.0 and "coco/PCK/nose" in metrics
    state = load_checkpoint(tmp_path / "epoch_1.pth")["state_dict"]
    assert state["head.final_layer.weight"].shape[0] == 17


def test_best_or_last_checkpoint_orders_epochs_by_number_and_prefers_the_best(tmp_path):
    """The demo's prediction grid model: ``epoch_10`` is newer than ``epoch_9`` (as names
    they sort the other way), and the best-model file the newest checkpoint records wins."""
    from posemix.engine.checkpoint import best_or_last_checkpoint

    def write(epoch: int, best: dict) -> None:
        save_checkpoint(tmp_path / f"epoch_{epoch}.pth", {
            "state_dict": {}, "optimizer": {}, "param_schedulers": [], "epoch": epoch,
            "iteration": 3 * epoch, "best": best})

    with pytest.raises(CheckpointError, match="no checkpoint in"):
        best_or_last_checkpoint(tmp_path)
    for epoch in (8, 9, 10):
        write(epoch, {})
    assert best_or_last_checkpoint(tmp_path) == tmp_path / "epoch_10.pth"
    best = {"metric": "coco/AP", "score": 0.7, "file": "best_coco_AP_epoch_9.pth"}
    write(10, best)
    assert best_or_last_checkpoint(tmp_path) == tmp_path / "epoch_10.pth"  # file missing
    save_checkpoint(tmp_path / best["file"], {"state_dict": {}, "epoch": 9})
    assert best_or_last_checkpoint(tmp_path) == tmp_path / best["file"]
