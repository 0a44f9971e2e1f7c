"""Class-folder scene sets (EuroSAT, UC Merced, AID, NWPU-RESISC45): ``<top>/<class>/<image>``, where ``<top>`` is
the first entry of the registry's ``layout``. They ship without an official split, so a stratified split is drawn with
a fixed seed (the fractions and seed are in the config and in meta.json); the prepared index is final."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data.classification import write_index
from rsfm.data.kinds.base import Kind
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import Sample, one_per_class
from rsfm.errors import DataError
from rsfm.io import atomic_dir, read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


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
        write_index(tmp, frames, meta)
    return frames


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_class_folders_like(
        out_dir, top=spec.layout[0], classes=spec.classes, ext=spec.image_suffix, seed=seed, **options
    )


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    split = dict(settings.get("split", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}))
    seed = split.pop("seed", 0)
    prepare_class_folders(extracted, out_dir, fractions=split, seed=seed, known_classes=spec.classes)


def _samples(folder: Path, n: int) -> list[Sample]:
    return [(read_image(path, mode="RGB"), [], title) for path, title in one_per_class(folder, n)]


KIND = Kind(name="class_folders", synthesize=_synthesize, convert=_convert, samples=_samples)
