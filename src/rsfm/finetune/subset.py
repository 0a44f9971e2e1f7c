"""Train on a fraction of a dataset: a seeded, nested subset wrapper for the OpenMMLab toolboxes.

The label-efficiency curves of the fine-tuning experiments (e.g. 1%, 5%, 10%, ... of DOTA or Potsdam) wrap the
training set in :class:`FractionSubset`, registered in mmengine's root ``DATASETS`` registry so that mmdet, mmrotate and
mmseg configs all find it (their registries are children of the root):

    train_dataloader = dict(dataset=dict(type='FractionSubset', fraction=0.1, seed=0,
                                         dataset=dict(type='DOTADataset', ...)))

Which samples are kept, and why the subsets are nested: :mod:`rsfm.data.subsets`.

The wrapper exposes what the samplers and loops of mmengine/mmdet/mmseg use: ``__len__`` (DefaultSampler,
InfiniteSampler), ``get_data_info`` (mmdet's AspectRatioBatchSampler reads ``width``/``height``), ``get_cat_ids`` and
``metainfo`` (mmdet's ClassAwareSampler; the loops hand ``metainfo`` to evaluators and visualizers) and ``full_init``
(called by ``Runner.build_dataloader``), with mmengine's lazy-init convention.
"""

from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.registry import DATASETS, DefaultScope

from rsfm.data.subsets import check_fraction, subset_indices


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
