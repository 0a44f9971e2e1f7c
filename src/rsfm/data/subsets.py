"""Nested, seeded fractions of a dataset: the one rule both stages use to train on part of their data (fine-tuning's
label-efficiency fractions, :class:`rsfm.finetune.subset.FractionSubset`; pretraining's data fractions,
:class:`rsfm.pretrain.data.ShardImages`).

Which samples are kept: ``k = max(1, round(fraction * N))`` of ``N``, namely the first ``k`` entries of
``numpy.random.default_rng(seed).permutation(N)``, in ascending order. Taking prefixes of one permutation makes the
subsets nested for a seed: the 10% subset is part of the 30% subset, so differences along a curve come from the added
data, not from a different draw. ``round`` is Python's (halves go to the even neighbour).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def subset_size(n: int, fraction: float) -> int:
    """Samples kept of ``n``: ``max(1, round(fraction * n))``."""
    return max(1, round(fraction * n))


def check_fraction(fraction: Any) -> float:
    """``fraction`` as a float in (0, 1]; TypeError for non-numbers, ValueError (naming value and range) otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"fraction must be a number in (0, 1], got {fraction!r} ({type(fraction).__name__})")
    value = float(fraction)
    if not math.isfinite(value) or not 0 < value <= 1:
        raise ValueError(f"fraction must be in (0, 1] (0 < fraction <= 1), got {fraction!r}")
    return value


def subset_indices(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the ``fraction`` subset of ``range(n)`` for ``seed`` (nested across fractions)."""
    if n <= 0:
        raise ValueError("cannot take a fraction of an empty dataset (0 samples after its own filtering)")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: subset_size(n, check_fraction(fraction))])


__all__ = ["check_fraction", "subset_indices", "subset_size"]
