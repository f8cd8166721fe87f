"""Hooks from the config: ``custom_hooks`` build registered hooks, called at every point of
the run in priority order, with the checkpoint payload theirs to extend and to read back."""

from __future__ import annotations

import pytest
from test_engine import toy_cfg

from posemix.engine import Hook, load_checkpoint, train
from posemix.engine.hooks import build_hooks, priority_value
from posemix.errors import ConfigError
from posemix.registry import HOOKS

CALLS: list[tuple[str, str]] = []


@HOOKS.register
class RecordingHook(Hook):
    """Notes every call as (tag, point) and leaves its tag in each checkpoint it sees."""

    def __init__(self, tag: str):
        self.tag = tag
        self.loaded: list[str] = []

    def before_run(self, runner):
        CALLS.append((self.tag, "before_run"))

    def before_train(self, runner):
        CALLS.append((self.tag, "before_train"))

    def before_train_epoch(self, runner):
        CALLS.append((self.tag, "before_train_epoch"))

    def before_train_iter(self, runner, batch_idx, data_batch):
        CALLS.append((self.tag, f"before_train_iter {batch_idx}"))

    def after_train_iter(self, runner, batch_idx, data_batch, outputs):
        assert set(outputs) >= {"loss", "log_vars", "lr"}
        CALLS.append((self.tag, f"after_train_iter {batch_idx}"))

    def after_train_epoch(self, runner):
        CALLS.append((self.tag, f"after_train_epoch {runner.state.epoch}"))

    def before_val_epoch(self, runner):
        CALLS.append((self.tag, "before_val_epoch"))

    def after_val_epoch(self, runner, metrics):
        CALLS.append((self.tag, f"after_val_epoch {metrics['coco/AP']}"))

    def after_train(self, runner):
        CALLS.append((self.tag, "after_train"))

    def after_run(self, runner):
        CALLS.append((self.tag, "after_run"))

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint.setdefault("tags", []).append(self.tag)

    def after_load_checkpoint(self, runner, checkpoint):
        CALLS.append((self.tag, f"after_load_checkpoint {checkpoint['tags']}"))


def _points(tag: str) -> list[str]:
    return [point for t, point in CALLS if t == tag]


def test_custom_hooks_from_a_config_see_every_point_in_priority_order(tmp_path):
    CALLS.clear()
    hooks = [dict(type="RecordingHook", tag="late", priority=20),
             dict(type="RecordingHook", tag="early", priority="VERY_HIGH")]
    cfg = toy_cfg(max_epochs=2, val_values=[0.25, 0.75], custom_hooks=hooks)
    train(cfg, work_dir=str(tmp_path))
    # 12 samples in batches of 4: 3 iterations an epoch; validation after each epoch
    epoch = ["before_train_epoch"] + [f"{when}_train_iter {i}" for i in range(3)
                                      for when in ("before", "after")]
    expected = (["before_run", "before_train"]
                + epoch + ["after_train_epoch 1", "before_val_epoch", "after_val_epoch 0.25"]
                + epoch + ["after_train_epoch 2", "before_val_epoch", "after_val_epoch 0.75"]
                + ["after_train", "after_run"])
    assert _points("early") == expected and _points("late") == expected
    # VERY_HIGH (10) before 20 at every point, although listed second
    assert [t for t, _ in CALLS] == ["early", "late"] * len(expected)
    # both hooks extended every checkpoint's payload, in priority order
    assert load_checkpoint(tmp_path / "epoch_2.pth")["tags"] == ["early", "late"]


def test_hooks_read_back_what_they_saved_on_resume(tmp_path):
    hooks = [dict(type="RecordingHook", tag="a")]
    train(toy_cfg(max_epochs=1, custom_hooks=hooks), work_dir=str(tmp_path))
    CALLS.clear()
    train(toy_cfg(max_epochs=2, custom_hooks=hooks), work_dir=str(tmp_path), resume=True)
    # mmengine's order: before_run, then the checkpoint (before the state is loaded from it)
    assert _points("a")[:3] == ["before_run", "after_load_checkpoint ['a']", "before_train"]
    assert "after_train_epoch 2" in _points("a")


def test_default_hooks_are_always_there_and_sorted_by_priority():
    hooks = build_hooks({"visualization": dict(type="PoseVisualizationHook", enable=False)},
                        [dict(type="SyncBuffersHook")])
    # NORMAL (50) ties keep their order: the default names first, then custom_hooks
    assert [type(h).__name__ for h in hooks] == [
        "IterTimerHook", "DistSamplerSeedHook", "SyncBuffersHook", "LoggerHook",
        "ParamSchedulerHook", "CheckpointHook"]
    assert [priority_value(h.priority) for h in hooks] == [50, 50, 50, 60, 70, 90]
    logger = build_hooks({"logger": dict(interval=7)}, None)[2]
    assert type(logger).__name__ == "LoggerHook" and logger.interval == 7


@pytest.mark.parametrize("default_hooks, custom_hooks, message", [
    (None, [dict(type="RecordingHok", tag="x")], "Did you mean: RecordingHook"),
    (None, [dict(type="RecordingHook", tag="x", priority="SOMETIMES")], "VERY_HIGH"),
    (dict(badcase=dict(out_dir="x")), None, "default_hooks.badcase needs a type"),
    (None, [dict(type="RecordingHook", colour="x")], "has no argument 'colour'"),
])
def test_bad_hook_configs_are_config_errors(default_hooks, custom_hooks, message):
    with pytest.raises(ConfigError, match=message):
        build_hooks(default_hooks, custom_hooks)
