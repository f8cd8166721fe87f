"""Source balancing by rule (share ∝ nᵢ^(1/T)): probabilities by hand, the epoch it gives,
reproducibility, resume, and what ``posemix inspect`` shows of it."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from posemix.api import build_dataset, load_config
from posemix.cli import main
from posemix.data.balance import apportion, balanced_lengths, balanced_shares
from posemix.data.samplers import DefaultSampler, MultiSourceSampler
from posemix.errors import ConfigError
from tests.test_combined import COMBINE, fixture_options
from tests.test_samplers import FakeCombined


def test_shares_by_hand():
    # T=1: in proportion to size; T=2: square roots 10 and 20; T=inf: uniform
    np.testing.assert_allclose(balanced_shares([100, 400], 1.0), [0.2, 0.8])
    np.testing.assert_allclose(balanced_shares([100, 400], 2.0), [1 / 3, 2 / 3])
    np.testing.assert_allclose(balanced_shares([100, 400], math.inf), [0.5, 0.5])
    # T=0.5 sharpens: 100² : 400² = 1 : 16; an empty source never gets a share
    np.testing.assert_allclose(balanced_shares([100, 400, 0], 0.5), [1 / 17, 16 / 17, 0])
    with pytest.raises(ConfigError, match="non-empty"):
        balanced_shares([0, 0], 2.0)


def test_lengths_keep_the_epoch_by_largest_remainder():
    assert balanced_lengths([100, 400], 2.0) == [167, 333]  # 166.67, 333.33
    assert balanced_lengths([100, 400], 1.0) == [100, 400]
    # 3 equal shares of 10: 3.33 each, the leftover goes to the first source
    assert apportion(np.full(3, 1 / 3), 10) == [4, 3, 3]


@pytest.fixture(scope="module")
def balanced(fixtures_dir, request):
    """The seed's combine config on the fixtures (12 COCO and 9 AIC instances), T=2."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        cfg.train_dataloader.dataset.pipeline = []
        cfg.train_dataloader.dataset.balance = dict(temperature=2.0)
        return build_dataset(cfg, "train")


def test_combined_dataset_balances_by_rule(balanced):
    # √12 : √9 = 3.4641 : 3 → 11.254 and 9.746 of 21 slots → 11 and 10
    assert balanced.original_lens == [12, 9] and balanced.lens == [11, 10]
    rows = [balanced.locate(i, epoch=0) for i in range(len(balanced))]
    for source, (n, m) in enumerate([(12, 11), (9, 10)]):
        drawn = [r for s, r in rows if s == source]
        assert len(drawn) == m
        # stratified: slot k draws from rows [k, k+1) * n / m
        assert all(k * n // m <= r < (k + 1) * n / m for k, r in enumerate(drawn))


def test_balance_is_reproducible_per_epoch_and_differs_between_epochs(balanced, fixtures_dir,
                                                                      request):
    def epoch_rows(dataset, epoch):
        return [dataset.locate(i, epoch=epoch) for i in range(len(dataset))]

    first = [epoch_rows(balanced, e) for e in range(6)]
    again = balanced.__class__.__new__(balanced.__class__)
    again.__dict__.update(balanced.__dict__)  # a fresh copy (as in a DataLoader worker)
    assert [epoch_rows(again, e) for e in range(6)] == first
    assert len({tuple(r) for r in first}) > 1  # each epoch draws its own rows


def test_balanced_epoch_resumes_where_it_stopped(balanced):
    """A run stopped after epoch 2 continues with exactly the stream of an unbroken run."""
    def stream(sampler, epoch):
        sampler.set_epoch(epoch)
        return [(e, balanced.locate(i, epoch=e)) for e, i in sampler]

    unbroken = DefaultSampler(balanced, shuffle=True, seed=7)
    expected = stream(unbroken, 3)
    stopped = DefaultSampler(balanced, shuffle=True, seed=7)
    stopped.set_epoch(2)
    resumed = DefaultSampler(balanced, shuffle=True, seed=0)
    resumed.load_state_dict(stopped.state_dict())
    assert stream(resumed, 3) == expected


def test_multi_source_sampler_balances_batches():
    sampler = MultiSourceSampler(FakeCombined([100, 400]), 12, balance=dict(temperature=2.0))
    assert sampler.num_per_source == [4, 8]  # shares 1/3, 2/3 of 12
    uniform = MultiSourceSampler(FakeCombined([100, 400]), 12, balance=dict(temperature=1e9))
    assert uniform.num_per_source == [6, 6]


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one"),
    (dict(source_ratio=[1, 1], balance=dict(temperature=2)), "exactly one"),
    (dict(balance=dict(temperature=0)), "must be a number > 0"),
    (dict(balance=dict(temp=2)), r"exactly the key\(s\) \['temperature'\]"),
])
def test_bad_balance_configs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MultiSourceSampler(FakeCombined([10, 10]), 4, **kwargs)


def test_balance_and_factors_exclude_each_other(fixtures_dir, request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        cfg.train_dataloader.dataset.balance = dict(temperature=2.0)
        cfg.train_dataloader.dataset.sample_ratio_factor = [1.0, 1.0]
        with pytest.raises(ConfigError, match="not both"):
            build_dataset(cfg, "train")


def inspect(request, fixtures_dir, capsys, *options, as_json=True):
    argv = ["inspect", str(request.config.rootpath / COMBINE)] + (["--json"] if as_json else [])
    argv += ["--cfg-options", *fixture_options(fixtures_dir), *options]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out) if as_json else out


def test_inspect_shows_each_sources_epoch_share(fixtures_dir, request, capsys):
    plain = inspect(request, fixtures_dir, capsys)
    assert plain["sampling"] == "in proportion to size"
    assert [s["epoch_share"] for s in plain["sources"]] == [round(12 / 21, 6), round(9 / 21, 6)]
    summary = inspect(request, fixtures_dir, capsys,
                      "train_dataloader.dataset.balance.temperature=2.0")
    assert summary["sampling"].startswith("balance temperature=2")
    assert [s["epoch_share"] for s in summary["sources"]] == [round(11 / 21, 6),
                                                              round(10 / 21, 6)]
    text = inspect(request, fixtures_dir, capsys,
                   "train_dataloader.sampler.type=MultiSourceSampler",
                   "train_dataloader.sampler.balance.temperature=1.0", as_json=False)
    # the seed's batch of 64 split 12 : 9 → 36.57 and 27.43 → 37 and 27
    assert "[37, 27] per batch" in text
    assert f"epoch share     : {100 * 37 / 64:.1f}%" in text
