"""Wall time of a full 31-width post-hoc slimming sweep (feature extraction) for one ViT-B/16 on one dataset.

    PYTHONPATH=src python benchmarks/bench_slimming.py                 # 64 images at 224 px, CPU
    PYTHONPATH=src python benchmarks/bench_slimming.py --images 2048 --device cuda

Times :func:`rsfm.slimming.features.sweep`'s per-width work (slice the encoder, embed every image) on random images
held in memory, so decoding is not measured (the workflow decodes a dataset once per encoder, not per width). Prints
one row per width (seconds, images/s, relative FLOPs, relative time) and the totals: the whole sweep and the ratio of
the time at s = 0.01 to the time at s = 1, which should follow the FLOPs down until fixed costs (patch embedding,
norms, the residual stream's width) dominate.
"""

from __future__ import annotations

import argparse
import time

import torch
from timm.models.vision_transformer import VisionTransformer

from rsfm.models.accounting import model_flops
from rsfm.models.slim import slim_model
from rsfm.slimming.features import embed

# paper 2's 31 widths
WIDTHS = (
    0.001, 0.002, 0.0025, 0.00333, 0.004, 0.005, 0.006, 0.00667, 0.0075, 0.008, 0.01, 0.02, 0.025, 0.0333, 0.04,
    0.05, 0.06, 0.0667, 0.075, 0.08, 0.1, 0.2, 0.25, 0.333, 0.4, 0.5, 0.6, 0.667, 0.75, 0.8, 1.0,
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = VisionTransformer(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, num_classes=0)
    images = torch.randn(args.images, 3, 224, 224)
    full_flops = model_flops(model)
    embed(model, images[: args.batch], "mean", args.batch, args.device)  # warm-up
    hardware = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# ViT-B/16, {args.images} images at 224 px, batch {args.batch}; {hardware}")
    print(f"{'width':>8} {'seconds':>8} {'images/s':>9} {'rel FLOPs':>9} {'rel time':>8}")
    times = {}
    for s in sorted(WIDTHS, reverse=True):
        start = time.perf_counter()
        slim = slim_model(model, s)
        embed(slim, images, "mean", args.batch, args.device)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times[s] = time.perf_counter() - start
        rel_flops = model_flops(slim) / full_flops
        rate, rel_time = args.images / times[s], times[s] / times[1.0]
        print(f"{s:>8g} {times[s]:>8.2f} {rate:>9.1f} {rel_flops:>9.4f} {rel_time:>8.3f}")
    print(f"# sweep of {len(WIDTHS)} widths: {sum(times.values()):.1f} s; time(s=0.01) / time(s=1) = "
          f"{times[0.01] / times[1.0]:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
