"""The data stage as the workflow runs it: one function per rule; the dataset's kind (:mod:`rsfm.data.kinds`) does
the work that differs between releases.

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
from pathlib import Path
from typing import Any

from rsfm.data.kinds import kind_of
from rsfm.data.registry import get_dataset
from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_write


def final_stage(name: str) -> str:
    """The last folder the data stage makes for a dataset: ``tiles`` for kinds with a tile step, else ``prepared``."""
    return kind_of(name).final_stage


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
    spec = get_dataset(name)
    write = kind_of(spec).synthesize
    if write is None:
        raise ConfigError(f"no synthetic generator for dataset {name!r} (kind {spec.kind}): use source: official")
    options = dict(dataset_cfg.get("synthetic", {}))
    seed = options.pop("seed", 0)
    return write(spec, dataset_cfg, Path(out_dir), seed=seed, **options)


# --- conversion and tiling -----------------------------------------------------------------------------------------


def convert(
    name: str, dataset_cfg: dict[str, Any], extracted: str | Path, out_dir: str | Path, *, workers: int
) -> None:
    """Bring the extracted release into the uniform prepared layout of its kind."""
    spec, extracted = get_dataset(name), Path(extracted)
    if not extracted.is_dir():
        raise DataError(f"{extracted} does not exist: the extract/synthesize step for {name} has not run")
    kind_of(spec).convert(spec, dataset_cfg, extracted, Path(out_dir), workers=workers)


def tile(name: str, dataset_cfg: dict[str, Any], prepared: str | Path, out_dir: str | Path, *, workers: int) -> None:
    """Cut the prepared data into training units: detection windows, segmentation crops or pretraining shards."""
    spec = get_dataset(name)
    step = kind_of(spec).tile
    if step is None:
        raise ConfigError(f"dataset {name!r} ({spec.kind}) has no tiling step; its prepared folder is final")
    step(spec, dataset_cfg, Path(prepared), Path(out_dir), workers=workers)


def _write_json(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_write(path) as handle:
        json.dump(payload, handle, indent=2)
