"""ISPRS Potsdam: pair the 6000 x 6000 ortho tiles with their colour labels, map colours to class indices and cut
overlapping crops in mmsegmentation's ``img_dir/<split>``, ``ann_dir/<split>`` layout.

Unlike mmseg's own converter (whose crop loop ignores its stride argument), crops here really step by ``stride``;
the last crop of a row/column is flush with the tile edge, so every pixel is covered.

Class indices follow mmseg's Potsdam dataset: 0 impervious surfaces, 1 building, 2 low vegetation, 3 tree, 4 car,
5 clutter/background. With ``clutter="ignore"`` clutter becomes 255 (not trained on). Black (0,0,0) pixels of the
eroded labels (``5_Labels_all_noBoundary``) are object boundaries and become 255. The RS literature trains on all
six classes and reports OA/mF1 on the five foreground classes; the evaluation stage applies that convention.
Because indices start at 0 with 255 as ignore, mmseg's ``PotsdamDataset`` must be used with
``reduce_zero_label=False`` (its default assumes mmseg's converter, which writes boundaries as 0 and classes as 1..6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.data.dota_split import sliding_windows
from rsfm.data.parallel import parallel_map
from rsfm.errors import DataError
from rsfm.io import atomic_dir, atomic_write, read_image, write_image

CLASSES = ("impervious_surface", "building", "low_vegetation", "tree", "car", "clutter")
PALETTE = ((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))
BOUNDARY = (0, 0, 0)
IGNORE_INDEX = 255
# Real ISPRS label rasters contain a few pixels of off-palette colours (JPEG-like artefacts at some edges); above this
# share a tile is most likely not a label raster at all (e.g. an RGB tile in the label folder).
MAX_UNKNOWN_COLOUR_SHARE = 0.01

_TILE_ID = re.compile(r"top_potsdam_(\d+_\d+)_(RGB|label|label_noBoundary)\.tif$")


@dataclass(frozen=True)
class PotsdamTile:
    tile_id: str
    split: str
    image: Path
    label: Path


def find_tiles(extracted: str | Path, splits: dict[str, list[str]], labels: str = "eroded") -> list[PotsdamTile]:
    """Locate the RGB and label TIFF of every configured tile id; DataError lists what is missing."""
    extracted = Path(extracted)
    found: dict[tuple[str, str], Path] = {}
    for path in extracted.rglob("top_potsdam_*.tif"):
        match = _TILE_ID.search(path.name)
        if match:
            found[(match.group(1), match.group(2))] = path
    label_kind = "label_noBoundary" if labels == "eroded" else "label"
    tiles, missing = [], []
    for split, tile_ids in splits.items():
        for tile_id in tile_ids:
            image, label = found.get((tile_id, "RGB")), found.get((tile_id, label_kind))
            if image is None:
                missing.append(f"top_potsdam_{tile_id}_RGB.tif")
            if label is None:
                missing.append(f"top_potsdam_{tile_id}_{label_kind}.tif")
            if image is not None and label is not None:
                tiles.append(PotsdamTile(tile_id, split, image, label))
    if missing:
        raise DataError(
            f"Potsdam files missing under {extracted}: {', '.join(missing[:8])}"
            + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            + " (2_Ortho_RGB.zip and 5_Labels_all[_noBoundary].zip must be extracted there; check data.datasets."
            "potsdam.splits for tile ids that the release does not have)"
        )
    return tiles


def colour_to_index(label_rgb: np.ndarray, *, clutter: str = "class", source: str = "label") -> np.ndarray:
    """Map an (H, W, 3) ISPRS colour label to class indices; boundaries and unknown colours -> 255."""
    if label_rgb.ndim != 3 or label_rgb.shape[2] < 3:
        raise DataError(f"{source}: expected an RGB colour label raster, got shape {label_rgb.shape}")
    rgb = label_rgb[..., :3].astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lut_keys = np.array([(r << 16) | (g << 8) | b for r, g, b in PALETTE], dtype=np.uint32)
    lut_values = np.arange(len(PALETTE), dtype=np.uint8)
    if clutter == "ignore":
        lut_values[CLASSES.index("clutter")] = IGNORE_INDEX
    order = np.argsort(lut_keys)
    position = np.clip(np.searchsorted(lut_keys[order], packed), 0, len(order) - 1)
    hit = lut_keys[order][position] == packed
    index = np.where(hit, lut_values[order][position], IGNORE_INDEX).astype(np.uint8)
    boundary = packed == ((BOUNDARY[0] << 16) | (BOUNDARY[1] << 8) | BOUNDARY[2])
    unknown_share = float((~hit & ~boundary).mean())
    if unknown_share > MAX_UNKNOWN_COLOUR_SHARE:
        raise DataError(
            f"{source}: {unknown_share:.1%} of pixels have colours outside the ISPRS palette; is this a label raster?"
        )
    return index


def _crop_tile(args: tuple[PotsdamTile, Path, int, int, str]) -> list[dict]:
    tile, out_dir, size, stride, clutter = args
    image = read_image(tile.image)[..., :3]
    label = colour_to_index(read_image(tile.label), clutter=clutter, source=str(tile.label))
    if image.shape[:2] != label.shape:
        raise DataError(f"{tile.image} is {image.shape[:2]} but its label {tile.label} is {label.shape}")
    height, width = label.shape
    records = []
    for x, y in sliding_windows(width, height, size, size - stride):
        name = f"{tile.tile_id}_{x}_{y}.png"
        crop_label = label[y : y + size, x : x + size]
        write_image(out_dir / "img_dir" / tile.split / name, image[y : y + size, x : x + size], atomic=False)
        write_image(out_dir / "ann_dir" / tile.split / name, crop_label, atomic=False)
        counts = np.bincount(crop_label.ravel(), minlength=256)
        records.append(
            {"split": tile.split, "tile": tile.tile_id, "name": name, "x": x, "y": y}
            | {cls: int(counts[i]) for i, cls in enumerate(CLASSES)}
            | {"ignore": int(counts[IGNORE_INDEX])}
        )
    return records


def crop_dataset(
    tiles: list[PotsdamTile],
    out_dir: str | Path,
    *,
    size: int = 512,
    stride: int = 256,
    clutter: str = "class",
    workers: int = 2,
) -> pd.DataFrame:
    """Cut every tile into ``size`` crops stepping by ``stride``; write the crops, ``index.csv`` and ``counts.csv``.

    Written into a temporary folder renamed to ``out_dir`` at the end, so an interrupted run leaves nothing.
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for split in {tile.split for tile in tiles}:
            (tmp / "img_dir" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "ann_dir" / split).mkdir(parents=True, exist_ok=True)
        jobs = [(tile, tmp, size, stride, clutter) for tile in tiles]
        records = [
            row for rows in parallel_map(_crop_tile, jobs, workers=workers, desc="potsdam crops") for row in rows
        ]
        index = pd.DataFrame.from_records(records).sort_values(["split", "name"], ignore_index=True)
        with atomic_write(tmp / "index.csv") as handle:
            index.to_csv(handle, index=False)
        counts = (
            index.groupby("split")[[*CLASSES, "ignore"]]
            .sum()
            .reset_index()
            .melt(id_vars="split", var_name="class", value_name="count")
            .assign(unit="pixels")
        )
        crops = index.groupby("split").size().rename("count").reset_index().assign(**{"class": "*", "unit": "crops"})
        with atomic_write(tmp / "counts.csv") as handle:
            pd.concat([crops, counts])[["split", "class", "count", "unit"]].to_csv(handle, index=False)
    return index
