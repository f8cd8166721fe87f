"""Samplers: composition, reproducibility, epochs, ranks, and MMPose's hang fixed."""

from __future__ import annotations

import numpy as np
import pytest

from posemix.data.samplers import DefaultSampler, MultiSourceSampler
from posemix.errors import ConfigError


class FakeCombined:
    """Just what samplers read from a CombinedDataset: its length and per-source lengths."""

    def __init__(self, lens):
        self.lens = list(lens)
        self.source_names = [f"s{i}" for i in range(len(lens))]

    def __len__(self):
        return sum(self.lens)


def source_of(index: int, lens) -> int:
    return int(np.searchsorted(np.cumsum(lens), index, side="right"))


def batches(sampler, batch_size):
    keys = list(sampler)
    assert all(isinstance(k, tuple) and len(k) == 2 for k in keys)
    idx = [i for _, i in keys]
    return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]


def test_mmpose_composition_example():
    sampler = MultiSourceSampler(FakeCombined([1000, 1000]), 256, [1.0, 0.5])
    assert sampler.num_per_source == [171, 85]  # reference 3.2


def test_every_batch_has_the_ratio_composition():
    lens = [50, 30, 7]
    sampler = MultiSourceSampler(FakeCombined(lens), 8, [2, 1, 1], seed=3)
    assert sampler.num_per_source == [4, 2, 2]
    out = batches(sampler, 8)
    assert len(out) == len(sampler) // 8 == 11  # ceil(87 / 8)
    for batch in out:
        counts = np.bincount([source_of(i, lens) for i in batch], minlength=3)
        assert counts.tolist() == [4, 2, 2]


def test_small_source_is_cycled_through_whole_permutations():
    lens = [40, 3]
    sampler = MultiSourceSampler(FakeCombined(lens), 4, [3, 1], seed=0)
    small = [i - 40 for b in batches(sampler, 4) for i in b if i >= 40]
    for start in range(0, len(small) - 2, 3):  # each run of 3 is a permutation of 0..2
        assert sorted(small[start:start + 3]) == [0, 1, 2]


@pytest.mark.parametrize("ratio, batch", [([1.0, 0.0], 8), ([1.0, 0.01], 16), ([0.0, 1.0], 4)])
def test_zero_allocation_is_an_error_not_a_hang(ratio, batch):
    with pytest.raises(ConfigError, match=r"get no sample per batch"):
        MultiSourceSampler(FakeCombined([10, 10]), batch, ratio)


def test_bad_sampler_arguments():
    with pytest.raises(ConfigError, match=r"2 values for 3 sources"):
        MultiSourceSampler(FakeCombined([1, 2, 3]), 4, [1, 1])
    with pytest.raises(ConfigError, match=r"needs a CombinedDataset"):
        MultiSourceSampler(list(range(10)), 4, [1])
    with pytest.raises(ConfigError, match=r"positive integer"):
        MultiSourceSampler(FakeCombined([4]), 0, [1])


def test_epochs_reshuffle_and_are_reproducible():
    ds = FakeCombined([20, 20])
    a = MultiSourceSampler(ds, 4, [1, 1], seed=7)
    first = batches(a, 4)
    a.set_epoch(1)
    second = batches(a, 4)
    assert first != second
    b = MultiSourceSampler(ds, 4, [1, 1], seed=7)
    b.set_epoch(1)
    assert batches(b, 4) == second
    # equal-length sources do not share one permutation (an MMPose quirk)
    block0 = [i for bt in first for i in bt if i < 20]
    block1 = [i - 20 for bt in first for i in bt if i >= 20]
    assert block0 != block1


def test_ranks_split_the_batches_without_overlap(monkeypatch):
    ds = FakeCombined([30, 10])
    seen = []
    for rank in range(2):
        monkeypatch.setattr("posemix.data.samplers.dist_info", lambda r=rank: (r, 2))
        sampler = MultiSourceSampler(ds, 4, [3, 1], seed=1)
        seen.append(batches(sampler, 4))
    assert len(seen[0]) == len(seen[1]) == 5  # ceil(ceil(40 / 2) / 4)
    # 10 batches in all draw each source once through: 30 = 10 x 3 and 10 = 10 x 1, so the
    # two ranks read disjoint halves that cover the dataset
    flat = [{i for b in batches_of_rank for i in b} for batches_of_rank in seen]
    assert sum(len(b) for b in seen[0]) == len(flat[0]) == 20
    assert not flat[0] & flat[1]
    assert flat[0] | flat[1] == set(range(40))
    monkeypatch.setattr("posemix.data.samplers.dist_info", lambda: (0, 1))
    single = MultiSourceSampler(ds, 4, [3, 1], seed=1)
    single.lens = ds.lens
    single.world_size = 2
    everything = batches(single, 4)  # rank 0's view of the same global draw
    assert everything == seen[0]
    for b1 in seen[1]:
        assert [source_of(i, ds.lens) for i in b1].count(0) == 3


def test_default_sampler_shuffles_per_epoch_and_pads_for_ranks(monkeypatch):
    data = list(range(10))
    s = DefaultSampler(data, shuffle=True, seed=0)
    e0 = [i for _, i in s]
    assert sorted(e0) == data and e0 != data
    s.set_epoch(1)
    e1 = [i for _, i in s]
    assert sorted(e1) == data and e1 != e0
    assert [k[0] for k in s] == [1] * 10  # keys carry the epoch
    assert [i for _, i in DefaultSampler(data, shuffle=False)] == data
    parts = []
    for rank in range(3):
        monkeypatch.setattr("posemix.data.samplers.dist_info", lambda r=rank: (r, 3))
        sampler = DefaultSampler(data, shuffle=False)
        parts.append([i for _, i in sampler])
        assert len(sampler) == 4
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]  # padded by repetition
    for rank in range(2):  # shuffled: still disjoint halves of one permutation
        monkeypatch.setattr("posemix.data.samplers.dist_info", lambda r=rank: (r, 2))
        parts[rank] = [i for _, i in DefaultSampler(data, shuffle=True, seed=5)]
    assert sorted(parts[0] + parts[1]) == data


def test_sampler_state_round_trip():
    s = DefaultSampler(list(range(5)), seed=4)
    s.set_epoch(3)
    t = DefaultSampler(list(range(5)))
    t.load_state_dict(s.state_dict())
    assert list(t) == list(s)
