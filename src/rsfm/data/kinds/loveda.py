"""LoveDA (Wang et al. 2021): index the release as distributed (1024 x 1024 PNGs, Urban and Rural domains) and lay it
out as mmsegmentation's LoveDA dataset expects (``img_dir/{train,val,test}``, ``ann_dir/{train,val}``).

Mask values are kept as released: 0 no-data, 1 background, 2 building, 3 road, 4 water, 5 barren, 6 forest,
7 agriculture. mmseg reads them with ``reduce_zero_label=True`` (no-data -> 255, classes -> 0..6), which is what the
LoveDA benchmark and paper 1 use. File names are unique across domains in the release, so domains share one folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data.kinds.base import Kind
from rsfm.data.parallel import parallel_map
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import MASK_COLOURS, segmentation_samples
from rsfm.errors import DataError
from rsfm.io import atomic_dir, link_or_copy, read_image, write_csv

CLASSES = ("no_data", "background", "building", "road", "water", "barren", "forest", "agriculture")
SPLITS = {"Train": "train", "Val": "val", "Test": "test"}
DOMAINS = ("Urban", "Rural")


def find_pairs(extracted: str | Path) -> pd.DataFrame:
    """One row per image: split, domain, image path, mask path (None for Test). DataError on a broken layout."""
    extracted = Path(extracted)
    rows, problems = [], []
    for release_split, split in SPLITS.items():
        for domain in DOMAINS:
            image_dir = extracted / release_split / domain / "images_png"
            if not image_dir.is_dir():
                problems.append(str(image_dir.relative_to(extracted)))
                continue
            for image in sorted(image_dir.glob("*.png")):
                mask = extracted / release_split / domain / "masks_png" / image.name
                if split != "test" and not mask.is_file():
                    problems.append(str(mask.relative_to(extracted)))
                    continue
                rows.append(
                    {
                        "split": split,
                        "domain": domain,
                        "name": image.name,
                        "image": image,
                        "mask": mask if split != "test" else None,
                    }
                )
    if problems:
        raise DataError(
            f"LoveDA layout under {extracted} is incomplete; missing: {', '.join(problems[:6])}"
            + (f" and {len(problems) - 6} more" if len(problems) > 6 else "")
            + " (extract Train.zip, Val.zip and Test.zip there)"
        )
    index = pd.DataFrame(rows)
    duplicated = index.duplicated(["split", "name"])
    if duplicated.any():
        raise DataError(f"LoveDA file names repeat across domains: {index[duplicated]['image'].head(3).tolist()}")
    return index


def _mask_counts(mask_path: Path) -> np.ndarray:
    mask = read_image(mask_path)
    if mask.ndim != 2:
        raise DataError(f"LoveDA mask {mask_path} should be single-channel, has shape {mask.shape}")
    if mask.max(initial=0) >= len(CLASSES):
        raise DataError(f"LoveDA mask {mask_path} has value {mask.max()} outside 0..7")
    return np.bincount(mask.ravel(), minlength=len(CLASSES))


def prepare(extracted: str | Path, out_dir: str | Path, *, workers: int = 2) -> pd.DataFrame:
    """Write the mmseg layout (hard links), ``index.csv`` and per-class pixel ``counts.csv`` atomically."""
    pairs = find_pairs(extracted)
    with atomic_dir(out_dir) as tmp:
        for row in pairs.itertuples():
            link_or_copy(row.image, tmp / "img_dir" / row.split / row.name)
            if row.mask is not None:
                link_or_copy(row.mask, tmp / "ann_dir" / row.split / row.name)
        index = pairs[["split", "domain", "name"]]
        labelled = pairs[pairs["mask"].notna()].reset_index(drop=True)
        counts = parallel_map(_mask_counts, list(labelled["mask"]), workers=workers, desc="loveda masks")
        pixel_counts = pd.DataFrame(counts, columns=list(CLASSES)).assign(split=labelled["split"])
        tidy = (
            pixel_counts.groupby("split")
            .sum()
            .reset_index()
            .melt(id_vars="split", var_name="class", value_name="count")
            .assign(unit="pixels")
        )
        images = index.groupby("split").size().rename("count").reset_index().assign(**{"class": "*", "unit": "images"})
        write_csv(index, tmp / "index.csv")
        write_csv(pd.concat([images, tidy])[["split", "class", "count", "unit"]], tmp / "counts.csv")
    return index


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_loveda_like(out_dir, seed=seed, **options)


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    prepare(extracted, out_dir, workers=workers)


# No tile step: the prepared folder is final, its 1024 x 1024 images are cropped at random while training.
KIND = Kind(
    name="loveda", synthesize=_synthesize, convert=_convert,
    samples=partial(segmentation_samples, palette=MASK_COLOURS[: len(CLASSES)]),
)  # fmt: skip
