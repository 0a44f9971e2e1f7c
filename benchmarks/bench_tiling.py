"""Tiling throughput: windows per second of the DOTA splitter on synthetic scenes of >= 8000 x 8000 pixels.

    .venv/bin/python benchmarks/bench_tiling.py [--size 8000] [--scenes 2] [--workers 1 2]

Prints a table: scenes, workers, windows, objects written, seconds, windows/s. Scenes come from the synthetic
generator (textured land cover, ~thousands of oriented objects), so PNG encoding and polygon clipping cost what they
cost on real DOTA scenes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rsfm.data.annotations import DotaLabel, write_dota_label
from rsfm.data.dota_split import split_dataset
from rsfm.data.synthetic import STYLES, render_scene
from rsfm.io import write_image


def make_scenes(root: Path, count: int, size: int) -> int:
    objects = 0
    for k in range(count):
        rng = np.random.default_rng(k)
        covers = {"impervious": 1.0, "water": 0.7, "low_vegetation": 0.8, "bare": 0.4, "tree": 0.4}
        image, _, objs = render_scene(rng, size, size, covers, tuple(STYLES), scale=size / 16)
        write_image(root / "images" / f"P{k:04d}.png", image)
        write_dota_label(root / "labelTxt" / f"P{k:04d}.txt", DotaLabel(objs))
        objects += len(objs)
    return objects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        objects = make_scenes(root / "src", args.scenes, args.size)
        print(f"generated {args.scenes} scenes of {args.size}x{args.size} with {objects} objects "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        rows = []
        for workers in args.workers:
            out = root / f"out{workers}"
            started = time.perf_counter()
            index = split_dataset(root / "src/images", root / "src/labelTxt", out, workers=workers)
            seconds = time.perf_counter() - started
            rows.append((args.scenes, workers, len(index), int(index["objects"].sum()), seconds, len(index) / seconds))
    header = f"{'scenes':>6} {'workers':>7} {'windows':>7} {'objects':>8} {'seconds':>8} {'windows/s':>9}"
    print(header)
    print("-" * len(header))
    for scenes, workers, windows, objs, seconds, rate in rows:
        print(f"{scenes:>6} {workers:>7} {windows:>7} {objs:>8} {seconds:>8.1f} {rate:>9.1f}")


if __name__ == "__main__":
    main()
