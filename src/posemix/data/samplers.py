"""Samplers: which sample indices each rank reads, in which order, every epoch.

They yield ``(epoch, index)`` keys rather than bare indices, so that a dataset copy in
a persistent DataLoader worker still knows the epoch: its random draws and resampling
then depend on (seed, epoch, index) alone, whatever the number of workers or ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from posemix.config.validation import positive_int
from posemix.data.balance import apportion, balance_temperature, balanced_shares
from posemix.errors import ConfigError
from posemix.registry import SAMPLERS


def dist_info() -> tuple[int, int]:
    """(rank, world_size) of torch.distributed, or (0, 1) when it is not running."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _EpochSampler:
    """Shared state: seed, epoch, rank and world size."""

    def __init__(self, dataset: Sequence, seed: int | None):
        self.dataset = dataset
        self.seed = 0 if seed is None else int(seed)
        self.epoch = 0
        self.rank, self.world_size = dist_info()

    def set_epoch(self, epoch: int) -> None:
        """Each epoch draws a new order (and new resampling) from (seed, epoch)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


@SAMPLERS.register()
class DefaultSampler(_EpochSampler):
    """Shuffle (or not) the whole index space, pad to a multiple of the world size, and give
    each rank every world_size-th index (mmengine's DefaultSampler, with epoch-aware keys)."""

    def __init__(self, dataset: Sequence, shuffle: bool = True, seed: int | None = None,
                 round_up: bool = True):
        super().__init__(dataset, seed)
        self.shuffle = shuffle
        self.round_up = round_up

    def _num_samples(self) -> int:
        n = len(self.dataset)
        if self.round_up:
            return math.ceil(n / self.world_size)
        return math.ceil((n - self.rank) / self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.round_up:
            total = self._num_samples() * self.world_size
            order = np.resize(order, total) if n else order
        for index in order[self.rank::self.world_size]:
            yield (self.epoch, int(index))

    def __len__(self) -> int:
        return self._num_samples()


@SAMPLERS.register()
class MultiSourceSampler(_EpochSampler):
    """Batches with a fixed composition: ``source_ratio`` of each CombinedDataset source, or
    with ``balance=dict(temperature=T)`` the ratio nᵢ^(1/T) of the sources' sizes nᵢ.

    Unlike MMPose's: a ratio that gives a source zero samples per batch is an error at
    construction (MMPose hangs), each epoch reshuffles, sources of equal length get different
    orders, and it draws from the resampled sources when ``sample_ratio_factor`` is set.
    """

    def __init__(self, dataset: Sequence, batch_size: int,
                 source_ratio: Sequence[float] | None = None, shuffle: bool = True,
                 round_up: bool = True, seed: int | None = None,
                 balance: Mapping[str, Any] | None = None):
        super().__init__(dataset, seed)
        lens = getattr(dataset, "lens", None)
        if lens is None:
            raise ConfigError("MultiSourceSampler needs a CombinedDataset (with one length per "
                              f"source), got {type(dataset).__name__}")
        if (source_ratio is None) == (balance is None):
            raise ConfigError("MultiSourceSampler: give source_ratio (by hand) or balance=dict("
                              "temperature=T) (by rule), exactly one of them")
        self.balance = None if balance is None else dict(balance)
        if balance is not None:
            sizes = getattr(dataset, "original_lens", lens)
            source_ratio = balanced_shares(
                sizes, balance_temperature(balance, "MultiSourceSampler")).tolist()
        positive_int(batch_size, "MultiSourceSampler: batch_size")
        if len(source_ratio) != len(lens):
            raise ConfigError(f"MultiSourceSampler: source_ratio has {len(source_ratio)} values "
                              f"for {len(lens)} sources")
        if any(r < 0 for r in source_ratio) or sum(source_ratio) <= 0:
            raise ConfigError(f"MultiSourceSampler: source_ratio must be non-negative with a "
                              f"positive sum, got {list(source_ratio)}")
        if balance is not None:
            per_source = apportion(np.asarray(source_ratio), batch_size)
        else:  # MMPose's rounding: truncate, the first source takes the rest
            total = float(sum(source_ratio))
            per_source = [int(batch_size * r / total) for r in source_ratio]
            per_source[0] = batch_size - sum(per_source[1:])
        names = getattr(dataset, "source_names", [str(i) for i in range(len(lens))])
        starved = [f"{names[i]} (ratio {source_ratio[i]})" for i, c in enumerate(per_source)
                   if c <= 0]
        if starved:
            raise ConfigError(
                f"MultiSourceSampler: with batch_size={batch_size} and source_ratio="
                f"{list(source_ratio)}, source(s) {', '.join(starved)} get no sample per batch "
                f"(per-batch counts {per_source}); raise their ratio or the batch size")
        empty = [names[i] for i, c in enumerate(per_source) if c > 0 and lens[i] == 0]
        if empty:
            raise ConfigError(f"MultiSourceSampler: source(s) {empty} are empty but have a "
                              f"positive ratio")
        self.batch_size = batch_size
        self.source_ratio = list(source_ratio)
        self.num_per_source = per_source
        self.shuffle = shuffle
        self.round_up = round_up
        self.offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        self.lens = list(lens)

    def _num_iters(self) -> int:
        per_rank = math.ceil(len(self.dataset) / self.world_size)
        iters, rest = divmod(per_rank, self.batch_size)
        return iters + int(self.round_up and rest > 0)

    def _stream(self, source: int, count: int) -> np.ndarray:
        """``count`` local indices of ``source``: whole permutations laid end to end."""
        n = self.lens[source]
        rng = np.random.default_rng([self.seed, self.epoch, source])
        reps = math.ceil(count / n)
        if self.shuffle:
            order = np.concatenate([rng.permutation(n) for _ in range(reps)])
        else:
            order = np.tile(np.arange(n), reps)
        return order[:count] + self.offsets[source]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        iters = self._num_iters()
        batches = iters * self.world_size  # every rank's batches, drawn once, then sliced
        blocks = [
            self._stream(s, c * batches).reshape(batches, c)
            for s, c in enumerate(self.num_per_source)
        ]
        composed = np.concatenate(blocks, axis=1)  # (batches, batch_size)
        for index in composed[self.rank::self.world_size].reshape(-1):
            yield (self.epoch, int(index))

    def __len__(self) -> int:
        return self._num_iters() * self.batch_size
