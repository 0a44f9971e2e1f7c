"""What every dataset kind provides: the :class:`Kind` the data stage dispatches on, and helpers kinds share.

A kind is one family of releases that the data stage treats alike (DOTA's layout, GEO-Bench's HDF5 tasks, ...);
a registry entry names its kind in ``DatasetSpec.kind``. The kind's steps get the registry entry (the facts of the
release) and the dataset's validated settings (``data.datasets.<name>``), so per-dataset facts stay in the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import Sample
from rsfm.io import atomic_dir, atomic_write, write_csv


class Synthesize(Protocol):
    """Write synthetic data in the raw layout of the release into ``out_dir``; returns what it wrote."""

    def __call__(
        self, spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
    ) -> dict[str, Any]: ...


class Step(Protocol):
    """Read ``source`` (the extracted release, or the prepared folder) and write ``out_dir`` atomically."""

    def __call__(
        self, spec: DatasetSpec, settings: Mapping[str, Any], source: Path, out_dir: Path, *, workers: int
    ) -> None: ...


class Samples(Protocol):
    """``n`` (image, oriented objects, title) triples of the final folder for the data-stage figure."""

    def __call__(self, folder: Path, n: int) -> list[Sample]: ...


class CheckSettings(Protocol):
    """Problems with the settings (found at ``key``, e.g. ``data.datasets.potsdam``) that the schema cannot see."""

    def __call__(self, key: str, settings: Mapping[str, Any]) -> Iterator[str]: ...


def no_checks(key: str, settings: Mapping[str, Any]) -> Iterator[str]:
    """The schema says all there is to say about these settings."""
    yield from ()


@dataclass(frozen=True)
class Kind:
    """How the data stage makes one kind of dataset: synthesize or extract -> convert -> (tile).

    ``tile`` None means the prepared folder is what later stages read: the final stage follows from it.
    """

    name: str
    convert: Step
    samples: Samples
    synthesize: Synthesize | None = None  # None: no synthetic copy (``source: synthetic`` is refused)
    tile: Step | None = None
    check_settings: CheckSettings = no_checks
    # version of what ``tile`` writes: a rule param, so a change of layout rebuilds tiles made by older code
    layout: int = 1

    @property
    def final_stage(self) -> str:
        """The last data folder made for datasets of this kind: ``tiles/<name>`` or ``prepared/<name>``."""
        return "prepared" if self.tile is None else "tiles"


def write_tables(out_dir: str | Path, tables: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    """A prepared folder of CSV tables plus ``meta.json``, written atomically."""
    with atomic_dir(out_dir) as tmp:
        for file_name, frame in tables.items():
            write_csv(frame, tmp / file_name)
        with atomic_write(tmp / "meta.json") as handle:
            json.dump(meta, handle, indent=2)


def image_root(prepared: Path) -> Path:
    """The extracted release a prepared folder indexes (``meta.json``'s ``image_root``, relative to the folder)."""
    return prepared / json.loads((prepared / "meta.json").read_text())["image_root"]
