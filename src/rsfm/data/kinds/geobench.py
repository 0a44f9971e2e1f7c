"""GEO-Bench v1 classification tasks (m-eurosat, m-bigearthnet, m-so2sat, m-brick-kiln): ``<task>/<sample>.hdf5``
plus ``<partition>_partition.json``, where ``<task>`` is the first entry of the registry's ``layout``. The official
partition is used as is (``valid`` is renamed ``val``); the prepared index is final. The band names and whether labels
are sets (``bands``, ``multilabel``) are facts of each task's registry entry."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data.classification import read_geobench_attrs, read_geobench_sample, write_index
from rsfm.data.kinds.base import Kind
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import Sample, one_per_class
from rsfm.errors import DataError
from rsfm.io import atomic_dir

_RGB = ("04 - Red", "03 - Green", "02 - Blue")  # Sentinel-2's visible bands, the colours of the figure


def _find_task_dir(extracted: Path, partition: str) -> Path:
    hits = sorted(extracted.rglob(f"{partition}_partition.json"))
    if not hits:
        raise DataError(f"no {partition}_partition.json under {extracted}: is the GEO-Bench task archive extracted?")
    return hits[0].parent


def prepare_geobench(
    extracted: str | Path,
    out_dir: str | Path,
    *,
    classes: Sequence[str],
    partition: str = "default",
    multilabel: bool = False,
) -> dict[str, pd.DataFrame]:
    """Index a GEO-Bench classification task from its partition file; labels are read from each sample."""
    import h5py

    extracted, out_dir = Path(extracted), Path(out_dir)
    task_dir = _find_task_dir(extracted, partition)
    partition_map = json.loads((task_dir / f"{partition}_partition.json").read_text())
    frames, band_names = {}, None
    for release_split, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        rows = []
        for sample in partition_map.get(release_split, []):
            path = task_dir / f"{sample}.hdf5"
            if not path.is_file():
                raise DataError(f"GEO-Bench sample {path} listed in {partition}_partition.json is missing")
            try:
                with h5py.File(path, "r") as handle:
                    attrs = read_geobench_attrs(handle)
                    band_names = band_names or [n for n in attrs.get("bands_order", []) if not n.startswith("label")]
                    label = attrs["label"]
            except (OSError, KeyError, ValueError) as error:
                raise DataError(f"cannot read GEO-Bench sample {path} ({error}): re-extract the archive") from error
            relative = path.relative_to(extracted).as_posix()
            plain = isinstance(label, int | np.integer | np.ndarray) or (
                isinstance(label, list | tuple) and all(isinstance(v, int | np.integer) for v in label)
            )  # a multi-label vector may be pickled as an array or a list
            vector = np.asarray(label) if plain else np.array([], object)
            if vector.dtype.kind not in "biu" or vector.size == 0:
                raise DataError(f"{path}: label {label!r} is not an integer or a vector of integers: re-extract")
            vector = vector.reshape(-1)
            if multilabel:
                if vector.size != len(classes):
                    raise DataError(f"{path}: {vector.size} labels, expected {len(classes)} (multi-label vector)")
                rows.append({"path": relative, "labels": " ".join(map(str, np.flatnonzero(vector)))})
            else:
                value = int(vector[0])
                if not 0 <= value < len(classes):
                    raise DataError(f"{path}: label {value} outside 0..{len(classes) - 1}")
                rows.append({"path": relative, "label": value, "label_name": classes[value]})
        if rows:
            frames[split] = pd.DataFrame(rows)
    if not frames:
        raise DataError(f"{task_dir / f'{partition}_partition.json'} lists no samples")
    meta = {
        "layout": "geobench", "classes": list(classes), "multilabel": multilabel, "bands": band_names or [],
        "image_root": os.path.relpath(extracted, out_dir), "partition": partition,
    }  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        write_index(tmp, frames, meta)
    return frames


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_geobench_like(
        out_dir, task=spec.layout[0], classes=spec.classes, band_names=spec.bands, multilabel=spec.multilabel,
        seed=seed, **options,
    )  # fmt: skip


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    prepare_geobench(
        extracted, out_dir, classes=spec.classes, partition=settings.get("partition", "default"),
        multilabel=spec.multilabel,
    )  # fmt: skip


def _samples(folder: Path, n: int) -> list[Sample]:
    """Visible bands stretched between their 2nd and 98th percentile (the first band thrice where they are absent)."""
    samples = []
    for path, title in one_per_class(folder, n):
        bands, names, _ = read_geobench_sample(path)
        picks = [names.index(b) for b in _RGB] if all(b in names for b in _RGB) else [0, 0, 0]
        rgb = bands[picks].transpose(1, 2, 0)
        low, high = np.percentile(rgb, 2), np.percentile(rgb, 98)
        image = (np.clip((rgb - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
        samples.append((image, [], title))
    return samples


KIND = Kind(name="geobench", synthesize=_synthesize, convert=_convert, samples=_samples)
