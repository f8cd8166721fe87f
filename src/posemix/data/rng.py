"""One random generator per sample, from (seed, epoch, index) alone.

Every random pipeline step draws from the sample's generator and nothing else, so a
sample's augmentation does not depend on worker count, worker order or what ran before.
"""

from __future__ import annotations

import numpy as np


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch`` of a run seeded with ``seed``."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])
