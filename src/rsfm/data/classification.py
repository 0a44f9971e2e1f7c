"""Scene classification sets: one index per split (path, label or labels) plus ``meta.json`` with the class names.

Two layouts are supported:
- class folders (EuroSAT, UC Merced, AID, NWPU-RESISC45): ``<top>/<class>/<image>``; these ship without an official
  split, so a stratified split is drawn with a fixed seed (the fractions and seed are in the config and in meta.json).
- GEO-Bench v1 (m-eurosat, m-bigearthnet, m-so2sat, m-brick-kiln): ``<task>/<sample>.hdf5`` plus
  ``<partition>_partition.json``; its official partition is used as is (``valid`` is renamed ``val``).

Paths in the index are relative to ``meta.json``'s ``image_root`` (itself relative to the index folder), so the data
folder can move as a whole.
"""

from __future__ import annotations

import ast
import json
import os
import zlib
from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data import geobench_pickle
from rsfm.errors import DataError
from rsfm.io import atomic_dir, atomic_write

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}

_S2 = (
    "01 - Coastal aerosol", "02 - Blue", "03 - Green", "04 - Red", "05 - Vegetation Red Edge",
    "06 - Vegetation Red Edge", "07 - Vegetation Red Edge", "08 - NIR", "08A - Vegetation Red Edge",
    "09 - Water vapour", "10 - SWIR - Cirrus", "11 - SWIR", "12 - SWIR",
)  # fmt: skip
_S1 = ("01 - VH.Real", "02 - VH.Imaginary", "03 - VV.Real", "04 - VV.Imaginary", "05 - VH.LEE Filtered",
       "06 - VV.LEE Filtered", "07 - VH.LEE Filtered.Real", "08 - VV.LEE Filtered.Imaginary")  # fmt: skip
# Band descriptors of the GEO-Bench v1 classification tasks (Sentinel-2 L1C; m-bigearthnet is L2A without B10;
# m-so2sat stacks Sentinel-1 and ten Sentinel-2 bands). The reader itself always follows each file's bands_order.
GEOBENCH_TASKS: dict[str, dict[str, Any]] = {
    "geobench_m_eurosat": {"task": "m-eurosat", "bands": _S2, "multilabel": False},
    "geobench_m_bigearthnet": {"task": "m-bigearthnet", "bands": tuple(b for b in _S2 if not b.startswith("10")),
                               "multilabel": True},
    "geobench_m_so2sat": {"task": "m-so2sat", "bands": _S1 + tuple(b for b in _S2 if b[:2] not in {"01", "09", "10"}),
                          "multilabel": False},
    "geobench_m_brick_kiln": {"task": "m-brick-kiln", "bands": _S2, "multilabel": False},
}  # fmt: skip


