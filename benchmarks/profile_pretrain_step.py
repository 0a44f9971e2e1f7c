"""Where a training step of the engine spends its time: torch.profiler over a few steps, top operators by GPU and CPU.

    PYTHONPATH=src python benchmarks/profile_pretrain_step.py --model vit_l12x4 --batch 128 [--compile [model]]

Prints wall ms per step, the GPU's busy ms per step (sum of kernel times: the gap to the wall time is time the GPU
waits for the host) and the top operators, and writes a Chrome trace when --trace is given.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from bench_pretrain_step import _free_port
from torch.profiler import ProfilerActivity, profile

from rsfm.models.attention import BACKENDS
from rsfm.pretrain.engine import (
    RunConfig,
    build_engine,
    build_model,
    select_attention,
    separate_extension_builds,
    uses_autocast,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vit_b12x1")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--zero-stage", type=int, default=0)
    parser.add_argument("--no-fuse", action="store_true")
    parser.add_argument("--compile", nargs="?", const="blocks", default=False, choices=["blocks", "model"])
    parser.add_argument("--attention", choices=BACKENDS, default=None, help="the one attention kernel")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compiling takes a few)")
    parser.add_argument("--trace", default=None)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    if not cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    separate_extension_builds()  # CPU ranks: DeepSpeed's communication op, built once per environment path and ninja
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")
    precision = "bf16" if cuda else "fp32"
    cfg = RunConfig(
        model=args.model, shard_dir="", out_dir="", global_batch=args.batch, micro_batch=args.batch,
        precision=precision, zero_stage=args.zero_stage, compile=args.compile,
        fuse_parallel=not args.no_fuse, attention=args.attention,
    )  # fmt: skip
    model = build_model(cfg)
    select_attention(cfg, model, device, bf16=cuda)
    engine, _ = build_engine(cfg, model, 10**6, 1, 1, bf16=cuda)
    dtype = torch.bfloat16 if cuda and not uses_autocast(cfg, cuda) else torch.float32
    images = torch.rand(args.batch, 3, 224, 224, device=device).to(dtype)
    noise = torch.rand(args.batch, 196, device=device)

    def step() -> None:
        loss, _, _ = engine(images, noise=noise)
        engine.backward(loss)
        engine.step()

    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        if cuda:
            torch.cuda.synchronize()
        wall = (time.perf_counter() - start) / args.steps
    events = prof.key_averages()
    busy = sum(e.self_device_time_total for e in events) / 1e3 / args.steps if cuda else 0.0
    print(
        f"# {args.model} batch {args.batch} ZeRO {args.zero_stage} compile {args.compile} fused {not args.no_fuse} "
        f"attention {args.attention or 'torch'}: "
        f"wall {1e3 * wall:.1f} ms/step, GPU busy {busy:.1f} ms/step"
    )
    if cuda:
        print(events.table(sort_by="self_cuda_time_total", row_limit=15, max_name_column_width=60))
    print(events.table(sort_by="cpu_time_total", row_limit=15, max_name_column_width=60))
    if args.trace:
        prof.export_chrome_trace(args.trace)


if __name__ == "__main__":
    main()
