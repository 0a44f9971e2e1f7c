"""DOTA v2.0: the release as extracted (``<split>/images`` + ``<split>/labelTxt``) is mirrored into the prepared
folder and split into windows (:mod:`rsfm.data.dota_split`); DIOR-R, once in this layout, is split the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.data.annotations import read_dota_label
from rsfm.data.dota_split import list_images, split_dataset
from rsfm.data.kinds.base import Kind
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import rotated_samples
from rsfm.errors import DataError
from rsfm.io import atomic_dir, link_or_copy, write_csv


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_dota_like(out_dir, seed=seed, **options)


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    dota_layout_from_extracted(extracted, out_dir)


def dota_layout_from_extracted(
    extracted_root: str | Path, out_root: str | Path, *, required: Sequence[str] = ("train", "val")
) -> dict[str, Path]:
    """Validate DOTA v2.0 as extracted and mirror it (hard links, else copies) as ``<split>/images`` (+ ``labelTxt``).

    Expected: ``train/images`` + ``train/labelTxt``, ``val/images`` + ``val/labelTxt``, optionally ``test/images``
    (DOTA's test labels are not public). Every image of a labelled split needs its ``<stem>.txt``. All problems are
    reported in one DataError; nothing is written then. Returns {split: out_root/split}.

    Mirroring rather than only validating keeps every later step reading from the prepared folder whatever the source
    (synthetic, downloaded or a user's extracted copy), and pins the set of files the split was made from; hard links
    cost no disk space and no time.
    """
    extracted_root = Path(extracted_root)
    if not extracted_root.is_dir():
        raise DataError(f"{extracted_root} does not exist: extract DOTA v2.0 there first")
    problems: list[str] = []
    plan: dict[str, tuple[list[Path], Path | None]] = {}
    for split in ("train", "val", "trainval", "test"):
        images_dir, labels_dir = extracted_root / split / "images", extracted_root / split / "labelTxt"
        if not images_dir.is_dir():
            if split in required:
                problems.append(f"{images_dir} is missing")
            continue
        try:
            images = list_images(images_dir)
        except DataError as error:
            problems.append(str(error))
            continue
        if not labels_dir.is_dir():
            if split != "test":
                problems.append(f"{labels_dir} is missing (DOTA's {split} split ships its labels in labelTxt/)")
            plan[split] = (images, None)
            continue
        missing = [image.stem for image in images if not (labels_dir / f"{image.stem}.txt").is_file()]
        if missing:
            problems.append(f"{len(missing)} images of {split} have no label in {labels_dir}, e.g. {missing[0]}.txt")
        plan[split] = (images, labels_dir)
    if problems:
        raise DataError(f"{extracted_root} is not an extracted DOTA v2.0 tree: " + "; ".join(problems))
    with atomic_dir(out_root) as tmp:
        for split, (images, labels_dir) in plan.items():
            for image in images:
                link_or_copy(image, tmp / split / "images" / image.name)
                if labels_dir is not None:
                    link_or_copy(labels_dir / f"{image.stem}.txt", tmp / split / "labelTxt" / f"{image.stem}.txt")
    return {split: Path(out_root) / split for split in plan}


# --- windows: the tile step of both rotated-box kinds ---------------------------------------------------------------

SCORED_SPLITS = ("val", "test")  # every window kept, and the scenes' labels beside them
WINDOW_LAYOUT = 2  # 2: scored splits keep every window and <split>/scenes/ (Kind.layout)


def tile_windows(
    spec: DatasetSpec, settings: Mapping[str, Any], prepared: Path, out_dir: Path, *, workers: int
) -> None:
    """Split every split folder of ``settings.tiling.splits`` that exists into windows, then count them.

    The scored splits (val, test) keep every window, empty or not, so that detections can be merged back to whole
    scenes; labelled ones also get the scenes' own labels in ``<split>/scenes/`` (the uncut objects the DOTA server
    scores against; :class:`rsfm.finetune.scores.SceneAPMetric`)."""
    tiling = settings["tiling"]
    options = {
        "sizes": (tiling["size"],),
        "gaps": (tiling["gap"],),
        "rates": tuple(tiling["rates"]),
        "iof_thr": tiling["iof_thr"],
        "keep_low_iof": tiling["keep_low_iof"],
        "truncated_difficulty": tiling["truncated_difficulty"],
        "classes": frozenset(spec.classes),
    }
    with atomic_dir(out_dir) as tmp:
        for split in tiling["splits"]:
            if not (prepared / split / "images").is_dir():
                continue  # e.g. DIOR-R has no trainval folder; DOTA's test has no labels
            labels = prepared / split / "labelTxt"
            split_dataset(
                prepared / split / "images", labels if labels.is_dir() else None, tmp / split, workers=workers,
                keep_empty=tiling["keep_empty"] or split in SCORED_SPLITS, **options,
            )  # fmt: skip
            if labels.is_dir() and split in SCORED_SPLITS:
                for label in sorted(labels.glob("*.txt")):
                    link_or_copy(label, tmp / split / "scenes" / label.name)
        _merge_split_counts(tmp, tiling["splits"])


def _merge_split_counts(tmp: Path, splits: list[str]) -> None:
    """counts.csv over the per-split window indexes written by split_dataset."""
    rows = []
    for split in splits:
        index_path = tmp / split / "index.csv"
        if not index_path.is_file():
            continue
        index = pd.read_csv(index_path)
        rows.append({"split": split, "class": "*", "count": len(index), "unit": "windows"})
        rows.append({"split": split, "class": "*", "count": int(index["objects"].sum()), "unit": "objects"})
        labels = tmp / split / "annfiles"
        if labels.is_dir():
            per_class: dict[str, int] = {}
            for label_file in labels.glob("*.txt"):
                for obj in read_dota_label(label_file).objects:
                    per_class[obj.name] = per_class.get(obj.name, 0) + 1
            rows += [{"split": split, "class": c, "count": n, "unit": "objects"} for c, n in sorted(per_class.items())]
    write_csv(pd.DataFrame(rows, columns=["split", "class", "count", "unit"]), tmp / "counts.csv")


KIND = Kind(
    name="dota", synthesize=_synthesize, convert=_convert, tile=tile_windows, samples=rotated_samples,
    layout=WINDOW_LAYOUT,
)  # fmt: skip
