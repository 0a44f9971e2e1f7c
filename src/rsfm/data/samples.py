"""Sample images for the data-stage figure, read from the layouts several kinds share: (image, oriented objects,
title) triples, chosen deterministically. Each dataset kind names the reader of its final folder (``Kind.samples``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.data.annotations import OrientedObject, read_dota_label
from rsfm.io import read_image

Sample = tuple[np.ndarray, list[OrientedObject], str]

# Colours of mask classes without an official palette (LoveDA), one per class index.
MASK_COLOURS = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
     [240, 50, 230], [210, 245, 60], [250, 190, 212]], dtype=np.uint8,
)  # fmt: skip


def _overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    colour = palette[np.clip(mask, 0, len(palette) - 1)]
    blended = (1 - alpha) * image[..., :3] + alpha * colour
    return np.where((mask == 255)[..., None], image[..., :3], blended).astype(np.uint8)


def rotated_samples(folder: Path, n: int) -> list[Sample]:
    """The training windows with the most objects, with their oriented boxes (the DOTA split layout)."""
    index = pd.read_csv(folder / "train" / "index.csv").sort_values("objects", ascending=False).head(n)
    samples = []
    for row in index.itertuples():
        stem = Path(row.image).stem
        objects = read_dota_label(folder / "train" / "annfiles" / f"{stem}.txt").objects
        samples.append((read_image(folder / "train" / "images" / row.image, mode="RGB"), objects, stem))
    return samples


def segmentation_samples(folder: Path, n: int, palette: np.ndarray) -> list[Sample]:
    """The first training images with their masks drawn over them in ``palette`` (mmseg's img_dir/ann_dir)."""
    names = sorted((folder / "ann_dir" / "train").glob("*.png"))[:n]
    return [
        (_overlay(read_image(folder / "img_dir" / "train" / p.name, mode="RGB"), read_image(p), palette), [], p.stem)
        for p in names
    ]


def one_per_class(folder: Path, n: int) -> list[tuple[Path, str]]:
    """(image path, title) of one training item per class (or label set) of a classification index, so the row of
    the figure shows different classes."""
    meta = json.loads((folder / "meta.json").read_text())
    root = folder / meta["image_root"]
    frame = pd.read_csv(folder / "train.csv")
    index = frame.drop_duplicates("label" if "label" in frame.columns else "labels").head(n)
    picks = []
    for row in index.itertuples():
        title = getattr(row, "label_name", None) or " ".join(meta["classes"][int(i)] for i in str(row.labels).split())
        picks.append((root / row.path, title[:40]))
    return picks
