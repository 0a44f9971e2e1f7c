"""MillionAID (Long et al. 2021) for pretraining: shuffled tar shards with a byte-offset index.

Reading a million small JPEGs from a cluster filesystem is metadata-bound; a few thousand large sequential files are
not. Each shard is a plain POSIX tar (inspectable with ``tar tf``, streamable like WebDataset), and ``index.csv`` holds
every member's shard and byte offset so a sampler can also read any image at random with one seek.

Images are decoded once here, so a truncated or corrupt file fails now (naming the file) rather than hours into
pretraining; ``max_side`` optionally downscales very large scenes (MillionAID ranges from ~100 to ~30000 pixels) since
pretraining crops 224-pixel views anyway.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.data.parallel import iter_chunks, parallel_map
from rsfm.errors import DataError
from rsfm.io import atomic_dir, write_csv

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def list_images(extracted: str | Path) -> list[Path]:
    extracted = Path(extracted)
    images = sorted(p for p in extracted.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DataError(f"no images found under {extracted}: extract the MillionAID release (train/ and test/) there")
    return images


def _encode(path: Path, max_side: int | None) -> tuple[bytes, str, int, int]:
    """Decode (to validate) and, if needed, downscale; returns (bytes, suffix, width, height)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()  # full decode: catches truncated files that Image.open alone accepts
            width, height = image.size
            if max_side is None or max(width, height) <= max_side:
                if image.format == "JPEG":
                    return path.read_bytes(), ".jpg", width, height
                image = image.convert("RGB")
            else:
                scale = max_side / max(width, height)
                width, height = max(1, round(width * scale)), max(1, round(height * scale))
                image = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=95)
            return buffer.getvalue(), ".jpg", width, height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path} ({error}): delete or re-extract it") from error


def _write_shard(args: tuple[int, list[tuple[int, Path]], Path, Path, int | None, str]) -> list[dict]:
    shard_id, items, root, out_dir, max_side, on_unreadable = args
    shard_name = f"shard-{shard_id:06d}.tar"
    rows = []
    with tarfile.open(out_dir / shard_name, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key, path in items:
            try:
                payload, suffix, width, height = _encode(path, max_side)
            except DataError:
                if on_unreadable == "skip":
                    rows.append({"key": f"{key:09d}", "shard": None, "source": str(path.relative_to(root))})
                    continue
                raise
            info = tarfile.TarInfo(f"{key:09d}{suffix}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            rows.append(
                {"key": f"{key:09d}", "shard": shard_name, "member": info.name, "size": len(payload),
                 "width": width, "height": height, "source": str(path.relative_to(root))}
            )  # fmt: skip
    # Offsets come from re-reading the headers: exact whatever tarfile padded or extended.
    with tarfile.open(out_dir / shard_name, "r") as tar:
        offsets = {member.name: member.offset_data for member in tar.getmembers()}
    for row in rows:
        if row["shard"] is not None:
            row["offset"] = offsets[row["member"]]
    return rows


def write_shards(
    extracted: str | Path,
    out_dir: str | Path,
    *,
    images_per_shard: int = 10000,
    max_side: int | None = None,
    seed: int = 0,
    on_unreadable: str = "error",
    workers: int = 2,
) -> pd.DataFrame:
    """Shuffle all images with ``seed`` and pack them into shards; writes shards, ``index.csv`` and ``counts.csv``."""
    root = Path(extracted)
    images = list_images(root)
    order = np.random.default_rng(seed).permutation(len(images))
    keyed = [(int(key), images[i]) for key, i in enumerate(order)]
    with atomic_dir(out_dir) as tmp:
        jobs = [
            (shard_id, list(chunk), root, tmp, max_side, on_unreadable)
            for shard_id, chunk in enumerate(iter_chunks(keyed, images_per_shard))
        ]
        rows = [
            row for rows in parallel_map(_write_shard, jobs, workers=workers, desc="millionaid shards") for row in rows
        ]
        index = pd.DataFrame(rows)
        skipped = index[index["shard"].isna()]
        index = index[index["shard"].notna()].astype({"offset": "int64", "size": "int64"})
        write_csv(index[["key", "shard", "offset", "size", "width", "height", "source"]], tmp / "index.csv")
        counts = pd.DataFrame(
            [{"split": "train", "class": "*", "count": len(index), "unit": "images"},
             {"split": "train", "class": "*", "count": len(index["shard"].unique()), "unit": "shards"},
             {"split": "train", "class": "*", "count": len(skipped), "unit": "skipped_unreadable"}]
        )  # fmt: skip
        write_csv(counts, tmp / "counts.csv")
        if len(skipped):
            write_csv(skipped[["source"]], tmp / "skipped.csv")
    return index


def read_member(shard_dir: str | Path, shard: str, offset: int, size: int) -> bytes:
    """Random access to one image's bytes through the index (one open, one seek, one read)."""
    with open(Path(shard_dir) / shard, "rb") as handle:
        handle.seek(offset)
        payload = handle.read(size)
    if len(payload) != size:
        raise DataError(f"shard {shard} in {shard_dir} is truncated: re-run the sharding step")
    return payload


def iter_shard(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Stream (key, bytes) in storage order: the sequential path used by the pretraining loader."""
    with tarfile.open(path, "r|") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None:
                yield member.name.rsplit(".", 1)[0], handle.read()
