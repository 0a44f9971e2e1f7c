"""ISPRS Potsdam: pair the 6000 x 6000 ortho tiles with their colour labels, map colours to class indices and cut
the training tiles into overlapping crops in mmsegmentation's ``img_dir/<split>``, ``ann_dir/<split>`` layout.

Unlike mmseg's own converter (whose crop loop ignores its stride argument), crops here really step by ``stride``;
the last crop of a row/column is flush with the tile edge, so every pixel is covered. Every other split (the scored
ones: test, and val where configured) is written as whole tiles, so that each of its pixels is scored exactly once:
the fine-tuning config runs mmseg's sliding-window inference over them (``test_cfg=dict(mode="slide")``: the logits
of overlapping windows are averaged, then every pixel is compared once with its label), the usual ISPRS protocol.
Overlapping test crops would count most pixels several times (four times at stride 256 on 512).

Class indices follow mmseg's Potsdam dataset: 0 impervious surfaces, 1 building, 2 low vegetation, 3 tree, 4 car,
5 clutter/background. With ``clutter="ignore"`` clutter becomes 255 (not trained on). Black (0,0,0) pixels of the
eroded labels (``5_Labels_all_noBoundary``) are object boundaries and become 255. The RS literature trains on all
six classes and reports OA/mF1 on the five foreground classes; the evaluation stage applies that convention.
Because indices start at 0 with 255 as ignore, mmseg's ``PotsdamDataset`` must be used with
``reduce_zero_label=False`` (its default assumes mmseg's converter, which writes boundaries as 0 and classes as 1..6).

The image tiles come from one ortho product of the release (``imagery``: RGB, IRRG or the 4-band RGBIR, see
:data:`rsfm.data.registry.POTSDAM_IMAGERY`); ``bands`` picks three of its bands, in the order written to the crops'
PNG channels (R, G, B by default; e.g. IR, R, G for the false-colour input common in the literature).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data.kinds.base import Kind, image_root, write_tables
from rsfm.data.parallel import parallel_map
from rsfm.data.polygons import sliding_windows
from rsfm.data.registry import POTSDAM_CLASSES, POTSDAM_IMAGERY, POTSDAM_LABELS, DatasetSpec, PotsdamPart, potsdam_part
from rsfm.data.samples import segmentation_samples
from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_dir, read_image, write_csv, write_image

CLASSES = POTSDAM_CLASSES  # mask index i is class i
PALETTE = ((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))
BOUNDARY = (0, 0, 0)
IGNORE_INDEX = 255
CROPPED_SPLITS = ("train",)  # cut into crops; the scored splits are written whole (the module docstring)
# Real ISPRS label rasters contain a few pixels of off-palette colours (JPEG-like artefacts at some edges); above this
# share a tile is most likely not a label raster at all (e.g. an RGB tile in the label folder).
MAX_UNKNOWN_COLOUR_SHARE = 0.01

_SUFFIXES = "|".join(part.suffix for part in (*POTSDAM_IMAGERY.values(), *POTSDAM_LABELS.values()))
_TILE_ID = re.compile(rf"top_potsdam_(\d+_\d+)_({_SUFFIXES})\.tif$")


@dataclass(frozen=True)
class PotsdamTile:
    tile_id: str
    split: str
    image: Path
    label: Path
    imagery: str = "RGB"  # the ortho product ``image`` belongs to: its bands' order in the file


def band_positions(imagery: str, bands: Sequence[str]) -> tuple[int, ...]:
    """The channels of an ``imagery`` tile holding ``bands``, in that order; ConfigError when one is not there."""
    product = potsdam_part("imagery", imagery)
    absent = [band for band in bands if band not in product.bands]
    if absent:
        having = " or ".join(
            f"imagery: {key}" for key, part in POTSDAM_IMAGERY.items() if set(bands) <= set(part.bands)
        )
        raise ConfigError(
            f"config key 'data.datasets.potsdam.bands': {', '.join(absent)} not in imagery {imagery} "
            f"({product.archive} has {', '.join(product.bands)}); choose bands of it"
            + (f", or set {having} (it has {', '.join(bands)})" if having else "")
        )
    return tuple(product.bands.index(band) for band in bands)


def _alternatives(
    found: dict[tuple[str, str], Path],
    wanted: list[str],
    key: str,
    chosen: PotsdamPart,
    choices: dict[str, PotsdamPart],
) -> list[str]:
    """The other settings of ``key`` whose tiles are all there when the chosen ones are not (an RGBIR-only folder)."""
    if all((tile_id, chosen.suffix) in found for tile_id in wanted):
        return []
    return [
        f"the {part.suffix} tiles of {part.archive} are there: to use them set data.datasets.potsdam.{key}: {choice}"
        for choice, part in choices.items()
        if all((tile_id, part.suffix) in found for tile_id in wanted)
    ]


def find_tiles(
    extracted: str | Path, splits: dict[str, list[str]], labels: str = "eroded", imagery: str = "RGB"
) -> list[PotsdamTile]:
    """Locate the ``imagery`` and ``labels`` TIFF of every configured tile id; DataError lists what is missing."""
    extracted = Path(extracted)
    image_part, label_part = potsdam_part("imagery", imagery), potsdam_part("labels", labels)
    found: dict[tuple[str, str], Path] = {}
    for path in extracted.rglob("top_potsdam_*.tif"):
        match = _TILE_ID.search(path.name)
        if match:
            found[(match.group(1), match.group(2))] = path
    tiles, missing, wanted = [], [], []
    for split, tile_ids in splits.items():
        for tile_id in tile_ids:
            wanted.append(tile_id)
            image, label = found.get((tile_id, image_part.suffix)), found.get((tile_id, label_part.suffix))
            if image is None:
                missing.append(f"top_potsdam_{tile_id}_{image_part.suffix}.tif")
            if label is None:
                missing.append(f"top_potsdam_{tile_id}_{label_part.suffix}.tif")
            if image is not None and label is not None:
                tiles.append(PotsdamTile(tile_id, split, image, label, imagery))
    if missing:
        hints = _alternatives(found, wanted, "imagery", image_part, POTSDAM_IMAGERY) + _alternatives(
            found, wanted, "labels", label_part, POTSDAM_LABELS
        )
        raise DataError(
            f"Potsdam files missing under {extracted}: {', '.join(missing[:8])}"
            + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            + f" (extract {image_part.archive} for imagery: {imagery} and {label_part.archive} for labels: {labels} "
            "there; check data.datasets.potsdam.splits for tile ids that the release does not have)"
            + "".join(f"; {hint}" for hint in hints)
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


def _crop_tile(args: tuple[PotsdamTile, Path, int, int, str, tuple[str, ...]]) -> list[dict]:
    tile, out_dir, size, stride, clutter, bands = args
    image = read_image(tile.image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels < len(POTSDAM_IMAGERY[tile.imagery].bands):
        raise DataError(
            f"{tile.image} has {channels} band(s), but {tile.imagery} tiles have "
            f"{', '.join(POTSDAM_IMAGERY[tile.imagery].bands)}: the file is not from "
            f"{POTSDAM_IMAGERY[tile.imagery].archive}; re-extract it or fix data.datasets.potsdam.imagery"
        )
    image = image[..., list(band_positions(tile.imagery, bands))]
    label = colour_to_index(read_image(tile.label), clutter=clutter, source=str(tile.label))
    if image.shape[:2] != label.shape:
        raise DataError(f"{tile.image} is {image.shape[:2]} but its label {tile.label} is {label.shape}")
    height, width = label.shape
    cropped = tile.split in CROPPED_SPLITS
    starts = sliding_windows(width, height, size, size - stride) if cropped else [(0, 0)]
    records = []
    for x, y in starts:
        name = f"{tile.tile_id}_{x}_{y}.png" if cropped else f"{tile.tile_id}.png"
        window = (slice(y, y + size), slice(x, x + size)) if cropped else (slice(None), slice(None))
        crop_label = label[window]
        write_image(out_dir / "img_dir" / tile.split / name, image[window], atomic=False)
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
    bands: Sequence[str] = ("R", "G", "B"),
    workers: int = 2,
) -> pd.DataFrame:
    """Cut every training tile into ``size`` crops stepping by ``stride`` and write every other tile whole (one image
    per tile, scored once per pixel); write the images, ``index.csv`` and ``counts.csv`` (pixels per class and split).

    The crops are PNGs of ``bands`` of each tile's imagery, in that order. Written into a temporary folder renamed to
    ``out_dir`` at the end, so an interrupted run leaves nothing.
    """
    out_dir, bands = Path(out_dir), tuple(bands)
    for imagery in {tile.imagery for tile in tiles}:  # a band the imagery lacks fails before any crop is cut
        band_positions(imagery, bands)
    with atomic_dir(out_dir) as tmp:
        for split in {tile.split for tile in tiles}:
            (tmp / "img_dir" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "ann_dir" / split).mkdir(parents=True, exist_ok=True)
        jobs = [(tile, tmp, size, stride, clutter, bands) for tile in tiles]
        records = [
            row for rows in parallel_map(_crop_tile, jobs, workers=workers, desc="potsdam crops") for row in rows
        ]
        index = pd.DataFrame.from_records(records).sort_values(["split", "name"], ignore_index=True)
        write_csv(index, tmp / "index.csv")
        counts = (
            index.groupby("split")[[*CLASSES, "ignore"]]
            .sum()
            .reset_index()
            .melt(id_vars="split", var_name="class", value_name="count")
            .assign(unit="pixels")
        )
        crops = index.groupby("split").size().rename("count").reset_index().assign(**{"class": "*", "unit": "crops"})
        write_csv(pd.concat([crops, counts])[["split", "class", "count", "unit"]], tmp / "counts.csv")
    return index


# --- the kind: settings imagery, labels, bands, splits (tile ids), crop, clutter ------------------------------------


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_potsdam_like(
        out_dir, tiles=settings["splits"], seed=seed, imagery=settings["imagery"], **options
    )


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    """``tiles.csv``: the configured tiles of each split and their files in the extracted release."""
    band_positions(settings["imagery"], settings["bands"])  # a band the imagery lacks fails here
    tiles = find_tiles(extracted, settings["splits"], settings["labels"], settings["imagery"])
    frame = pd.DataFrame(
        [{"tile": t.tile_id, "split": t.split, "image": os.path.relpath(t.image, extracted),
          "label": os.path.relpath(t.label, extracted)} for t in tiles]
    )  # fmt: skip
    write_tables(out_dir, {"tiles.csv": frame}, {"image_root": os.path.relpath(extracted, out_dir)})


def _tile(spec: DatasetSpec, settings: Mapping[str, Any], prepared: Path, out_dir: Path, *, workers: int) -> None:
    tiles_csv = pd.read_csv(prepared / "tiles.csv")
    root, imagery = image_root(prepared), settings["imagery"]
    tiles = [
        PotsdamTile(row.tile, row.split, root / row.image, root / row.label, imagery) for row in tiles_csv.itertuples()
    ]
    crop = settings["crop"]
    crop_dataset(
        tiles, out_dir, size=crop["size"], stride=crop["stride"], clutter=settings["clutter"],
        bands=settings["bands"], workers=workers,
    )  # fmt: skip


def _check_settings(key: str, settings: Mapping[str, Any]) -> Iterator[str]:
    if not any(settings.get("splits", {}).values()):
        yield f"config key '{key}.splits' must list the tile ids of at least one split"
    try:
        band_positions(settings.get("imagery", "RGB"), settings.get("bands", ["R", "G", "B"]))
    except ConfigError as error:
        yield str(error)


KIND = Kind(
    name="potsdam", synthesize=_synthesize, convert=_convert, tile=_tile, check_settings=_check_settings,
    samples=partial(segmentation_samples, palette=np.array(PALETTE, dtype=np.uint8)),
    layout=2,  # 2: the scored splits written as whole tiles
)  # fmt: skip
