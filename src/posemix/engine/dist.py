"""Distributed training with PyTorch's own tools: ``torchrun`` + DistributedDataParallel.

Under ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK in the environment) the process group is
set up with gloo on CPU and NCCL on CUDA, one GPU per process. Samplers read the rank
from ``torch.distributed`` themselves. Only rank 0 writes files; validation predictions
are gathered on rank 0, which evaluates and broadcasts the metrics.
"""

from __future__ import annotations

import datetime
import inspect
import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from posemix.errors import ConfigError
from posemix.models.backbones.resnet import SyncBN


@dataclass
class DistContext:
    """Where this process runs: its rank, the world size, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # whether this code created the process group (and ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def pick_device(device: str | None, local_rank: int) -> torch.device:
    """The requested device (``cuda`` means this process's GPU under torchrun), else CUDA
    when available, else CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device '{device}': {exc}") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{device}' requested but CUDA is not available")
        if chosen.index is None:
            chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    return chosen


def setup(device: str | None = None, backend: str | None = None,
          timeout: float | None = None) -> DistContext:
    """Join the torchrun process group when WORLD_SIZE > 1 (or use one already set up).

    ``backend`` (env_cfg.dist_cfg.backend) applies on CUDA; CPU processes always use gloo.
    ``timeout`` (env_cfg.dist_cfg.timeout, seconds) bounds how long a collective waits for
    the other processes, so a rank that died makes the others fail instead of hang.
    """
    if dist.is_available() and dist.is_initialized():
        local_rank = _env_int("LOCAL_RANK", dist.get_rank())
        return DistContext(dist.get_rank(), dist.get_world_size(), local_rank,
                           pick_device(device, local_rank))
    world_size = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    chosen = pick_device(device, local_rank)
    if world_size <= 1:
        return DistContext(0, 1, local_rank, chosen)
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    extra: dict[str, Any] = {}
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"env_cfg.dist_cfg.timeout must be a positive number of seconds, "
                              f"got {timeout!r}")
        extra["timeout"] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend=(backend or "nccl") if chosen.type == "cuda" else "gloo",
                            **extra)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen,
                       owns_group=True)


def teardown(ctx: DistContext, synchronize: bool = False) -> None:
    """End the process group if :func:`setup` started it (after a barrier when
    ``synchronize``: never after a failure, when a peer may be gone)."""
    if ctx.owns_group and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, find_unused_parameters: bool = False,
               broadcast_buffers: bool = False) -> nn.Module:
    """DistributedDataParallel around ``model`` when running on several processes.

    Buffers are not broadcast every step (mmengine's default); :func:`sync_buffers`
    averages them once per epoch, as MMPose's SyncBuffersHook does.
    """
    if not ctx.distributed:
        return model
    ddp = nn.parallel.DistributedDataParallel
    # PyTorch >= 2.13 renames the per-forward buffer broadcast (buffers still sync at init)
    sync_key = ("forward_sync_buffers"
                if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters
                else "broadcast_buffers")
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return ddp(model, device_ids=device_ids, find_unused_parameters=find_unused_parameters,
               **{sync_key: broadcast_buffers})


def convert_sync_batchnorm(module: nn.Module, ctx: DistContext, every_bn: bool = False
                           ) -> nn.Module:
    """Under DDP, swap the ``norm_cfg=dict(type='SyncBN')`` layers (all batch norms with
    ``every_bn``, the config's ``sync_bn``) for ``nn.SyncBatchNorm``, sharing their weights
    and statistics; in one process the model is returned as it is. PyTorch's SyncBatchNorm
    runs on accelerators only, so on CPU (gloo) the layers stay per-process BatchNorm,
    with a warning."""
    if not ctx.distributed:
        return module
    marked = [m for m in module.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm)
              and not isinstance(m, nn.SyncBatchNorm) and (every_bn or isinstance(m, SyncBN))]
    if not marked:
        return module
    if ctx.device.type == "cpu":
        warnings.warn(f"SyncBN: PyTorch's SyncBatchNorm needs an accelerator; on CPU the "
                      f"{len(marked)} SyncBN layers keep per-process batch statistics",
                      stacklevel=2)
        return module
    ids = {id(m) for m in marked}
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in ids:
                setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return module


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def sync_buffers(model: nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) across processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for buffer in unwrap(model).buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(dist.get_world_size())


def gather_to_main(items: list[Any], ctx: DistContext) -> list[list[Any]] | None:
    """Every rank's ``items`` on rank 0 (None elsewhere); a one-element list without DDP."""
    if not ctx.distributed:
        return [items]
    parts: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(items, parts, dst=0)
    return parts


_PAD = object()


def interleave(parts: Sequence[Sequence[Any]], size: int) -> list[Any]:
    """Undo the samplers' rank striding (rank r got samples r, r+W, ...): the first
    ``size`` samples in dataset order, without the padding repeated to even out ranks."""
    merged = [item for group in itertools.zip_longest(*parts, fillvalue=_PAD)
              for item in group if item is not _PAD]
    return merged[:size]


def broadcast(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not ctx.distributed:
        return value
    box = [value if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
