"""Throughput of the DOTA splitter (size 1024, gap 200, rate 1.0) on large synthetic scenes, for 1 and 2 workers.

    PYTHONPATH=src python benchmarks/bench_tiling.py [--side 8000] [--objects 2000] [--scenes 2] [--workers 1 2]
    PYTHONPATH=src python benchmarks/bench_tiling.py --image P0000.png [--label P0000.txt] [--scenes 2]

Each synthetic scene is ``side`` x ``side`` pixels of smooth land-cover-like texture with pixel noise, and about
``objects`` oriented rectangles of several classes and sizes (vehicles to harbours) filled with cv2.fillPoly, so
PNG encoding and polygon clipping cost what they cost on a real DOTA scene. ``--image`` takes a real scene instead
(linked ``--scenes`` times under different names). Workers split whole scenes (one scene per task), so more than one
worker needs more than one scene. Prints: workers, windows, seconds, windows/s, objects written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rsfm.data.annotations import DotaLabel, OrientedObject, write_dota_label
from rsfm.data.dota_split import split_dataset
from rsfm.io import write_image

# class, (min, max) long side in pixels, aspect (short / long) range, colour
CLASSES = (
    ("small-vehicle", (12, 30), (0.4, 0.6), (220, 220, 230)),
    ("large-vehicle", (30, 70), (0.25, 0.45), (240, 200, 60)),
    ("ship", (30, 200), (0.15, 0.35), (250, 250, 250)),
    ("plane", (40, 120), (0.8, 1.0), (200, 200, 210)),
    ("storage-tank", (20, 80), (0.95, 1.0), (180, 180, 170)),
    ("tennis-court", (40, 60), (0.45, 0.55), (60, 140, 90)),
    ("harbor", (150, 500), (0.1, 0.3), (120, 110, 100)),
)
WEIGHTS = np.array([0.45, 0.15, 0.15, 0.08, 0.08, 0.05, 0.04])


def make_scene(path: Path, label_path: Path, side: int, n_objects: int, seed: int) -> int:
    """Write one synthetic scene and its DOTA label; returns the number of objects."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 160, size=(side // 256 + 2, side // 256 + 2, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC)
    image = cv2.add(image, rng.integers(0, 16, size=image.shape, dtype=np.uint8))
    objects = []
    for index in rng.choice(len(CLASSES), size=n_objects, p=WEIGHTS / WEIGHTS.sum()):
        name, (lo, hi), (alo, ahi), colour = CLASSES[index]
        length = rng.uniform(lo, hi)
        width = length * rng.uniform(alo, ahi)
        theta = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        half = np.array([[-length, -width], [length, -width], [length, width], [-length, width]]) / 2
        reach = np.abs(half @ rot.T).max(axis=0)
        centre = rng.uniform(reach, side - reach)  # wholly inside the image, as DOTA's objects are
        poly = half @ rot.T + centre
        cv2.fillPoly(image, [np.round(poly).astype(np.int32)], colour)
        objects.append(OrientedObject(poly, name, int(rng.random() < 0.05)))
    write_image(path, image)
    write_dota_label(label_path, DotaLabel(objects, {"imagesource": "synthetic", "gsd": "0.3"}))
    return len(objects)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=8000, help="synthetic scene side in pixels (>= 8000 by default)")
    parser.add_argument("--objects", type=int, default=2000, help="oriented rectangles per synthetic scene")
    parser.add_argument("--scenes", type=int, default=2, help="scenes in the folder (the workers split scenes)")
    parser.add_argument("--image", type=Path, help="a real scene to split instead of synthetic ones")
    parser.add_argument("--label", type=Path, help="its DOTA label file (none: split as a test image)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the scenes and the output")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "labelTxt").mkdir()
        started = time.perf_counter()
        if args.image is not None:
            for k in range(args.scenes):
                target = root / "images" / f"S{k:04d}{args.image.suffix}"
                try:
                    os.link(args.image, target)
                except OSError:
                    shutil.copy(args.image, target)
                if args.label is not None:
                    shutil.copy(args.label, root / "labelTxt" / f"S{k:04d}.txt")
            labels = root / "labelTxt" if args.label is not None else None
            print(f"scenes: {args.scenes} x {args.image}")
        else:
            total = sum(
                make_scene(root / "images" / f"S{k:04d}.png", root / "labelTxt" / f"S{k:04d}.txt",
                           args.side, args.objects, seed=k)
                for k in range(args.scenes)
            )  # fmt: skip
            labels = root / "labelTxt"
            print(f"scenes: {args.scenes} synthetic, {args.side} x {args.side} px, {total} objects in all, "
                  f"generated in {time.perf_counter() - started:.1f} s")  # fmt: skip
        rows = []
        for workers in args.workers:
            out = root / f"out-{workers}"
            started = time.perf_counter()
            index = split_dataset(root / "images", labels, out, workers=workers, sizes=(1024,), gaps=(200,),
                                  rates=(1.0,))  # fmt: skip
            seconds = time.perf_counter() - started
            rows.append((workers, len(index), seconds, len(index) / seconds, int(index["objects"].sum()),
                         int(index["truncated"].sum())))  # fmt: skip
            shutil.rmtree(out)
    header = f"{'workers':>7} {'windows':>7} {'seconds':>8} {'windows/s':>9} {'objects written':>15} {'truncated':>9}"
    print(header)
    print("-" * len(header))
    for workers, windows, seconds, rate, objects, truncated in rows:
        print(f"{workers:>7} {windows:>7} {seconds:>8.1f} {rate:>9.2f} {objects:>15} {truncated:>9}")


if __name__ == "__main__":
    main()
