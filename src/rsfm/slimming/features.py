"""Frozen features of a classification set at every width of a sweep, computed once and cached.

The images of a (dataset, split) are decoded and resized once into one tensor, then every width ``s`` slims the
encoder (:func:`rsfm.slimming.slim.slim_model`) and embeds them; a sweep's cost is therefore the sum of the slimmed
models' costs, which falls with ``s``. Features are pooled from the final-norm tokens: ``mean`` over patch tokens
(the usual choice for MAE encoders, whose class token is not trained by the objective) or the class token (``cls``).

Inputs per encoder (``EncoderInput``): which bands, in which order (RGB sets: the image's channels; GEO-Bench:
band names of the HDF5 samples, e.g. Sentinel-2 B04, B03, B02 for an RGB encoder), a scale dividing raw values
(255 for 8-bit images, e.g. 10000 for Sentinel-2 reflectance), then per-band mean and std.

One ``.npz`` per (encoder, dataset, width) holds ``<split>_features`` (float32, N x D) and ``<split>_targets``
(class ids, or a multi-hot matrix for multi-label sets), plus the width's FLOPs and parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_write

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


@dataclass
class Split:
    images: torch.Tensor  # (N, C, H, W) float32, normalised
    targets: np.ndarray  # (N,) class ids or (N, L) multi-hot


def read_index(prepared: str | Path, split: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    prepared = Path(prepared)
    meta_path, index_path = prepared / "meta.json", prepared / f"{split}.csv"
    if not meta_path.is_file() or not index_path.is_file():
        raise DataError(f"{index_path} or meta.json is missing: run the data stage (convert) for {prepared.name}")
    return pd.read_csv(index_path), json.loads(meta_path.read_text())


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


def load_split(prepared: str | Path, split: str, spec: EncoderInput) -> Split:
    """Every image of a split, band-selected, scaled, resized (bilinear, antialiased) and normalised."""
    index, meta = read_index(prepared, split)
    layout = meta.get("layout", "class_folders")
    root = Path(prepared) / meta["image_root"]
    bands = spec.bands.get(layout)
    scale = float(spec.scale.get(layout, 1.0))
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(-1, 1, 1)
    slots = None  # where the read bands go among the encoder's (None: all of them, in order)
    if bands and layout == "geobench" and meta.get("bands"):
        absent = [b for b in bands if b not in meta["bands"]]
        if absent and spec.missing_bands == "error":
            raise ConfigError(
                f"{prepared}: the encoder expects bands {absent}, which {Path(prepared).name} does not have "
                f"(it has {meta['bands']}); set the encoder's missing_bands: fill to feed them as zeros after "
                "normalisation, or give it bands this dataset has"
            )
        slots = [i for i, b in enumerate(bands) if b not in absent]
    images = []
    for rel in index["path"]:
        read = [bands[i] for i in slots] if slots is not None else bands
        pixels = torch.from_numpy(_read_pixels(root / rel, layout, read)) / scale
        expected = len(bands) if bands else pixels.shape[0]
        if expected != len(mean):
            raise ConfigError(
                f"{prepared}: images give {pixels.shape[0]} bands but the encoder's mean/std have {len(mean)}; set "
                f"the encoder's bands for {layout!r} (available: {meta.get('bands') or 'the image channels'})"
            )
        resized = F.interpolate(pixels[None], size=(spec.img_size, spec.img_size), mode="bilinear", antialias=True)
        at = slots if slots is not None else list(range(len(mean)))
        image = torch.zeros(len(mean), spec.img_size, spec.img_size)  # absent bands stay 0: their mean
        image[at] = (resized[0] - mean[at]) / std[at]
        images.append(image)
    return Split(torch.stack(images), targets_of(index, meta))


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, pool: str, batch_size: int = 256, device: str = "cpu"):
    """Pooled final-norm tokens of ``images`` (N, D), float32 on the CPU."""
    model = model.eval().to(device)
    prefix = getattr(model, "num_prefix_tokens", 1)
    out = []
    for start in range(0, len(images), batch_size):
        tokens = model.forward_features(images[start : start + batch_size].to(device))
        pooled = tokens[:, 0] if pool == "cls" else tokens[:, prefix:].mean(dim=1)
        out.append(pooled.float().cpu())
    return torch.cat(out).numpy()


def sweep(
    model: nn.Module,
    splits: dict[str, Split],
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
) -> list[Path]:
    """Features of every split at every width, one ``.npz`` per width (written atomically), skipping done ones.

    ``flops``: this encoder's forward FLOPs by (width, parts), filled as counted. Which dims a selection keeps does not
    change the shapes, so sweeps of one encoder that differ only in ``selection`` can share it and count each width
    once (a count runs the model on meta tensors: ~0.7 s for the default's 12x4 size, as long as embedding a split).
    """
    from rsfm.models.accounting import model_flops
    from rsfm.slimming.slim import slim_model

    out_dir = Path(out_dir)
    in_chans = next(iter(splits.values())).images.shape[1]
    flops = {} if flops is None else flops
    written = []
    for s in widths:
        path = out_dir / f"s{s:g}.npz"
        written.append(path)
        if path.is_file():
            continue
        slim = slim_model(model, s, selection=selection, parts=parts, seed=seed)
        key = (float(s), parts)
        if key not in flops:
            flops[key] = model_flops(slim, spec.img_size, in_chans)
        arrays: dict[str, Any] = {
            "width": np.float64(s),
            "flops": np.int64(flops[key]),
            "params": np.int64(sum(p.numel() for p in slim.parameters())),
        }
        for name, split in splits.items():
            arrays[f"{name}_features"] = embed(slim, split.images, spec.pool, batch_size, device)
            arrays[f"{name}_targets"] = split.targets
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)
    return written


__all__ = ["EncoderInput", "Split", "embed", "load_split", "read_index", "sweep", "targets_of"]
