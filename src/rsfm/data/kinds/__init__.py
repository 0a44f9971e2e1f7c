"""The dataset kinds, one module each, and the one table the data stage dispatches on.

A registry entry (:mod:`rsfm.data.registry`) names its kind; :func:`kind_of` gives the :class:`Kind` that
synthesizes, converts and tiles it. Adding a kind: a module here defining ``KIND`` and its entry in :data:`KINDS`
(docs/data-new-kind.md).
"""

from __future__ import annotations

from rsfm.data.kinds import class_folders, dior_r, dota, geobench, loveda, millionaid, potsdam
from rsfm.data.kinds.base import Kind
from rsfm.data.registry import DATASETS, DatasetSpec, get_dataset
from rsfm.errors import ConfigError

KINDS: dict[str, Kind] = {
    module.KIND.name: module.KIND for module in (millionaid, dota, dior_r, potsdam, loveda, class_folders, geobench)
}

# Checked once on import, as the registry checks its entries: a misspelt kind fails before any job is planned.
if unknown := sorted(f"{spec.name} ({spec.kind})" for spec in DATASETS.values() if spec.kind not in KINDS):
    raise ValueError(f"registry entries of unknown kinds: {', '.join(unknown)}; known kinds: {', '.join(KINDS)}")


def kind_of(dataset: str | DatasetSpec) -> Kind:
    """The kind of a dataset, given by name or registry entry."""
    spec = get_dataset(dataset) if isinstance(dataset, str) else dataset
    if spec.kind not in KINDS:
        raise ConfigError(f"dataset {spec.name!r} has unknown kind {spec.kind!r}; known kinds: {', '.join(KINDS)}")
    return KINDS[spec.kind]


__all__ = ["KINDS", "Kind", "kind_of"]
