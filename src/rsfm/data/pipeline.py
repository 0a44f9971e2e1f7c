"""The data stage as the workflow runs it: one function per rule, dispatching on the dataset's converter family.

Snakemake scripts (scripts/*.py) only unpack ``snakemake.input/params/output`` and call these, so every rule's logic
lives here, testable without Snakemake.

Stages per dataset (paths relative to ``data.root``):
    raw/<name>/archives/           downloads (resumable; not a declared output so a failed job keeps its .part files)
    raw/<name>/archives.json       rule download: what was fetched
    raw/<name>/verified.json       rule verify: sizes and checksums re-checked
    raw/<name>/extracted/          rule extract (official) or rule synthesize (synthetic): the release as distributed
    prepared/<name>/               rule convert: uniform layout + index.csv/counts.csv (classification: <split>.csv)
    tiles/<name>/                  rule tile: DOTA/DIOR-R windows, Potsdam crops, MillionAID shards
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from rsfm.data import classification, loveda, millionaid, potsdam
from rsfm.data.registry import get_dataset
from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_dir, atomic_write

TILED_KINDS = {"dota", "dior_r", "potsdam", "millionaid"}

# Where the synthetic class-folder sets put their images, mirroring each release's archive.
_CLASS_FOLDER_LAYOUT = {
    "eurosat": ("2750", ".jpg"),
    "ucmerced": ("UCMerced_LandUse/Images", ".tif"),
    "aid": ("AID", ".jpg"),
    "resisc45": ("NWPU-RESISC45", ".jpg"),
}


def final_stage(name: str) -> str:
    """The last folder the data stage makes for a dataset: ``tiles`` for tiled kinds, else ``prepared``."""
    return "tiles" if get_dataset(name).kind in TILED_KINDS else "prepared"


# --- raw data ------------------------------------------------------------------------------------------------------


def download(
    name: str, settings: dict[str, Any], archive_dir: str | Path, manifest: str | Path, *, progress: bool = True
) -> list[Path]:
    """Fetch the release files that ``settings`` need: data.datasets.<name>, or the part of it that
    :func:`rsfm.data.registry.release_settings` picks (what the rules pass)."""
    from rsfm.data.download import fetch_dataset

    paths = fetch_dataset(get_dataset(name, settings), archive_dir, progress=progress)
    _write_json(manifest, {"dataset": name, "files": [{"name": p.name, "bytes": p.stat().st_size} for p in paths]})
    return paths


def verify(name: str, settings: dict[str, Any], archive_dir: str | Path, out: str | Path) -> None:
    """Re-check every archive against the registry (catches later corruption and hand-placed files)."""
    from rsfm.data.download import check_release

    spec = get_dataset(name, settings)
    paths = check_release(spec, archive_dir)
    records = [
        {"name": remote.name, "bytes": path.stat().st_size, "md5": remote.md5, "sha256": remote.sha256}
        for remote, path in zip(spec.files, paths, strict=True)
    ]
    _write_json(out, {"dataset": name, "verified": records})


def extract(name: str, settings: dict[str, Any], archive_dir: str | Path, out_dir: str | Path) -> None:
    from rsfm.data.download import check_layout, extract_archives

    spec = get_dataset(name, settings)
    extract_archives([Path(archive_dir) / remote.name for remote in spec.files], out_dir)
    check_layout(spec, out_dir)


def raw_dir(name: str, dataset_cfg: dict[str, Any], data_root: str | Path) -> Path:
    """The extracted release: the configured folder for ``source: extracted``, else ``raw/<name>/extracted``."""
    if dataset_cfg["source"] == "extracted":
        return Path(dataset_cfg["path"]).expanduser()
    return Path(data_root) / "raw" / name / "extracted"


def synthesize(name: str, dataset_cfg: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Write synthetic data in the raw layout of ``name``'s real release."""
    from rsfm.data import synthetic

    spec = get_dataset(name)
    options = dict(dataset_cfg.get("synthetic", {}))
    seed = options.pop("seed", 0)
    if spec.kind == "millionaid":
        return synthetic.write_millionaid_like(out_dir, seed=seed, **options)
    if spec.kind == "dota":
        return synthetic.write_dota_like(out_dir, seed=seed, **options)
    if spec.kind == "dior_r":
        return synthetic.write_dior_r_like(out_dir, seed=seed, **options)
    if spec.kind == "potsdam":
        return synthetic.write_potsdam_like(
            out_dir, tiles=dataset_cfg["splits"], seed=seed, imagery=dataset_cfg["imagery"], **options
        )
    if spec.kind == "loveda":
        return synthetic.write_loveda_like(out_dir, seed=seed, **options)
    if spec.kind == "class_folders":
        top, ext = _CLASS_FOLDER_LAYOUT[name]
        return synthetic.write_class_folders_like(out_dir, top=top, classes=spec.classes, ext=ext, seed=seed, **options)
    if spec.kind == "geobench":
        task = classification.GEOBENCH_TASKS[name]
        return synthetic.write_geobench_like(
            out_dir, task=task["task"], classes=spec.classes, band_names=task["bands"],
            multilabel=task["multilabel"], seed=seed, **options,
        )  # fmt: skip
    raise ConfigError(f"no synthetic generator for dataset {name!r} (kind {spec.kind})")


# --- conversion and tiling -----------------------------------------------------------------------------------------