def _write_index(tmp: Path, splits: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    for split, frame in splits.items():
        with atomic_write(tmp / f"{split}.csv") as handle:
            frame.to_csv(handle, index=False)
    with atomic_write(tmp / "meta.json") as handle:
        json.dump(meta, handle, indent=2)
    classes = meta["classes"]
    rows = []
    for split, frame in splits.items():
        rows.append({"split": split, "class": "*", "count": len(frame), "unit": "images"})
        if meta["multilabel"]:
            hits = np.zeros(len(classes), dtype=np.int64)
            for labels in frame["labels"]:
                hits[[int(v) for v in str(labels).split()]] += 1
        else:
            hits = np.bincount(frame["label"].to_numpy(), minlength=len(classes))
        rows += [
            {"split": split, "class": name, "count": int(n), "unit": "images"}
            for name, n in zip(classes, hits, strict=True)
        ]
    with atomic_write(tmp / "counts.csv") as handle:
        pd.DataFrame(rows).to_csv(handle, index=False)


def _image_folders(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and any(_is_image(f) for f in d.iterdir()))


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _find_class_root(extracted: Path, min_classes: int = 2) -> Path:
    """The folder whose sub-folders are the classes: the shallowest one with >= 2 sub-folders holding images."""
    candidates = [extracted, *sorted(p for p in extracted.rglob("*") if p.is_dir())]
    for folder in candidates:
        if len(_image_folders(folder)) >= min_classes:
            return folder
    raise DataError(f"no class folders (<class>/<image files>) found under {extracted}")


def _band_count(tif: Path) -> int:
    import tifffile

    try:
        with tifffile.TiffFile(tif) as handle:  # the header only
            series = handle.series[0]
            shape, axes = series.shape, series.axes
    except Exception as error:  # tifffile raises its own errors for non-TIFFs
        raise DataError(f"cannot read {tif} ({error}): delete it and re-extract the dataset") from error
    if "S" in axes:  # samples per pixel, interleaved (YXS) or planar (SYX)
        return shape[axes.index("S")]
    return shape[0] if len(shape) == 3 else 1  # a stack of single-band pages


def _refuse_multiband(class_root: Path, folders: Sequence[Path], known_classes: Sequence[str]) -> None:
    """Class-folder sets are read as RGB images: refuse multispectral releases (EuroSAT's 13-band GeoTIFFs)."""
    tifs = [next(f for f in sorted(d.iterdir()) if _is_image(f)) for d in folders]
    tifs = [f for f in tifs if f.suffix.lower() in {".tif", ".tiff"}][:3]  # jpg/png hold at most 4 channels
    many = next(((f, n) for f in tifs if (n := _band_count(f)) > 4), None)
    if many is None:
        return
    sample, bands = many
    from rsfm.data.registry import EUROSAT_CLASSES

    if set(known_classes) == set(EUROSAT_CLASSES) or "sentinel_2/tif" in class_root.as_posix():
        raise DataError(
            f"{class_root} is EuroSAT's 13-band release (EuroSATallBands.zip: "
            f"ds/images/remote_sensing/otherDatasets/sentinel_2/tif/<Class>/*.tif; {sample.name} has {bands} bands), "
            "but the eurosat dataset is the RGB release EuroSAT.zip (2750/<Class>/*.jpg). Use `source: official` to "
            "download it, or extract EuroSAT.zip yourself and set `path:` to the folder holding 2750/. For all 13 "
            "Sentinel-2 bands use the dataset geobench_m_eurosat (GEO-Bench's EuroSAT)."
        )
    raise DataError(
        f"{sample} has {bands} bands, but class-folder datasets are read as RGB images: point `path:` at the "
        "dataset's RGB release"
    )


def _class_order(class_root: Path, folders: Sequence[str], known_classes: Sequence[str]) -> list[str]:
    """The dataset's fixed class order (labels are indices into it); sorted folder names for an unknown dataset."""
    if not known_classes:
        return sorted(folders)
    unknown = [name for name in folders if name not in known_classes]
    if unknown:
        hints = [f"{name!r}" + "".join(f" (did you mean {c!r}?)" for c in get_close_matches(name, known_classes, 1))
                 for name in unknown]  # fmt: skip
        raise DataError(
            f"{class_root}: the folders {', '.join(hints)} are not classes of this dataset, whose classes are "
            f"{list(known_classes)}; rename or remove them (labels follow the dataset's fixed class order)"
        )
    missing = [name for name in known_classes if name not in folders]
    if missing:
        raise DataError(
            f"{class_root}: class folders {missing} are missing or hold no images ({len(folders)} of the "
            f"{len(known_classes)} classes found): a partial release is almost certainly an incomplete extraction; "
            "re-extract the complete archive"
        )
    return list(known_classes)


def stratified_split(class_names: Sequence[str], fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Per class, shuffle with ``seed`` and cut by the fractions; every class keeps at least one training item.

    Each class draws from its own generator keyed by (seed, class name), so the split of a class does not depend on
    how classes are numbered or which other classes exist.
    """
    names = [name for name in ("train", "val", "test") if fractions.get(name, 0) > 0]
    class_names = np.asarray(class_names)
    out: dict[str, list[int]] = {name: [] for name in names}
    for cls in np.unique(class_names):
        rng = np.random.default_rng([seed, zlib.crc32(str(cls).encode())])
        members = rng.permutation(np.flatnonzero(class_names == cls))
        bounds = np.round(np.cumsum([fractions[n] for n in names]) * len(members)).astype(int)
        bounds[-1] = len(members)
        start = 0
        for name, stop in zip(names, bounds, strict=True):
            stop = max(stop, start + 1) if name == "train" else max(stop, start)
            out[name].extend(members[start:stop].tolist())
            start = stop
    return {name: np.sort(np.array(idx, dtype=np.int64)) for name, idx in out.items()}


def prepare_class_folders(
    extracted: str | Path,
    out_dir: str | Path,
    *,
    fractions: dict[str, float],
    seed: int = 0,
    known_classes: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """Index a class-folder dataset of RGB images with a seeded stratified split.

    Labels are indices into ``known_classes`` (the registry's fixed order): every class folder must be there and no
    other. Without ``known_classes`` the classes are the sorted folder names.
    """
    extracted, out_dir = Path(extracted), Path(out_dir)
    class_root = _find_class_root(extracted)
    folders = _image_folders(class_root)
    _refuse_multiband(class_root, folders, known_classes)
    classes = _class_order(class_root, [d.name for d in folders], known_classes)
    paths, labels = [], []
    for label, name in enumerate(classes):
        for image in sorted((class_root / name).iterdir()):
            if _is_image(image):
                paths.append(image.relative_to(extracted).as_posix())
                labels.append(label)
    labels_arr = np.array(labels)
    parts = stratified_split([classes[i] for i in labels], fractions, seed)
    frames = {
        split: pd.DataFrame(
            {
                "path": [paths[i] for i in idx],
                "label": labels_arr[idx],
                "label_name": [classes[j] for j in labels_arr[idx]],
            }
        )
        for split, idx in parts.items()
    }
    meta = {
        "layout": "class_folders", "classes": classes, "multilabel": False,
        "image_root": os.path.relpath(extracted, out_dir), "split": {"fractions": fractions, "seed": seed},
    }  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        _write_index(tmp, frames, meta)
    return frames


# --- GEO-Bench -------------------------------------------------------------------------------------------------------


def read_geobench_attrs(handle: Any) -> dict[str, Any]:
    """The metadata of an open GEO-Bench sample (``attrs["pickle"]``), read without executing anything from it.

    The label and ``bands_order`` exist only in this pickle; see :mod:`rsfm.data.geobench_pickle` for what it accepts.
    """
    path = getattr(handle, "filename", "<GEO-Bench sample>")
    raw = handle.attrs.get("pickle")
    if raw is None:
        raise DataError(f"GEO-Bench sample {path} has no 'pickle' attribute: re-extract the task archive")
    raw = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    limit = 4 * geobench_pickle.MAX_PICKLE_BYTES + 3  # str(bytes) spells a byte in at most 4 characters
    if not isinstance(raw, str) or len(raw) > limit:
        size = f"{len(raw)} characters" if isinstance(raw, str) else type(raw).__name__
        raise DataError(
            f"GEO-Bench sample {path}: its 'pickle' attribute is {size}, not a bytes literal of at most {limit}: the "
            "file is damaged or not a GEO-Bench sample; delete it and re-extract the archive"
        )
    try:
        data = ast.literal_eval(raw) if raw[:2] in ("b'", 'b"') else None
        if not isinstance(data, bytes):
            raise ValueError("the 'pickle' attribute is not a bytes literal")
        attrs = geobench_pickle.loads(data)
    except geobench_pickle.UnsafePickle as error:
        raise DataError(
            f"GEO-Bench sample {path}: refusing to unpickle {error}: GEO-Bench never writes it, so this file was not "
            "written by GEO-Bench and may be malicious. Delete it and re-extract the official archive."
        ) from None
    except Exception as error:  # a damaged pickle can fail in many ways; none of them ran code from it
        raise DataError(f"cannot read the metadata of GEO-Bench sample {path} ({type(error).__name__}: {error}): "
                        "the file is damaged; re-extract the task archive") from error  # fmt: skip
    if not isinstance(attrs, dict):
        raise DataError(f"GEO-Bench sample {path}: its metadata is a {type(attrs).__name__}, not a dict: re-extract "
                        "the task archive")  # fmt: skip
    return attrs


def read_geobench_sample(path: str | Path, bands: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], Any]:
    """Read one GEO-Bench sample: (array C x H x W float32, band names, label).

    Bands keep the file's ``bands_order`` unless ``bands`` selects (and orders) a subset by name.
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            attrs = read_geobench_attrs(handle)
            names = [n for n in attrs.get("bands_order", list(handle.keys())) if not n.startswith("label")]
            wanted = list(bands) if bands is not None else names
            missing = [n for n in wanted if n not in handle]
            if missing:
                raise DataError(f"{path}: bands {missing} not in the sample (it has {names})")
            array = np.stack([np.asarray(handle[n], dtype=np.float32) for n in wanted])
            label = attrs.get("label")
            if label is None and "label" in handle:
                label = np.asarray(handle["label"])
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"cannot read GEO-Bench sample {path} ({error}): re-extract the task archive") from error
    return array, wanted, label


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
        _write_index(tmp, frames, meta)
    return frames
