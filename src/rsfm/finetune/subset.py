"""Train on a fraction of a dataset: a seeded, nested subset wrapper for the OpenMMLab toolboxes.

The label-efficiency curves of the fine-tuning experiments (e.g. 1%, 5%, 10%, ... of DOTA or Potsdam) wrap the
training set in :class:`FractionSubset`, registered in mmengine's root ``DATASETS`` registry so that mmdet, mmrotate and
mmseg configs all find it (their registries are children of the root):

    train_dataloader = dict(dataset=dict(type='FractionSubset', fraction=0.1, seed=0,
                                         dataset=dict(type='DOTADataset', ...)))

Which samples are kept: ``k = max(1, round(fraction * N))`` of the ``N`` samples the inner dataset has after its own
filtering (``filter_empty_gt`` etc.), namely the first ``k`` entries of
``numpy.random.default_rng(seed).permutation(N)``, in ascending order. Taking prefixes of one permutation makes the
subsets nested for a seed: the 5% subset is part of the 10% subset, so differences along a curve come from the added
data, not from a different draw. ``round`` is Python's (halves go to the even neighbour).

The wrapper exposes what the samplers and loops of mmengine/mmdet/mmseg use: ``__len__`` (DefaultSampler,
InfiniteSampler), ``get_data_info`` (mmdet's AspectRatioBatchSampler reads ``width``/``height``), ``get_cat_ids`` and
``metainfo`` (mmdet's ClassAwareSampler; the loops hand ``metainfo`` to evaluators and visualizers) and ``full_init``
(called by ``Runner.build_dataloader``), with mmengine's lazy-init convention.
"""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.registry import DATASETS, DefaultScope


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


def _build(cfg: dict) -> BaseDataset:
    """Build the inner dataset through the root registry, which switches to the default scope's child registry."""
    try:
        return DATASETS.build(cfg)
    except KeyError as error:
        if DefaultScope.get_current_instance() is None and "." not in str(cfg.get("type", "")):
            raise KeyError(
                f"{error.args[0]} — FractionSubset builds its inner dataset {cfg.get('type')!r} through the default "
                f"scope; set default_scope in the config (the Runner then initialises it), call "
                f"mmengine.registry.init_default_scope(...), or give a scoped type such as 'mmrotate.DOTADataset'"
            ) from error
        raise


@DATASETS.register_module()
class FractionSubset:
    """A seeded fraction of another dataset; smaller fractions of one seed are subsets of larger ones.

    Args:
        dataset: the inner dataset, or its config (built through the registry of the default scope, as mmengine's
            own wrappers do).
        fraction: share of the inner dataset's samples to keep, in (0, 1]; 1 keeps all of them.
        seed: seed of the permutation the subset is a prefix of.
        lazy_init: defer loading the inner annotations (and choosing the subset) until first use or ``full_init``.
    """

    def __init__(self, dataset: BaseDataset | dict, fraction: float, seed: int = 0, lazy_init: bool = False) -> None:
        self.fraction = check_fraction(fraction)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        if isinstance(dataset, dict):
            self.dataset = _build(dataset)
        elif hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"):
            self.dataset = dataset
        else:
            raise TypeError(f"dataset must be a dataset or its config dict, got {type(dataset).__name__}")
        self._indices = np.zeros(0, dtype=np.int64)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The inner dataset's meta information (a copy, so callers cannot change the inner one)."""
        return copy.deepcopy(getattr(self.dataset, "metainfo", {}))

    def full_init(self) -> None:
        """Initialise the inner dataset and choose the subset; a no-op when already done."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, "full_init"):
            self.dataset.full_init()
        indices = subset_indices(len(self.dataset), self.fraction, self.seed)
        indices.flags.writeable = False
        self._indices = indices
        self._fully_initialized = True

    @property
    def indices(self) -> np.ndarray:
        """Indices into the inner dataset of the kept samples, ascending (read-only)."""
        self.full_init()
        return self._indices

    @force_full_init
    def _inner_index(self, idx: int) -> int:
        return int(self._indices[idx])  # IndexError past either end, negative indices count from the end

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The inner dataset's data info of the ``idx``-th kept sample."""
        return self.dataset.get_data_info(self._inner_index(idx))

    @force_full_init
    def get_cat_ids(self, idx: int) -> list[int]:
        """Category ids of the ``idx``-th kept sample (used by mmdet's ClassAwareSampler)."""
        return self.dataset.get_cat_ids(self._inner_index(idx))

    @force_full_init
    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> Any:
        return self.dataset[self._inner_index(idx)]

    def __repr__(self) -> str:
        kept = f"{len(self._indices)} samples" if self._fully_initialized else "not initialised"
        return f"FractionSubset(fraction={self.fraction:g}, seed={self.seed}, {kept} of {type(self.dataset).__name__})"
