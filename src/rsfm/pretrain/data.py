"""Pretraining data: MillionAID shards read by index, in an order fixed by (seed, epoch, step).

Every sample's position in the run is a function of the global step, and its augmentation is seeded by
(seed, epoch, sample), so a run resumed from a checkpoint sees exactly the batches an uninterrupted run would have,
whatever the number of loader workers. Images are read with one seek into their shard (the index holds byte offsets);
loader workers decode and augment in parallel so the accelerator is not kept waiting.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2 as T

from rsfm.data.millionaid import read_member
from rsfm.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ShardImages(Dataset):
    """Images of a shard folder (written by the data stage), augmented as MAE pretraining does:
    RandomResizedCrop(scale 0.2-1.0, bicubic) + horizontal flip + ImageNet normalisation."""

    def __init__(self, shard_dir: str | Path, img_size: int, seed: int = 0, scale: tuple[float, float] = (0.2, 1.0)):
        self.shard_dir = Path(shard_dir)
        index_path = self.shard_dir / "index.csv"
        if not index_path.is_file():
            raise DataError(f"{index_path} is missing: run the data stage (tile rule) for the pretraining dataset")
        index = pd.read_csv(index_path, dtype={"key": str})
        self.shards = index["shard"].to_numpy()
        self.offsets = index["offset"].to_numpy(np.int64)
        self.sizes = index["size"].to_numpy(np.int64)
        self.seed = seed
        self.epoch = 0
        self.transform = T.Compose(
            [
                T.RandomResizedCrop(img_size, scale=scale, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
                T.RandomHorizontalFlip(),
                T.ToImage(),
                T.ToDtype(torch.float32, scale=True),
                T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        payload = read_member(self.shard_dir, self.shards[index], self.offsets[index], self.sizes[index])
        image = Image.open(io.BytesIO(payload)).convert("RGB")
        # The augmentation draws from torch's global generator: fork it and seed per (seed, epoch, sample) so the
        # crop does not depend on which worker loads the sample or on what ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash((self.seed, epoch, index)) & 0x7FFFFFFF)
            return self.transform(image)


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
