"""Pretraining data: MillionAID shards read by index, in an order fixed by (seed, epoch, step).

Every sample's position in the run is a function of the global step, and its augmentation is seeded by
(seed, epoch, sample), so a run resumed from a checkpoint sees exactly the batches an uninterrupted run would have,
whatever the number of loader workers. Images are read with one seek into their shard (the index holds byte offsets);
loader workers decode and augment in parallel so the accelerator is not kept waiting.

Two things keep the workers cheap, since one GPU trains on more images per second than a few CPU cores decode:
the crop is chosen from the JPEG header before decoding, and when it is at least twice the output size the JPEG is
decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (PIL's ``draft``, what libjpeg offers for free), which cuts the
decoding cost by the square of the factor on MillionAID's large scenes; and workers hand over uint8 images (a quarter
of the bytes of float32 through shared and pinned memory), normalised on the device by :func:`normalize`; a
:class:`DeviceBatch` hands them to the objective as it asks for them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import RandomResizedCrop

from rsfm.data.millionaid import read_member
from rsfm.data.subsets import subset_indices
from rsfm.errors import DataError
from rsfm.pretrain.augment import MOCO_VIEWS, augment_view

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_DRAFT_REDUCTION = 8  # libjpeg scales by 1/1, 1/2, 1/4, 1/8


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> ImageNet-normalised ``dtype``, computed in float32 wherever ``images`` lives."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return ((images.float() / 255.0 - mean) / std).to(dtype)


def crop_resize(
    image: Image.Image, box: tuple[int, int, int, int], out_size: int, flip: bool, draft: bool = True
) -> torch.Tensor:
    """The (top, left, height, width) ``box`` of a not yet decoded ``image``, resized (bicubic, antialiased) to
    ``out_size`` squared and flipped left-right if ``flip``: a uint8 (3, out_size, out_size) tensor.

    With ``draft``, a JPEG is decoded at the smallest of 1/8, 1/4, 1/2 scale at which the box still has at least
    ``out_size`` pixels on its short side; the box is scaled to the reduced image.
    """
    top, left, height, width = box
    full_w, full_h = image.size
    if draft and image.format == "JPEG":
        reduction = 1
        while reduction < MAX_DRAFT_REDUCTION and min(height, width) >= 2 * reduction * out_size:
            reduction *= 2
        if reduction > 1:
            image.draft("RGB", (math.ceil(full_w / reduction), math.ceil(full_h / reduction)))
    image = image.convert("RGB")
    if image.size == (full_w, full_h):  # full decode: crop, then resize, exactly as torchvision's RandomResizedCrop
        crop = image.crop((left, top, left + width, top + height))
        crop = crop.resize((out_size, out_size), Image.Resampling.BICUBIC)
    else:  # the box in the reduced image's (fractional) coordinates
        sx, sy = image.size[0] / full_w, image.size[1] / full_h
        region = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        crop = image.resize((out_size, out_size), Image.Resampling.BICUBIC, box=region)
    if flip:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1)


class ShardImages(Dataset):
    """Images of a shard folder (written by the data stage), augmented as MAE pretraining does:
    RandomResizedCrop(scale 0.2-1.0, bicubic) + horizontal flip, as uint8; :func:`normalize` on the device.

    With ``views`` > 1 (contrastive objectives), each sample is ``views`` independent crops of the same image,
    (views, 3, H, W); MoCo's colour, blur and solarisation augmentations follow on the device
    (:mod:`rsfm.pretrain.augment`).

    With ``fraction`` < 1 the dataset is that nested share of the shards' images (:mod:`rsfm.data.subsets`, seeded
    by ``seed``): item ``i`` is the ``i``-th kept image, augmented as that image always is."""

    def __init__(
        self,
        shard_dir: str | Path,
        img_size: int,
        seed: int = 0,
        scale: tuple[float, float] = (0.2, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        draft: bool = True,
        views: int = 1,
        fraction: float = 1.0,
    ) -> None:
        if views < 1:
            raise ValueError(f"views must be at least 1, got {views}")
        self.views = views
        self.shard_dir = Path(shard_dir)
        index_path = self.shard_dir / "index.csv"
        if not index_path.is_file():
            raise DataError(f"{index_path} is missing: run the data stage (tile rule) for the pretraining dataset")
        index = pd.read_csv(index_path, dtype={"key": str})
        self.shards = index["shard"].to_numpy()
        self.offsets = index["offset"].to_numpy(np.int64)
        self.sizes = index["size"].to_numpy(np.int64)
        self.all_images = len(index)
        kept = subset_indices(len(index), fraction, seed) if fraction < 1 else np.arange(len(index))
        self.shards, self.offsets, self.sizes = self.shards[kept], self.offsets[kept], self.sizes[kept]
        self.images = kept  # each kept image's position in the shards' index: its augmentation seed
        self.img_size, self.scale, self.ratio, self.draft = img_size, scale, ratio, draft
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        payload = read_member(self.shard_dir, self.shards[index], self.offsets[index], self.sizes[index])
        image = int(self.images[index])
        if self.views == 1:
            return self._view(payload, (self.seed, epoch, image))
        return torch.stack([self._view(payload, (self.seed, epoch, image, view)) for view in range(self.views)])

    def _view(self, payload: bytes, key: tuple[int, ...]) -> torch.Tensor:
        image = Image.open(io.BytesIO(payload))  # header only: the size, not yet the pixels
        # Crop and flip draw from torch's global generator: fork it and seed per (seed, epoch, sample[, view]) so the
        # augmentation does not depend on which worker loads the sample or on what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash(key) & 0x7FFFFFFF)
            box = RandomResizedCrop.get_params(image, list(self.scale), list(self.ratio))
            flip = bool(torch.rand(()) < 0.5)
        return crop_resize(image, box, self.img_size, flip, draft=self.draft)


class StepSampler(Sampler[tuple[int, int]]):
    """Yields (epoch, index) for this rank's micro-batches from ``start_step`` on.

    Each epoch is a permutation drawn from (seed, epoch); rank r takes every world-th sample, and an epoch has
    ``len(dataset) // (micro_batch * world)`` micro-batches per rank (the tail is dropped, as drop_last does).
    """

    def __init__(self, length: int, micro_batch: int, rank: int, world: int, seed: int, start_step: int = 0):
        self.length, self.micro_batch, self.rank, self.world = length, micro_batch, rank, world
        self.seed, self.start_step = seed, start_step
        self.steps_per_epoch = length // (micro_batch * world)
        if self.steps_per_epoch == 0:
            raise DataError(f"{length} images cannot fill one batch of {micro_batch} x {world} ranks")

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start_step
        while True:
            epoch, within = divmod(step, self.steps_per_epoch)
            order = np.random.default_rng([self.seed, epoch]).permutation(self.length)
            mine = order[self.rank :: self.world][: self.steps_per_epoch * self.micro_batch]
            for position in range(within * self.micro_batch, len(mine)):
                yield epoch, int(mine[position])
            step = (epoch + 1) * self.steps_per_epoch

    def __len__(self) -> int:  # infinite stream; the training loop decides when to stop
        return 2**62


@dataclass
class DeviceBatch:
    """One micro-batch of the loader's uint8 ``pixels`` on the device, as an objective asks for it
    (rsfm.models.objective.Batch): normalised to ``dtype``, its crops augmented as views with ``generator``."""

    pixels: torch.Tensor  # (N, 3, H, W), or (N, views, 3, H, W) for objectives with several views
    generator: torch.Generator
    dtype: torch.dtype

    def images(self) -> torch.Tensor:
        return normalize(self.pixels, self.dtype)

    def views(self) -> list[torch.Tensor]:
        """The crops of each image as the two views of MoCo v3's recipe (:mod:`rsfm.pretrain.augment`)."""
        if self.pixels.shape[1] != len(MOCO_VIEWS):
            raise ValueError(f"{len(MOCO_VIEWS)} crops per image make the views, got {self.pixels.shape[1]}")
        return [normalize(augment_view(self.pixels[:, v].float() / 255, policy, self.generator) * 255, self.dtype)
                for v, policy in enumerate(MOCO_VIEWS)]  # fmt: skip
