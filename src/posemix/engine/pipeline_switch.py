"""``PipelineSwitchHook`` (mmdet's, also reachable as ``mmdet.PipelineSwitchHook``): the
train pipeline of the last epochs (RTMPose's stage 2: milder boxes, no photometric
distortion)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from posemix.data.datasets import build_pipeline
from posemix.engine.hooks import Hook
from posemix.errors import ConfigError
from posemix.registry import HOOKS


@HOOKS.register
class PipelineSwitchHook(Hook):
    """From 0-based epoch ``switch_epoch`` on, the training dataset's pipeline (a
    CombinedDataset's shared one) is ``switch_pipeline``.

    The switch is made once, before the first epoch at or after ``switch_epoch`` — also
    the first epoch of a run resumed past it, so a resumed run trains with what an
    unbroken one does — and the DataLoader is rebuilt, so that persistent workers, which
    keep the dataset they started with, are replaced by workers that see the new
    pipeline.
    """

    def __init__(self, switch_epoch: int, switch_pipeline: Sequence[Mapping[str, Any]]):
        if not isinstance(switch_epoch, int) or isinstance(switch_epoch, bool) \
                or switch_epoch < 0:
            raise ConfigError(f"PipelineSwitchHook: switch_epoch must be an int >= 0, got "
                              f"{switch_epoch!r}")
        if isinstance(switch_pipeline, (Mapping, str)) or not isinstance(switch_pipeline,
                                                                          Sequence):
            raise ConfigError("PipelineSwitchHook: switch_pipeline must be a list of "
                              f"transforms, got {type(switch_pipeline).__name__}")
        build_pipeline(switch_pipeline, test_mode=True)  # a bad step fails before training
        self.switch_epoch = switch_epoch
        self.switch_pipeline = list(switch_pipeline)
        self.switched = False

    def before_train_epoch(self, runner: Any) -> None:
        state = runner.state
        if self.switched or state.epoch < self.switch_epoch:
            return
        dataset = state.train.dataset
        if not hasattr(dataset, "pipeline"):
            raise ConfigError(f"PipelineSwitchHook: the training dataset "
                              f"({type(dataset).__name__}) has no pipeline to switch")
        dataset.pipeline = build_pipeline(self.switch_pipeline,
                                          bool(getattr(dataset, "test_mode", False)))
        state.train.restart()
        self.switched = True
        runner.info(f"PipelineSwitchHook: epoch {state.epoch + 1} on trains with "
                    f"switch_pipeline ({len(self.switch_pipeline)} steps)")
