"""DIOR-R: images listed by ``ImageSets/Main/<split>.txt`` with oriented boxes in Pascal-VOC-like XML, converted to
DOTA's layout (``<split>/images`` + ``<split>/labelTxt``) and then split into windows as DOTA is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsfm.data.annotations import read_dior_xml
from rsfm.data.dota_split import write_label
from rsfm.data.kinds.base import Kind
from rsfm.data.kinds.dota import WINDOW_LAYOUT, tile_windows
from rsfm.data.registry import DatasetSpec
from rsfm.data.samples import rotated_samples
from rsfm.errors import DataError
from rsfm.io import atomic_dir, link_or_copy


def _synthesize(
    spec: DatasetSpec, settings: Mapping[str, Any], out_dir: Path, *, seed: int, **options: Any
) -> dict[str, Any]:
    from rsfm.data import synthetic

    return synthetic.write_dior_r_like(out_dir, seed=seed, **options)


def _convert(spec: DatasetSpec, settings: Mapping[str, Any], extracted: Path, out_dir: Path, *, workers: int) -> None:
    convert_dior_r(extracted, out_dir)


_DIOR_R_ANNOTATIONS = "Annotations/Oriented Bounding Boxes"
_DIOR_R_LISTS = "ImageSets/Main"
_SHOWN = 5  # names shown per kind of problem; the rest are counted


def _dior_r_image_folder(split: str) -> str:
    return "JPEGImages-test" if split == "test" else "JPEGImages-trainval"


def _some(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _dior_r_plan(root: Path, splits: Sequence[str]) -> dict[str, list[tuple[str, Path, Path]]]:
    """The (id, image, xml) of every listed image per split; one DataError naming every missing part otherwise:
    folders, image lists, images listed but absent and annotations, so one fix-and-rerun is enough."""
    annotations = root / _DIOR_R_ANNOTATIONS
    folders = [_DIOR_R_LISTS, _DIOR_R_ANNOTATIONS, *dict.fromkeys(_dior_r_image_folder(s) for s in splits)]
    absent_folders = {folder: 0 for folder in folders if not (root / folder).is_dir()}  # -> images listed in it
    lists, images, xmls, listed = [], {}, [], 0
    plan: dict[str, list[tuple[str, Path, Path]]] = {}
    for split in splits:
        list_file = root / _DIOR_R_LISTS / f"{split}.txt"
        if not list_file.is_file():
            if _DIOR_R_LISTS not in absent_folders:
                lists.append(f"{_DIOR_R_LISTS}/{split}.txt")
            continue
        folder = _dior_r_image_folder(split)
        ids = list_file.read_text(encoding="utf-8").split()
        listed += len(ids)
        plan[split] = [(i, root / folder / f"{i}.jpg", annotations / f"{i}.xml") for i in ids]
        if folder in absent_folders:
            absent_folders[folder] += len(ids)
        else:
            images[split] = [f"{folder}/{i}.jpg" for i, image, _ in plan[split] if not image.is_file()]
        if _DIOR_R_ANNOTATIONS not in absent_folders:
            xmls += [xml.name for _, _, xml in plan[split] if not xml.is_file()]
    problems = []
    if absent_folders:
        problems.append(
            "folders missing: "
            + ", ".join(f"{f} (for {n:,} listed images)" if n else f for f, n in absent_folders.items())
        )
    if lists:
        problems.append(f"image lists missing: {', '.join(lists)}")
    problems += [
        f"images listed in {_DIOR_R_LISTS}/{split}.txt but absent: {len(names):,} of {len(plan[split]):,} "
        f"({_some(names)})"
        for split, names in images.items()
        if names
    ]
    if xmls:
        problems.append(f"annotations missing from {_DIOR_R_ANNOTATIONS}: {len(xmls):,} of {listed:,} ({_some(xmls)})")
    if problems:
        # Each part comes from the release archive named by its folder's first part (Annotations.zip: Annotations/).
        parts = [*absent_folders, *(_dior_r_image_folder(split) for split, names in images.items() if names)]
        parts += ([_DIOR_R_LISTS] if lists else []) + ([_DIOR_R_ANNOTATIONS] if xmls else [])
        archives = dict.fromkeys(f"{part.split('/')[0]}.zip" for part in parts)
        raise DataError(
            f"DIOR-R at {root} is incomplete; nothing was written:\n  "
            + "\n  ".join(problems)
            + f"\n  Extract the missing parts from {', '.join(archives)} of the release there, or point `path:` of "
            "data.datasets.dior_r at the folder that holds them all"
        )
    return plan


def convert_dior_r(
    extracted_root: str | Path, out_root: str | Path, *, splits: Sequence[str] = ("train", "val", "test")
) -> dict[str, int]:
    """DIOR-R as released -> ``<split>/images/<id>.jpg`` + ``<split>/labelTxt/<id>.txt`` (DOTA format), atomically.

    Reads ``ImageSets/Main/<split>.txt``; images come from ``JPEGImages-trainval`` (train, val) or
    ``JPEGImages-test`` (test), hard-linked when possible; labels from ``Annotations/Oriented Bounding Boxes/<id>.xml``.
    Class names are lower-cased as mmrotate's DIOR dataset does (the release writes e.g. ``Expressway-Service-area``).
    Every missing part is reported together in one DataError and nothing is written. Returns {split: images}. The
    result is split like DOTA (:func:`rsfm.data.kinds.dota.tile_windows`; 800 x 800 images: size 800 gives one window
    per image).
    """
    plan = _dior_r_plan(Path(extracted_root), splits)
    with atomic_dir(out_root) as tmp:
        for split, entries in plan.items():
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "labelTxt").mkdir(parents=True)
            for image_id, image, xml in entries:
                objects, _ = read_dior_xml(xml)
                for obj in objects:
                    obj.name = obj.name.lower()
                link_or_copy(image, tmp / split / "images" / image.name)
                write_label(tmp / split / "labelTxt" / f"{image_id}.txt", objects)
    return {split: len(entries) for split, entries in plan.items()}


KIND = Kind(
    name="dior_r", synthesize=_synthesize, convert=_convert, tile=tile_windows, samples=rotated_samples,
    layout=WINDOW_LAYOUT,
)  # fmt: skip
