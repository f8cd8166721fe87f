"""EMAHook + ExpMomentumEMA (reference section 7.5): the average against values computed by
hand, MMPose's checkpoint layout (``state_dict`` = EMA, ``ema_state_dict`` = steps + raw
``module.*``), validation and ``posemix test`` on the EMA weights, and resuming."""

from __future__ import annotations

import math

import pytest
import torch
from test_engine import assert_same_tensors, records, toy_cfg
from test_kill_resume import EngineScoreMetric  # noqa: F401 - registers the metric
from torch import nn

import posemix.engine as engine
from posemix.engine import load_checkpoint, train
from posemix.engine.ema import EMAHook
from posemix.engine.hooks import Hook, build_hooks, priority_value
from posemix.errors import ConfigError
from posemix.models.ema import ExpMomentumEMA, ExponentialMovingAverage
from posemix.registry import HOOKS


class Net(nn.Module):
    """A linear layer and a BatchNorm: parameters, float buffers and an integer buffer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)


def _set(net: Net, value: float) -> None:
    """Every floating entry of the state dict to ``value`` + its position (distinct values)."""
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.dtype.is_floating_point:
                tensor.copy_(value + torch.arange(tensor.numel()).reshape(tensor.shape) / 10)
            else:
                tensor.fill_(int(value))


def momentum(steps: int, m: float = 0.0002, gamma: float = 2000) -> float:
    return (1 - m) * math.exp(-(1 + steps) / gamma) + m


def test_exp_momentum_ema_matches_hand_computed_values():
    """Step 0 copies; then ema = (1-m)·ema + m·live with m from the steps before the update,
    over every floating entry (BN statistics too); num_batches_tracked keeps its copy.
    In float64, so that the comparison sees the formula, not float32 rounding."""
    live = Net().double()
    ema = ExpMomentumEMA(live, momentum=0.0002, gamma=2000, update_buffers=True)
    assert momentum(1) == pytest.approx(0.99900, abs=1e-5)
    assert momentum(10000) == pytest.approx(0.00693, abs=1e-5)
    expected = None
    for step, value in enumerate([1.0, 3.0, -2.0, 5.0]):
        _set(live, value)
        ema.update_parameters(live)
        current = {k: v.clone() for k, v in live.state_dict().items()}
        if expected is None:
            expected = current
        else:
            m = momentum(step)
            expected = {k: ((1 - m) * expected[k] + m * current[k])
                        if current[k].is_floating_point() else expected[k] for k in current}
        assert int(ema.steps) == step + 1
        for key, value_ in ema.module.state_dict().items():
            torch.testing.assert_close(value_, expected[key], atol=1e-7, rtol=0)
    assert int(ema.module.bn.num_batches_tracked) == 1  # copied at step 0 only
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert set(ema.state_dict()) == {"steps"} | {f"module.{k}" for k in live.state_dict()}


def test_without_update_buffers_parameters_average_and_buffers_copy():
    live = Net()
    ema = ExponentialMovingAverage(live, momentum=0.25)
    _set(live, 1.0)
    ema.update_parameters(live)
    _set(live, 3.0)
    ema.update_parameters(live)
    torch.testing.assert_close(ema.module.fc.bias, torch.tensor([1.5, 1.6]))  # 0.75·1 + 0.25·3
    torch.testing.assert_close(ema.module.bn.running_mean, live.bn.running_mean)  # copied
    assert int(ema.module.bn.num_batches_tracked) == 3


def test_interval_averages_every_nth_step():
    live = Net()
    ema = ExponentialMovingAverage(live, momentum=0.5, interval=2)
    for value in (0.0, 4.0, 8.0):  # copy; step 1 is skipped; step 2 averages
        _set(live, value)
        ema.update_parameters(live)
    torch.testing.assert_close(ema.module.fc.bias, torch.tensor([4.0, 4.1]))


@pytest.mark.parametrize("cfg, message", [
    (dict(begin_iter=2, begin_epoch=1), "not both"),
    (dict(begin_epoch=-1), "begin_epoch"),
    (dict(momentum=1.5), "momentum must be in"),
    (dict(gamma=0), "gamma"),
    (dict(ema_type="NoSuchEMA"), "unknown model type 'NoSuchEMA'"),
])
def test_bad_ema_configs_are_config_errors(cfg, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        train(ema_cfg(1, **cfg), work_dir=str(tmp_path))


def test_mmpose_hook_entry_builds_with_its_priority():
    (hook,) = [h for h in build_hooks({}, [dict(type="EMAHook", ema_type="ExpMomentumEMA",
                                                momentum=0.0002, update_buffers=True,
                                                priority=49)]) if isinstance(h, EMAHook)]
    assert priority_value(hook.priority) == 49
    assert hook.ema_cfg == dict(type="ExpMomentumEMA", momentum=0.0002, update_buffers=True)


def ema_cfg(max_epochs: int = 2, **hook):
    """The toy run validated every epoch with the weight-dependent score metric, and EMA."""
    hook = dict(dict(type="EMAHook", ema_type="ExpMomentumEMA", momentum=0.0002,
                     update_buffers=True, priority=49), **hook)
    cfg = toy_cfg(max_epochs=max_epochs, val_values=[0.0], custom_hooks=[hook])
    cfg.val_evaluator = dict(type="EngineScoreMetric")
    return cfg


@HOOKS.register
class LiveWeightsProbe(Hook):
    """Records the live weights after every step (float64 copies)."""

    seen: list[dict[str, torch.Tensor]] = []

    def after_train_iter(self, runner, batch_idx, data_batch, outputs):
        self.seen.append({k: v.double().clone()
                          for k, v in runner.state.module.state_dict().items()})


def test_checkpoints_hold_the_ema_as_state_dict_and_validation_uses_it(tmp_path):
    cfg = ema_cfg(2)
    metrics = train(cfg, work_dir=str(tmp_path))
    ckpt = load_checkpoint(tmp_path / "epoch_2.pth")
    ema, model = ckpt["ema_state_dict"], ckpt["state_dict"]
    assert int(ema["steps"]) == ckpt["iteration"] == 6
    assert set(ema) == {"steps"} | {f"module.{k}" for k in model}
    # state_dict is the EMA: after 6 steps m ≈ 0.997, so it is close to, not equal to, raw
    for key in model:
        raw = ema[f"module.{key}"]
        assert not torch.equal(model[key], raw)
        torch.testing.assert_close(model[key], raw, atol=0.02, rtol=0)
    # validation ran on the EMA weights: posemix test on the checkpoint (its state_dict)
    # reproduces the logged metric, and the raw weights give another
    assert engine.test(cfg, str(tmp_path / "epoch_2.pth"))["coco/AP"] == metrics["coco/AP"]
    raw_path = tmp_path / "raw.pth"
    torch.save({**ckpt, "state_dict": {k: ema[f"module.{k}"] for k in model}}, raw_path)
    assert engine.test(cfg, str(raw_path))["coco/AP"] != metrics["coco/AP"]
    logged = [r["coco/AP"] for r in records(tmp_path) if r["mode"] == "val"]
    assert logged[-1] == metrics["coco/AP"]


def test_the_ema_follows_the_training_steps_by_hand(tmp_path):
    """One epoch of 3 steps, the live weights of each step recorded by a probe hook after
    the update: the saved EMA equals the formula applied to them."""
    cfg = ema_cfg(1)
    cfg.custom_hooks.append(dict(type="LiveWeightsProbe", priority=48))
    LiveWeightsProbe.seen.clear()
    train(cfg, work_dir=str(tmp_path))
    expected = None
    for step, live in enumerate(LiveWeightsProbe.seen):
        if expected is None:
            expected = live
        else:
            m = momentum(step)
            expected = {k: (1 - m) * expected[k] + m * live[k] for k in live}
    ckpt = load_checkpoint(tmp_path / "epoch_1.pth")
    assert len(LiveWeightsProbe.seen) == 3
    for key, value in ckpt["state_dict"].items():
        torch.testing.assert_close(value.double(), expected[key], atol=1e-7, rtol=0)
        assert_same_tensors(ckpt["ema_state_dict"][f"module.{key}"],
                            LiveWeightsProbe.seen[-1][key].float())


def test_resume_restores_both_models_and_continues_exactly(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(ema_cfg(2), work_dir=str(straight))
    train(ema_cfg(1), work_dir=str(resumed))
    first = load_checkpoint(resumed / "epoch_1.pth")
    train(ema_cfg(2), work_dir=str(resumed), resume=True)
    a, b = load_checkpoint(straight / "epoch_2.pth"), load_checkpoint(resumed / "epoch_2.pth")
    for key in ("state_dict", "ema_state_dict", "optimizer"):
        assert_same_tensors(a[key], b[key])
    assert first["ema_state_dict"].keys() == a["ema_state_dict"].keys()


def test_a_checkpoint_without_ema_starts_the_ema_from_its_state_dict(tmp_path):
    """Resuming a run that had no EMAHook: the EMA starts from the saved weights."""
    train(toy_cfg(max_epochs=1), work_dir=str(tmp_path))
    plain = load_checkpoint(tmp_path / "epoch_1.pth")
    train(ema_cfg(2), work_dir=str(tmp_path), resume=True)
    ckpt = load_checkpoint(tmp_path / "epoch_2.pth")
    assert int(ckpt["ema_state_dict"]["steps"]) == 3  # the EMA's steps start at 0
    # its first step copies the live weights, so the EMA owes nothing to a stale start
    assert plain["state_dict"].keys() == ckpt["state_dict"].keys()
