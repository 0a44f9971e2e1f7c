"""Peak resident memory of a slimming feature sweep against split size and encoder size (a printed table).

    PYTHONPATH=src python benchmarks/bench_slimming_memory.py        # defaults: ~3 min on 2 CPU cores
    PYTHONPATH=src python benchmarks/bench_slimming_memory.py --sizes 1000 4000 16000 64000 \\
        --encoders vit_tiny12x1 vit_b12x1 vit_l12x4 --img-size 64 --grid

Every row runs :func:`rsfm.slimming.features.sweeps` as the workflow's features job runs it (the split streamed
once, every width of every variant) over a synthetic class-folder set of random 64-px PNGs (train split: ``images``
of them; test split: 64), in a fresh Python process, and reads that process's resident-memory high-water mark
(``VmHWM`` of /proc/self/status). The split sizes run on the first encoder and the other encoders at the first size
(``--grid``: every pair). Columns: ``weights`` = one encoder's parameter and buffer bytes; ``baseline`` = resident
memory after the imports, before the encoder is built; ``peak``; ``above`` = peak - baseline (the encoder and the
sweep); ``above/w`` = above / weights. Goal: peak flat in images, and above/w <= 2 once the weights outweigh one
batch's activations and the allocator's working set (the tiny encoders' ~20 MB of weights do not).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 2**20


def _status(field: str) -> float:
    """A /proc/self/status memory field in MB (Linux); the rusage high-water mark where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def write_set(root: Path, images: int, test: int, side: int = 64) -> None:
    """``images`` random RGB PNGs in 4 class folders, written once and shared by every split size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / "images" / f"c{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (root / "test.csv").write_text("path,label\n" + "".join(f"c{i % 4}/{i}.png,{i % 4}\n" for i in range(test)))


def prepared_set(root: Path, images: int) -> Path:
    """A prepared set (as the data stage writes it) whose train split is the first ``images`` PNGs."""
    prepared = root / f"prepared_{images}"
    prepared.mkdir(exist_ok=True)
    meta = {"layout": "class_folders", "image_root": "../images", "classes": ["c0", "c1", "c2", "c3"]}
    (prepared / "meta.json").write_text(json.dumps(meta))
    rows = "".join(f"c{i % 4}/{i}.png,{i % 4}\n" for i in range(images))
    (prepared / "train.csv").write_text("path,label\n" + rows)
    (prepared / "test.csv").write_text((root / "test.csv").read_text())
    return prepared


def cell(args: argparse.Namespace) -> None:
    """One row, in this (fresh) process: prints its measurements as JSON."""
    import torch

    from rsfm.models.vit import create_encoder
    from rsfm.slimming.features import EncoderInput, SplitImages, sweeps

    baseline = _status("VmRSS")
    torch.manual_seed(0)
    model = create_encoder(args.encoder, img_size=args.img_size, patch_size=args.patch_size).eval()
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())) / MB
    spec = EncoderInput(img_size=args.img_size)
    prepared = prepared_set(Path(args.root), args.images)
    splits = {name: SplitImages(prepared, name, spec) for name in ("train", "test")}
    out = Path(args.root) / "features" / f"{args.encoder}_{args.images}"
    start = time.perf_counter()
    sweeps(model, splits, {v: out / v for v in args.variants}, args.widths, spec, batch_size=args.batch,
           workers=args.workers)  # fmt: skip
    seconds = time.perf_counter() - start
    row = {"encoder": args.encoder, "images": args.images, "weights": weights, "baseline": baseline,
           "peak": _status("VmHWM"), "seconds": seconds}  # fmt: skip
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000], help="train images per row")
    parser.add_argument("--encoders", nargs="+", default=["vit_tiny12x1", "vit_b12x1"])
    parser.add_argument("--grid", action="store_true", help="every (encoder, size) pair")
    parser.add_argument("--img-size", type=int, default=32, help="encoder input (the PNGs are 64 px)")
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.75, 1.0])
    parser.add_argument("--variants", nargs="+", default=["first-all"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (their memory is not counted)")
    parser.add_argument("--test-images", type=int, default=64)
    parser.add_argument("--cell", nargs=2, metavar=("ENCODER", "IMAGES"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        args.encoder, args.images = args.cell[0], int(args.cell[1])
        cell(args)
        return
    rows = [(args.encoders[0], n) for n in args.sizes] + [(e, args.sizes[0]) for e in args.encoders[1:]]
    if args.grid:
        rows = [(e, n) for e in args.encoders for n in args.sizes]
    flags = ["--img-size", str(args.img_size), "--patch-size", str(args.patch_size), "--batch", str(args.batch),
             "--workers", str(args.workers), "--widths", *map(str, args.widths),
             "--variants", *args.variants]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_slimming_memory-") as tmp:
        write_set(Path(tmp), max(max(args.sizes), args.test_images), args.test_images)
        threads = os.environ.get("OMP_NUM_THREADS", "default")
        print(f"# feature sweep: widths {args.widths}, variants {args.variants}, batch {args.batch}, "
              f"{args.img_size} px / patch {args.patch_size}, {args.workers} loader workers; {os.cpu_count()} CPUs, "
              f"OMP_NUM_THREADS {threads}; one fresh process per row")  # fmt: skip
        print(f"{'encoder':<14} {'images':>7} {'weights MB':>10} {'baseline MB':>11} {'peak MB':>8} {'above MB':>8} "
              f"{'above/w':>7} {'seconds':>8}")  # fmt: skip
        for encoder, images in rows:
            done = subprocess.run(
                [sys.executable, __file__, "--cell", encoder, str(images), "--root", tmp, *flags],
                capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"row {encoder} x {images} failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            above = row["peak"] - row["baseline"]
            print(f"{encoder:<14} {images:>7} {row['weights']:>10.1f} {row['baseline']:>11.1f} {row['peak']:>8.1f} "
                  f"{above:>8.1f} {above / row['weights']:>7.2f} {row['seconds']:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
