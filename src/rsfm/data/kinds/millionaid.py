"""MillionAID for pretraining: the prepared folder lists the release's images (labels unused), the tile step packs
them into shuffled tar shards (:mod:`rsfm.data.millionaid`, the format the pretraining loader reads)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsfm.data.kinds.base import Kind, image_root, write_tables
from rsfm.data.millionaid import list_images, read_member, write_shards
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import Sample


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_millionaid_like(out_dir, seed=seed, **options)


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    """``images.csv``: every image of the release, relative to it."""
    frame = pd.DataFrame({"path": [p.relative_to(extracted).as_posix() for p in list_images(extracted)]})
    write_tables(out_dir, {"images.csv": frame}, {"image_root": os.path.relpath(extracted, out_dir)})


def _tile(spec: DatasetSpec, settings: Mapping[str, Any], prepared: Path, out_dir: Path, *, workers: int) -> None:
    shards = settings["shards"]
    write_shards(
        image_root(prepared), out_dir, images_per_shard=shards["images_per_shard"], max_side=shards["max_side"],
        seed=shards.get("seed", 0), on_unreadable=shards["on_unreadable"], workers=workers,
    )  # fmt: skip


def _samples(folder: Path, n: int) -> list[Sample]:
    """The first images of the shards, read through their index."""
    from PIL import Image

    index = pd.read_csv(folder / "index.csv").head(n)
    return [
        (np.asarray(Image.open(io.BytesIO(read_member(folder, r.shard, r.offset, r.size))).convert("RGB")), [], r.key)
        for r in index.itertuples()
    ]


KIND = Kind(name="millionaid", synthesize=_synthesize, convert=_convert, tile=_tile, samples=_samples)
