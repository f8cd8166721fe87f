"""PipelineSwitchHook (reference section 7.6): the train pipeline changes at the configured
0-based epoch, reaches persistent DataLoader workers, and a run resumed on either side of
the switch trains with the pipelines an unbroken run does."""

from __future__ import annotations

import pytest
from test_engine import EngineToyDataset, assert_same_tensors, toy_cfg

from posemix.engine import Hook, load_checkpoint, train
from posemix.errors import ConfigError
from posemix.registry import DATASETS, HOOKS, TRANSFORMS
from posemix.transforms import BaseTransform, Compose


@TRANSFORMS.register()
class StageTag(BaseTransform):
    """Names the pipeline that made the sample, and makes it count: stage s divides the
    image by s, so the trained weights depend on which pipeline ran when."""

    def __init__(self, stage: int):
        self.stage = stage

    def __call__(self, results: dict) -> dict:
        results["meta"]["stage"] = self.stage
        results["inputs"] = results["inputs"] // self.stage
        return results


@DATASETS.register()
class StagedToyDataset(EngineToyDataset):
    """The engine's toy samples, then a pipeline."""

    def __init__(self, num_samples: int = 12, pipeline=(), test_mode: bool = False):
        super().__init__(num_samples)
        self.pipeline, self.test_mode = Compose(pipeline), test_mode

    def __getitem__(self, key):
        return self.pipeline(super().__getitem__(key))


@HOOKS.register
class StageProbe(Hook):
    """The stages of the samples of each 0-based epoch, as the training loop got them."""

    seen: dict[int, set[int]] = {}

    def before_train_iter(self, runner, batch_idx, data_batch):
        self.seen.setdefault(runner.state.epoch, set()).update(
            m["stage"] for m in data_batch["meta"])


def staged_cfg(max_epochs: int, num_workers: int):
    loader = dict(batch_size=4, num_workers=num_workers, persistent_workers=num_workers > 0,
                  sampler=dict(type="DefaultSampler", shuffle=True),
                  dataset=dict(type="StagedToyDataset",
                               pipeline=[dict(type="StageTag", stage=1)]))
    hooks = [dict(type="mmdet.PipelineSwitchHook", switch_epoch=2,
                  switch_pipeline=[dict(type="StageTag", stage=2)]),
             dict(type="StageProbe")]
    return toy_cfg(max_epochs=max_epochs, train_dataloader=loader, custom_hooks=hooks)


@pytest.mark.parametrize("num_workers", [0, 2], ids=["main-process", "persistent-workers"])
def test_stage_two_from_the_switch_epoch_on(num_workers, tmp_path):
    StageProbe.seen.clear()
    train(staged_cfg(4, num_workers), work_dir=str(tmp_path))
    assert StageProbe.seen == {0: {1}, 1: {1}, 2: {2}, 3: {2}}


@pytest.mark.parametrize("stop", [2, 3], ids=["resumed-at-the-switch", "resumed-after-it"])
def test_a_resumed_run_comes_back_with_the_pipeline_of_its_epoch(stop, tmp_path):
    """Resumed from the unbroken run's checkpoint of epoch ``stop``: the same pipelines,
    hence the same weights and optimizer. (The global generators may differ: a resumed run
    starts its persistent workers anew, drawing their base seed, where the unbroken run
    reuses them; samples draw from (seed, epoch, index), so that changes no sample.)"""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(staged_cfg(4, 2), work_dir=str(straight))
    StageProbe.seen.clear()
    train(staged_cfg(4, 2), work_dir=str(resumed), resume=str(straight / f"epoch_{stop}.pth"))
    assert StageProbe.seen == {epoch: {2} for epoch in range(stop, 4)}
    a, b = load_checkpoint(straight / "epoch_4.pth"), load_checkpoint(resumed / "epoch_4.pth")
    for key in ("state_dict", "optimizer"):
        assert_same_tensors(a[key], b[key])


@pytest.mark.parametrize("hook, message", [
    (dict(switch_epoch=-1, switch_pipeline=[]), "switch_epoch must be an int >= 0"),
    (dict(switch_epoch=1, switch_pipeline=dict(type="StageTag", stage=2)), "list of transforms"),
    (dict(switch_epoch=1, switch_pipeline=[dict(type="NoSuchStep")]), "NoSuchStep"),
])
def test_bad_switch_configs_fail_before_training(hook, message, tmp_path):
    cfg = staged_cfg(2, 0)
    cfg.custom_hooks = [dict(type="PipelineSwitchHook", **hook)]
    with pytest.raises(ConfigError, match=message):
        train(cfg, work_dir=str(tmp_path))
    assert not (tmp_path / "epoch_1.pth").exists()