def convert(
    name: str, dataset_cfg: dict[str, Any], extracted: str | Path, out_dir: str | Path, *, workers: int
) -> None:
    """Bring the extracted release into the uniform prepared layout of its kind."""
    from rsfm.data import dota_split

    spec = get_dataset(name)
    extracted = Path(extracted)
    if not extracted.is_dir():
        raise DataError(f"{extracted} does not exist: the extract/synthesize step for {name} has not run")
    if spec.kind == "dota":
        dota_split.dota_layout_from_extracted(extracted, out_dir)
    elif spec.kind == "dior_r":
        dota_split.convert_dior_r(extracted, out_dir)
    elif spec.kind == "potsdam":
        potsdam.band_positions(dataset_cfg["imagery"], dataset_cfg["bands"])  # a band the imagery lacks fails here
        tiles = potsdam.find_tiles(extracted, dataset_cfg["splits"], dataset_cfg["labels"], dataset_cfg["imagery"])
        frame = pd.DataFrame(
            [{"tile": t.tile_id, "split": t.split, "image": os.path.relpath(t.image, extracted),
              "label": os.path.relpath(t.label, extracted)} for t in tiles]
        )  # fmt: skip
        _write_table_dir(out_dir, {"tiles.csv": frame}, {"image_root": os.path.relpath(extracted, out_dir)})
    elif spec.kind == "loveda":
        loveda.prepare(extracted, out_dir, workers=workers)
    elif spec.kind == "millionaid":
        images = millionaid.list_images(extracted)
        frame = pd.DataFrame({"path": [p.relative_to(extracted).as_posix() for p in images]})
        _write_table_dir(out_dir, {"images.csv": frame}, {"image_root": os.path.relpath(extracted, out_dir)})
    elif spec.kind == "class_folders":
        split = dict(dataset_cfg.get("split", {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 0}))
        seed = split.pop("seed", 0)
        classification.prepare_class_folders(extracted, out_dir, fractions=split, seed=seed, known_classes=spec.classes)
    elif spec.kind == "geobench":
        classification.prepare_geobench(
            extracted, out_dir, classes=spec.classes, partition=dataset_cfg.get("partition", "default"),
            multilabel=classification.GEOBENCH_TASKS[name]["multilabel"],
        )  # fmt: skip
    else:
        raise ConfigError(f"dataset {name!r} has unknown kind {spec.kind!r}")


def tile(name: str, dataset_cfg: dict[str, Any], prepared: str | Path, out_dir: str | Path, *, workers: int) -> None:
    """Cut the prepared data into training units: detection windows, segmentation crops or pretraining shards."""
    from rsfm.data import dota_split

    spec, prepared, out_dir = get_dataset(name), Path(prepared), Path(out_dir)
    if spec.kind in {"dota", "dior_r"}:
        tiling = dataset_cfg["tiling"]
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
                dota_split.split_dataset(
                    prepared / split / "images", labels if labels.is_dir() else None, tmp / split, workers=workers,
                    keep_empty=tiling["keep_empty"] or split == "test", **options,
                )  # fmt: skip
            _merge_split_counts(tmp, tiling["splits"])
    elif spec.kind == "potsdam":
        tiles_csv = pd.read_csv(prepared / "tiles.csv")
        image_root = prepared / json.loads((prepared / "meta.json").read_text())["image_root"]
        imagery = dataset_cfg["imagery"]
        tiles = [
            potsdam.PotsdamTile(row.tile, row.split, image_root / row.image, image_root / row.label, imagery)
            for row in tiles_csv.itertuples()
        ]
        crop = dataset_cfg["crop"]
        potsdam.crop_dataset(
            tiles, out_dir, size=crop["size"], stride=crop["stride"], clutter=dataset_cfg["clutter"],
            bands=dataset_cfg["bands"], workers=workers,
        )  # fmt: skip
    elif spec.kind == "millionaid":
        image_root = prepared / json.loads((prepared / "meta.json").read_text())["image_root"]
        shards = dataset_cfg["shards"]
        millionaid.write_shards(
            image_root, out_dir, images_per_shard=shards["images_per_shard"], max_side=shards["max_side"],
            seed=shards.get("seed", 0), on_unreadable=shards["on_unreadable"], workers=workers,
        )  # fmt: skip
    else:
        raise ConfigError(f"dataset {name!r} ({spec.kind}) has no tiling step; its prepared folder is final")


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
            from rsfm.data.annotations import read_dota_label

            per_class: dict[str, int] = {}
            for label_file in labels.glob("*.txt"):
                for obj in read_dota_label(label_file).objects:
                    per_class[obj.name] = per_class.get(obj.name, 0) + 1
            rows += [{"split": split, "class": c, "count": n, "unit": "objects"} for c, n in sorted(per_class.items())]
    with atomic_write(tmp / "counts.csv") as handle:
        pd.DataFrame(rows, columns=["split", "class", "count", "unit"]).to_csv(handle, index=False)


def _write_table_dir(out_dir: str | Path, tables: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
    with atomic_dir(out_dir) as tmp:
        for file_name, frame in tables.items():
            with atomic_write(tmp / file_name) as handle:
                frame.to_csv(handle, index=False)
        with atomic_write(tmp / "meta.json") as handle:
            json.dump(meta, handle, indent=2)


def _write_json(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=2)
