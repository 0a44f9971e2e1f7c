"""Images/s of the pretraining loader (MillionAID shards -> RandomResizedCrop + flip -> batches) per worker count.

    PYTHONPATH=src python benchmarks/bench_loader.py                          # 2 cores: 1 and 2 workers
    PYTHONPATH=src python benchmarks/bench_loader.py --workers 4 8 16 --side 1024

Writes ``--images`` JPEGs of ``--side`` pixels (smooth fields plus texture, so they compress like aerial photos,
quality 95 as the sharder writes them) into shards with :func:`rsfm.data.millionaid.write_shards`, then reads them
through exactly what the engine uses (:class:`ShardImages`, :class:`StepSampler`, a DataLoader with
``prefetch_factor=4``) and times ``--batches`` batches after one warm-up pass of the workers. Compare the rates with
the training step's images/s (``bench_pretrain_step.py``): a loader slower than the step starves the accelerator.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rsfm.data.millionaid import write_shards
from rsfm.pretrain.data import ShardImages, StepSampler


def write_images(folder: Path, count: int, side: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    texture = rng.normal(0, 12, size=(side, side, 3)).astype(np.int16)  # drawn once, shifted per image
    for i in range(count):
        coarse = rng.uniform(0, 255, size=(side // 32 + 1, side // 32 + 1, 3)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC), dtype=np.int16)
        shifted = np.roll(texture, shift=tuple(rng.integers(0, side, size=2)), axis=(0, 1))
        pixels = np.clip(field + shifted, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=95)


def images_per_s(shard_dir: Path, img_size: int, batch: int, workers: int, batches: int) -> float:
    dataset = ShardImages(shard_dir, img_size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, num_workers=workers, sampler=StepSampler(len(dataset), batch, 0, 1, seed=0),
        persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
    )  # fmt: skip
    stream = iter(loader)
    for _ in range(max(1, workers)):  # every worker started and past its first batch
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--side", type=int, default=512, help="side of the stored images (MillionAID: ~100-30000)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw, shards = Path(tmp) / "raw", Path(tmp) / "shards"
        raw.mkdir()
        write_images(raw, args.images, args.side)
        write_shards(raw, shards, images_per_shard=max(1, args.images // 4), workers=min(4, max(args.workers)))
        print(f"# {args.images} JPEGs of {args.side} px -> {args.img_size} px crops, batch {args.batch}")
        print(f"{'workers':>7} {'images/s':>9} {'per worker':>10}")
        for workers in args.workers:
            rate = images_per_s(shards, args.img_size, args.batch, workers, args.batches)
            print(f"{workers:>7} {rate:>9.1f} {rate / max(1, workers):>10.1f}", flush=True)


if __name__ == "__main__":
    main()
