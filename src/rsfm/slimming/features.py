"""Frozen features of a classification set at every width of a sweep, streamed in batches and cached by content.

Streaming: a split is decoded, band-selected, scaled, resized and normalised batch by batch (a DataLoader over its
index, ``workers`` decoding processes), and each batch is embedded at every pending (variant, width) before the next
is read: the split is decoded once, and memory holds one encoder, one batch (plus the loader's prefetch) and one
width's sliced weights at a time, whatever the split's size; features go to a file per width as they are made.
Features are pooled from the final-norm tokens: ``mean`` over patch tokens (the usual choice for MAE encoders, whose
class token is not trained by the objective) or the class token (``cls``).

Inputs per encoder (``EncoderInput``): which bands, in which order (RGB sets: the image's channels; GEO-Bench:
band names of the HDF5 samples, e.g. Sentinel-2 B04, B03, B02 for an RGB encoder), a scale dividing raw values
(255 for 8-bit images, e.g. 10000 for Sentinel-2 reflectance), then per-band mean and std.

One ``.npz`` per (encoder, dataset, variant, width) holds ``<split>_features`` (float32, N x D) and
``<split>_targets`` (class ids, or a multi-hot matrix for multi-label sets), the width's FLOPs and parameters, and
``key``: the sha256 of everything that made it (:func:`feature_key`: the encoder's weights and architecture, the
dataset's index, the input settings, the variant, the width and :data:`FEATURES_VERSION`), with ``key_parts`` (the
same as JSON). A file is reused only when its key is the one the inputs give now; any other file is recomputed and
replaced atomically. The batch size and device are not in the key: they change features by float rounding only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_write

log = logging.getLogger(__name__)

# in every key: bump when this code changes what a feature file holds (pooling, resizing, the slimming rule)
FEATURES_VERSION = 2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class EncoderInput:
    """How an encoder wants its pixels."""

    img_size: int = 224
    bands: dict[str, list[str]] = field(default_factory=dict)  # per dataset layout ("class_folders", "geobench")
    scale: dict[str, float] = field(default_factory=lambda: {"class_folders": 255.0, "geobench": 10000.0})
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    pool: str = "mean"
    # a band the encoder expects but a dataset lacks (SSL4EO's 13 Sentinel-2 bands on m-so2sat, which has 10):
    # "error", or "fill" it with the band's normalisation mean, i.e. zero input after normalisation
    missing_bands: str = "error"

    def __post_init__(self) -> None:
        if self.missing_bands not in ("error", "fill"):
            raise ConfigError(f"missing_bands must be 'error' or 'fill', got {self.missing_bands!r}")
        if self.pool not in ("mean", "cls"):
            raise ConfigError(f"feature pooling must be 'mean' or 'cls', got {self.pool!r}")
        if len(self.mean) != len(self.std):
            raise ConfigError(f"input mean has {len(self.mean)} values but std has {len(self.std)}")

    def identity(self) -> dict[str, Any]:
        """Every setting, as plain JSON values (part of a feature file's key)."""
        return {
            "img_size": int(self.img_size), "pool": self.pool, "missing_bands": self.missing_bands,
            "bands": {layout: list(bands) for layout, bands in sorted(self.bands.items())},
            "scale": {layout: float(value) for layout, value in sorted(self.scale.items())},
            "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std],
        }  # fmt: skip


@dataclass
class Split:
    """A split decoded into memory (small sets and tests; the workflow streams :class:`SplitImages`)."""

    images: torch.Tensor  # (N, C, H, W) float32, normalised
    targets: np.ndarray  # (N,) class ids or (N, L) multi-hot
    digest: str = ""  # index_digest (load_split): index and image bytes; empty: hashed from the arrays when keyed


def read_index(prepared: str | Path, split: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    prepared = Path(prepared)
    meta_path, index_path = prepared / "meta.json", prepared / f"{split}.csv"
    if not meta_path.is_file() or not index_path.is_file():
        raise DataError(f"{index_path} or meta.json is missing: run the data stage (convert) for {prepared.name}")
    return pd.read_csv(index_path), json.loads(meta_path.read_text())


def index_digest(prepared: str | Path, split: str) -> str:
    """sha256 of a split's index CSV, the set's meta.json and the bytes of every image the index lists: a set
    regenerated or downloaded again under the same names and labels gets new features, not the cached ones."""
    from rsfm.run_state import tree_digest

    index, meta = read_index(prepared, split)
    root = Path(prepared) / meta["image_root"]
    digest = hashlib.sha256(tree_digest(prepared, ["meta.json", f"{split}.csv"]).encode())
    for path in index["path"].astype(str):
        if not (root / path).is_file():
            raise DataError(f"{root / path}, listed in {Path(prepared) / split}.csv, is missing: rerun the data stage "
                            f"for {Path(prepared).name} (its raw files were moved or deleted)")  # fmt: skip
        digest.update(path.encode() + b"\0")
        with open(root / path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def targets_of(index: pd.DataFrame, meta: dict[str, Any]) -> np.ndarray:
    if meta.get("multilabel"):
        hot = np.zeros((len(index), len(meta["classes"])), dtype=np.int64)
        for row, labels in enumerate(index["labels"].fillna("").astype(str)):
            for label in labels.split():
                hot[row, int(label)] = 1
        return hot
    return index["label"].to_numpy(np.int64)


def _read_pixels(path: Path, layout: str, bands: list[str] | None) -> np.ndarray:
    """(C, H, W) float32 raw values."""
    if layout == "geobench":
        from rsfm.data.classification import read_geobench_sample

        array, _, _ = read_geobench_sample(path, bands)
        return array
    from rsfm.io import read_image

    image = read_image(path)
    image = image[..., None] if image.ndim == 2 else image
    channels = [int(b) for b in bands] if bands else list(range(min(3, image.shape[2])))
    return np.ascontiguousarray(image[..., channels].transpose(2, 0, 1), dtype=np.float32)


class SplitImages(Dataset):
    """One split of a prepared set, decoded per item: band-selected, scaled, resized (bilinear, antialiased) and
    normalised to (C, img_size, img_size) float32; ``targets`` and ``digest`` (:func:`index_digest`) come with it."""

    def __init__(self, prepared: str | Path, split: str, spec: EncoderInput) -> None:
        index, meta = read_index(prepared, split)
        self.prepared, self.spec = Path(prepared), spec
        self.layout = meta.get("layout", "class_folders")
        self.root = self.prepared / meta["image_root"]
        self.available = meta.get("bands") or "the image channels"
        self.bands = spec.bands.get(self.layout)
        self.scale = float(spec.scale.get(self.layout, 1.0))
        self.mean = torch.tensor(spec.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(spec.std, dtype=torch.float32).view(-1, 1, 1)
        self.slots = list(range(len(self.mean)))  # where the read bands go among the encoder's
        self.read = self.bands
        if self.bands and self.layout == "geobench" and meta.get("bands"):
            absent = [b for b in self.bands if b not in meta["bands"]]
            if absent and spec.missing_bands == "error":
                raise ConfigError(
                    f"{prepared}: the encoder expects bands {absent}, which {self.prepared.name} does not have "
                    f"(it has {meta['bands']}); set the encoder's missing_bands: fill to feed them as zeros after "
                    "normalisation, or give it bands this dataset has"
                )
            self.slots = [i for i, b in enumerate(self.bands) if b not in absent]
            self.read = [self.bands[i] for i in self.slots]
        self.paths = index["path"].astype(str).tolist()
        self.targets = targets_of(index, meta)
        self.digest = index_digest(prepared, split)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int) -> torch.Tensor:
        pixels = torch.from_numpy(_read_pixels(self.root / self.paths[item], self.layout, self.read)) / self.scale
        expected = len(self.bands) if self.bands else pixels.shape[0]
        if expected != len(self.mean):
            raise ConfigError(
                f"{self.prepared}: images give {pixels.shape[0]} bands but the encoder's mean/std have "
                f"{len(self.mean)}; set the encoder's bands for {self.layout!r} (available: {self.available})"
            )
        size = self.spec.img_size
        resized = F.interpolate(pixels[None], size=(size, size), mode="bilinear", antialias=True)
        image = torch.zeros(len(self.mean), size, size)  # absent bands stay 0: their mean
        image[self.slots] = (resized[0] - self.mean[self.slots]) / self.std[self.slots]
        return image


def load_split(prepared: str | Path, split: str, spec: EncoderInput) -> Split:
    """Every image of a split in memory (see :class:`SplitImages`); for small sets: the sweep streams instead."""
    images = SplitImages(prepared, split, spec)
    stacked = torch.stack([images[i] for i in range(len(images))]) if len(images) else torch.empty(0)
    return Split(stacked, images.targets, images.digest)


def _pool(model: nn.Module, images: torch.Tensor, pool: str) -> torch.Tensor:
    if hasattr(model, "pool_features"):  # a model that pools its own way (rsfm.slimming.foundation: DOFA's fc_norm)
        return model.pool_features(images, pool)
    tokens = model.forward_features(images)
    prefix = getattr(model, "num_prefix_tokens", 1)
    return tokens[:, 0] if pool == "cls" else tokens[:, prefix:].mean(dim=1)


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, pool: str, batch_size: int = 256, device: str = "cpu"):
    """Pooled final-norm tokens of ``images`` (N, D), float32 on the CPU."""
    model = model.eval().to(device)
    out = [_pool(model, images[start : start + batch_size].to(device), pool).float().cpu()
           for start in range(0, len(images), batch_size)]  # fmt: skip
    return torch.cat(out).numpy()


def model_digest(model: nn.Module) -> str:
    """sha256 of a model's tensors (names, dtypes, shapes, bytes) and of its layers' types and head counts: the key's
    encoder part when no weights file names it."""
    digest = hashlib.sha256()
    for name, module in model.named_modules():
        digest.update(f"{name}:{type(module).__name__}:{getattr(module, 'num_heads', '')};".encode())
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _split_digest(split: Split | SplitImages) -> str:
    if split.digest:
        return split.digest
    digest = hashlib.sha256(split.images.contiguous().numpy().tobytes())
    digest.update(np.ascontiguousarray(split.targets).tobytes())
    return digest.hexdigest()


def _variant(name: str) -> tuple[str, str]:
    from rsfm.models.slim import PARTS, SELECTIONS

    selection, _, parts = name.partition("-")
    if selection not in SELECTIONS or parts not in PARTS:
        raise ConfigError(f"unknown variant {name!r}: <selection>-<parts>, selection one of {', '.join(SELECTIONS)}, "
                          f"parts one of {', '.join(PARTS)}")  # fmt: skip
    return selection, parts


def feature_key(
    encoder: Any, data: Mapping[str, str], spec: EncoderInput, variant: str, width: float, seed: int = 0
) -> tuple[str, dict[str, Any]]:
    """(sha256, parts) of a feature file's inputs: ``encoder`` (what identifies its weights and architecture, JSON
    values), ``data`` (split -> :func:`index_digest`), the input settings, the variant (its seed only when the
    selection is random), the width and :data:`FEATURES_VERSION`."""
    selection, parts = _variant(variant)
    made = {
        "version": FEATURES_VERSION, "encoder": encoder, "data": dict(data), "input": spec.identity(),
        "variant": {"selection": selection, "parts": parts, **({"seed": int(seed)} if selection == "random" else {})},
        "width": float(width),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(made, sort_keys=True).encode()).hexdigest(), made


def stored_key(path: str | Path) -> str | None:
    """The key a feature file holds; None for a missing, unreadable or key-less (older) file."""
    try:
        with np.load(path) as data:
            return str(data["key"]) if "key" in data.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


@dataclass(frozen=True)
class Cell:
    """One feature file of a sweep: a variant at a width, where it lies and the key it must hold."""

    variant: str
    width: float
    path: Path
    key: str
    made: dict[str, Any] = field(compare=False, hash=False, repr=False)


def _batches(split: Split | SplitImages, batch_size: int, workers: int) -> Iterator[torch.Tensor]:
    if isinstance(split, Split):
        for start in range(0, len(split.images), batch_size):
            yield split.images[start : start + batch_size]
        return
    # the loader holds at most (1 + 2 x workers) decoded batches (torch's default prefetch of 2 per worker)
    yield from DataLoader(split, batch_size=batch_size, shuffle=False, num_workers=workers)


def _write_npz(path: Path, arrays: dict[str, Any], streamed: dict[str, tuple[Path, tuple[int, int]]]) -> None:
    """An .npz as np.savez writes it, the ``streamed`` float32 members copied from raw files (never all in memory)."""
    with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as npz:
        for name, value in arrays.items():
            with npz.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
        for name, (raw, shape) in streamed.items():
            with npz.open(f"{name}.npy", "w", force_zip64=True) as member, open(raw, "rb") as source:
                header = {"descr": "<f4", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(member, header)
                shutil.copyfileobj(source, member, 1 << 22)


def sweeps(
    model: nn.Module,
    splits: Mapping[str, Split | SplitImages],
    variants: Mapping[str, str | Path],
    widths: Sequence[float],
    spec: EncoderInput,
    *,
    seed: int = 0,
    batch_size: int = 256,
    device: str = "cpu",
    flops: dict[tuple[float, str], int] | None = None,
    encoder: Any = None,
    workers: int = 0,
) -> dict[str, list[Cell]]:
    """Features of every split at every width of every variant (``variants``: name, e.g. ``first-all``, -> folder),
    one ``.npz`` per (variant, width); a file whose key matches is reused, the rest are computed in one pass over
    the splits.

    ``encoder``: what identifies the model in the keys (JSON values, e.g. its weights file's sha256 and architecture);
    None hashes the model's tensors. ``flops``: this encoder's forward FLOPs by (width, parts), filled as counted. Which
    dims a selection keeps does not change the shapes, so sweeps of one encoder that differ only in ``selection`` can
    share it and count each width once (counted on a meta-device copy: no memory, ~0.7 s for the default's 12x4).
    """
    encoder = model_digest(model) if encoder is None else encoder
    data = {name: _split_digest(split) for name, split in splits.items()}
    cells: dict[str, list[Cell]] = {}
    for variant, out_dir in variants.items():
        cells[variant] = []
        for s in widths:
            key, made = feature_key(encoder, data, spec, variant, s, seed)
            cells[variant].append(Cell(variant, float(s), Path(out_dir) / f"s{s:g}.npz", key, made))
    todo = []
    for cell in (c for row in cells.values() for c in row):
        found = stored_key(cell.path)
        if found != cell.key:
            if cell.path.exists():  # another encoder, dataset, setting or code version made it: never reuse it
                log.info("%s: recomputing (key %s, expected %s)", cell.path, found or "missing", cell.key[:12])
            todo.append(cell)
    if todo:
        _compute(model, splits, list(dict.fromkeys(todo)), spec, seed=seed, batch_size=batch_size, device=device,
                 flops={} if flops is None else flops, workers=workers)  # fmt: skip
    return cells


def _compute(
    model: nn.Module, splits: Mapping[str, Split | SplitImages], todo: list[Cell], spec: EncoderInput, *, seed: int,
    batch_size: int, device: str, flops: dict[tuple[float, str], int], workers: int,
) -> None:  # fmt: skip
    from rsfm.models import accounting
    from rsfm.models.slim import meta_copy, slim_model, slimmed

    model = model.eval().to(device)
    first = next(iter(splits.values()))
    in_chans = first.images.shape[1] if isinstance(first, Split) and first.images.ndim == 4 else len(spec.mean)
    meta, counts = meta_copy(model), {}
    for cell in todo:
        selection, parts = _variant(cell.variant)
        shape = slim_model(meta, cell.width, selection=selection, parts=parts, seed=seed)
        if (cell.width, parts) not in flops:
            flops[cell.width, parts] = accounting.model_flops(shape, spec.img_size, in_chans)
        counts[cell] = (flops[cell.width, parts], sum(p.numel() for p in shape.parameters()))
    del meta
    # Each batch is decoded once and run at every pending width, slicing the encoder per layer as it runs: decoding
    # once per width costs a GEO-Bench read (~3 ms/image) x 155 cells in the paper config, and holding every slimmed
    # model ~sum(widths) x variants copies of the blocks; re-slicing costs a few ms per batch and one layer's weights.
    raw = {(cell, name): cell.path.with_name(f".{cell.path.name}.{name}.part") for cell in todo for name in splits}
    rows, dims = dict.fromkeys(splits, 0), int(getattr(model, "num_features", 0))
    try:
        for name, split in splits.items():
            for cell in todo:
                cell.path.parent.mkdir(parents=True, exist_ok=True)
            handles = {cell: open(raw[cell, name], "wb") for cell in todo}  # noqa: SIM115 (closed below)
            try:
                for batch in _batches(split, batch_size, workers):
                    batch = batch.to(device)
                    for cell in todo:
                        selection, parts = _variant(cell.variant)
                        # sliced per layer as it runs (lazy): one layer's sliced weights at a time, not a copy
                        with torch.no_grad(), slimmed(model, cell.width, selection=selection, parts=parts, seed=seed,
                                                      lazy=True):  # fmt: skip
                            pooled = _pool(model, batch, spec.pool).float().cpu().numpy()
                        handles[cell].write(np.ascontiguousarray(pooled, dtype="<f4").tobytes())
                    rows[name] += len(batch)
                    dims = pooled.shape[1]
            finally:
                for handle in handles.values():
                    handle.close()
        for cell in todo:
            flop, params = counts[cell]
            arrays: dict[str, Any] = {"width": np.float64(cell.width), "flops": np.int64(flop),
                                      "params": np.int64(params)}  # fmt: skip
            for name, split in splits.items():
                arrays[f"{name}_targets"] = split.targets
            arrays["key"], arrays["key_parts"] = np.str_(cell.key), np.str_(json.dumps(cell.made, sort_keys=True))
            streamed = {f"{name}_features": (raw[cell, name], (rows[name], dims)) for name in splits}
            _write_npz(cell.path, arrays, streamed)
    finally:
        for path in raw.values():
            path.unlink(missing_ok=True)


def sweep(
    model: nn.Module,
    splits: Mapping[str, Split | SplitImages],
    widths: Sequence[float],
    out_dir: str | Path,
    spec: EncoderInput,
    *,
    selection: str = "first",
    parts: str = "all",
    seed: int = 0,
    batch_size: int = 256,
    device: str = "cpu",
    flops: dict[tuple[float, str], int] | None = None,
    encoder: Any = None,
    workers: int = 0,
) -> list[Path]:
    """One variant's :func:`sweeps`: the feature files of every width, in the order of ``widths``."""
    variant = f"{selection}-{parts}"
    cells = sweeps(model, splits, {variant: out_dir}, widths, spec, seed=seed, batch_size=batch_size, device=device,
                   flops=flops, encoder=encoder, workers=workers)  # fmt: skip
    return [cell.path for cell in cells[variant]]


__all__ = [
    "FEATURES_VERSION", "Cell", "EncoderInput", "Split", "SplitImages", "embed", "feature_key", "index_digest",
    "load_split", "model_digest", "read_index", "stored_key", "sweep", "sweeps", "targets_of",
]  # fmt: skip
