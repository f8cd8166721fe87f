"""Training engine: the train/test loops, hooks, checkpoints, lr schedules, optimizers,
distributed helpers and run logging.

Importing this package registers the optimizers (Adam, AdamW, SGD) and the lr schedulers
(LinearLR, MultiStepLR, CosineAnnealingLR) and the built-in hooks (LoggerHook,
CheckpointHook, ParamSchedulerHook, SyncBuffersHook, EMAHook, PipelineSwitchHook, ...) in
``posemix.registry``.
"""

from posemix.engine.checkpoint import (
    CheckpointPolicy,
    find_resume_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from posemix.engine.ema import EMAHook
from posemix.engine.hooks import Hook
from posemix.engine.logger import RunLogger, draw_curves
from posemix.engine.loops import evaluate, parse_losses
from posemix.engine.optim import OptimizerStep, build_optimizer, parse_optim_wrapper, scale_lr
from posemix.engine.pipeline_switch import PipelineSwitchHook
from posemix.engine.runner import Runner, test, train
from posemix.engine.schedulers import (
    CosineAnnealingLR,
    LinearLR,
    MultiStepLR,
    ParamScheduler,
    build_schedulers,
    step_schedulers,
)

__all__ = [
    "CheckpointPolicy", "CosineAnnealingLR", "EMAHook", "Hook", "LinearLR", "MultiStepLR",
    "OptimizerStep", "ParamScheduler", "PipelineSwitchHook", "RunLogger", "Runner",
    "build_optimizer", "build_schedulers",
    "draw_curves", "evaluate", "find_resume_checkpoint", "load_checkpoint", "parse_losses",
    "parse_optim_wrapper", "save_checkpoint", "scale_lr", "step_schedulers", "test", "train",
]
