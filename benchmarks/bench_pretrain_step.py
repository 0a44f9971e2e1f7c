"""Images/s of one MAE training step: our DeepSpeed engine against a plain single-process PyTorch MAE.

    PYTHONPATH=src python benchmarks/bench_pretrain_step.py                       # CPU: vit_b12x1 at 224, batch 8
    PYTHONPATH=src python benchmarks/bench_pretrain_step.py --models vit_b12x1 vit_l12x4 --batch 64 \\
        --precision bf16 --peak-tflops 989                                      # one H100 (dense bf16 peak)

The reference below is written from the MAE paper (He et al. 2022) in plain PyTorch, the way one would without a
training framework: explicit softmax(QK^T)V attention, nn.LayerNorm/GELU, torch.optim.AdamW with its default
implementation, ``torch.autocast`` for bf16. It has the same architecture (K parallel branches per block), the same
parameters and the same masking; before timing, both models get the same weights and the benchmark checks that they
compute the same loss on the same batch and mask, so the two sides time the same work.

"Ours" is exactly what ``rsfm.pretrain.engine.train`` runs per micro-batch: ``build_model`` (timm blocks with fused
scaled-dot-product attention, each parallel block run as one wide block unless ``--no-fuse``, ``torch.compile`` of
the blocks when ``--compile``) and ``build_engine`` (DeepSpeed,
fused AdamW; on GPU bf16 as the engine runs it: torch autocast over fp32 weights without ZeRO, DeepSpeed's bf16
weights with fp32 masters with ZeRO). Each side runs ``--warmup`` untimed steps, then
``--steps`` timed ones (forward, backward, optimiser step) on random images held on the device, so the loader is
not measured (the engine logs its data-wait fraction separately). MFU = images/s x training FLOPs per image (3 x
forward, counted by torch's FlopCounterMode) / peak FLOP/s.

Prints one row per (model, side): images/s, ms per step, speed-up over the reference, MFU when --peak-tflops is set.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from rsfm.models.attention import BACKENDS
from rsfm.models.mae import sincos_2d
from rsfm.models.objective import param_groups
from rsfm.models.vit import SIZES
from rsfm.pretrain.engine import (
    RunConfig,
    build_engine,
    build_model,
    select_attention,
    separate_extension_builds,
    uses_autocast,
)

# --- the plain reference, from the paper ---------------------------------------------------------------------------


class PlainAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, length, dim))


class PlainMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class PlainParallelBlock(nn.Module):
    """x + sum_k attn_k(norm_k(x)), then x + sum_k mlp_k(norm_k(x)) (Touvron et al. 2022)."""

    def __init__(self, dim: int, heads: int, parallel: int, mlp_ratio: float) -> None:
        super().__init__()
        self.attns = nn.ModuleList(
            nn.ModuleDict({"norm": nn.LayerNorm(dim, eps=1e-6), "attn": PlainAttention(dim, heads)})
            for _ in range(parallel)
        )
        self.ffns = nn.ModuleList(
            nn.ModuleDict({"norm": nn.LayerNorm(dim, eps=1e-6), "mlp": PlainMlp(dim, int(dim * mlp_ratio))})
            for _ in range(parallel)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + sum(branch["attn"](branch["norm"](x)) for branch in self.attns)
        return x + sum(branch["mlp"](branch["norm"](x)) for branch in self.ffns)


class PlainBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), PlainAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), PlainMlp(dim, dim * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PlainEncoder(nn.Module):
    def __init__(self, size: Any, img_size: int, patch: int) -> None:
        super().__init__()
        grid = img_size // patch
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, size.embed_dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, size.embed_dim))
        self.pos_embed = nn.Parameter(sincos_2d(size.embed_dim, grid, grid).unsqueeze(0), requires_grad=False)
        self.blocks = nn.ModuleList(
            PlainParallelBlock(size.embed_dim, size.num_heads, size.num_parallel, size.mlp_ratio)
            for _ in range(size.depth)
        )
        self.norm = nn.LayerNorm(size.embed_dim, eps=1e-6)


class PlainMAE(nn.Module):
    def __init__(self, size: Any, img_size: int, patch: int, dec_dim: int, dec_depth: int, dec_heads: int) -> None:
        super().__init__()
        self.patch, grid = patch, img_size // patch
        self.encoder = PlainEncoder(size, img_size, patch)
        self.decoder_embed = nn.Linear(size.embed_dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.register_buffer("decoder_pos_embed", sincos_2d(dec_dim, grid, grid).unsqueeze(0))
        self.decoder_blocks = nn.ModuleList(PlainBlock(dec_dim, dec_heads) for _ in range(dec_depth))
        self.decoder_norm = nn.LayerNorm(dec_dim)
        self.decoder_pred = nn.Linear(dec_dim, patch * patch * 3)

    def forward(self, images: torch.Tensor, noise: torch.Tensor, mask_ratio: float = 0.75) -> torch.Tensor:
        enc = self.encoder
        x = enc.patch_embed.proj(images).flatten(2).transpose(1, 2) + enc.pos_embed[:, 1:]
        n, length, dim = x.shape
        keep = int(length * (1 - mask_ratio))
        shuffle = noise.argsort(dim=1)
        restore = shuffle.argsort(dim=1)
        x = x.gather(1, shuffle[:, :keep, None].expand(-1, -1, dim))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        mask = mask.gather(1, restore)
        x = torch.cat([(enc.cls_token + enc.pos_embed[:, :1]).expand(n, -1, -1), x], dim=1)
        for block in enc.blocks:
            x = block(x)
        x = self.decoder_embed(enc.norm(x))
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(n, length - keep, -1)], dim=1)
        tokens = tokens.gather(1, restore[:, :, None].expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        pred = self.decoder_pred(self.decoder_norm(x))[:, 1:]
        p, grid_h, grid_w = self.patch, images.shape[2] // self.patch, images.shape[3] // self.patch
        target = images.reshape(n, 3, grid_h, p, grid_w, p).permute(0, 2, 4, 3, 5, 1).reshape(n, length, -1)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        return (((pred - target) ** 2).mean(-1) * mask).sum() / mask.sum()


# --- timing ----------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(step: Any, device: torch.device, warmup: int, steps: int) -> tuple[float, float | None]:
    """(seconds per step, peak GiB allocated on the GPU during the timed steps)."""
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    return seconds, torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> Iterator[dict[str, Any]]:
    """The reference's row as soon as it is timed, then the engine's (a failure in the second keeps the first)."""
    bf16 = args.precision == "bf16"
    cfg = RunConfig(
        model=name, shard_dir="", out_dir="", img_size=args.img_size, patch_size=args.patch_size,
        global_batch=args.batch, micro_batch=args.batch, precision=args.precision, zero_stage=args.zero_stage,
        activation_checkpointing=args.activation_checkpointing, compile=args.compile,
        fuse_parallel=not args.no_fuse, attention=args.attention,
    )  # fmt: skip
    ours = build_model(cfg)
    reference = PlainMAE(SIZES[name], args.img_size, args.patch_size, 512, 8, 16)
    missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(f"reference and engine models differ: missing {missing}, unexpected {unexpected}")
    flops = ours.train_flops_per_image(args.img_size)

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, 3, args.img_size, args.img_size, generator=gen).to(device)
    noise = torch.rand(args.batch, (args.img_size // args.patch_size) ** 2, generator=gen).to(device)
    with torch.no_grad():  # same weights, same batch, same mask -> same loss (fp32, before any update)
        ours_loss, _, _ = ours.to(device)(images, noise=noise)
        ref_loss = reference.to(device)(images, noise)
    if not math.isclose(float(ours_loss), float(ref_loss), rel_tol=1e-4):
        raise RuntimeError(f"the two MAEs disagree before timing: {float(ours_loss)} vs {float(ref_loss)}")

    ref_s = None
    if not args.no_reference:
        ours.cpu()  # off the GPU while the reference is timed, so each side's peak memory is its own
        ref_s, ref_mem = _time_reference(reference, images, noise, cfg, device, args)
        yield _row(name, "plain PyTorch MAE", args, ref_s, ref_s, ref_mem, flops)
    del reference
    if device.type == "cuda":
        torch.cuda.empty_cache()

    select_attention(cfg, ours, device, bf16)  # after the fp32 check above: flash has no fp32 kernel on a GPU
    engine, _ = build_engine(cfg, ours.to(device), total_steps=10**6, warmup_steps=1, accum=1, bf16=bf16)
    engine_images = images.to(torch.bfloat16) if bf16 and not uses_autocast(cfg, bf16) else images

    def engine_step() -> None:
        loss, _, _ = engine(engine_images, noise=noise)
        engine.backward(loss)
        engine.step()

    ours_s, ours_mem = _time(engine_step, device, args.warmup, args.steps)
    yield _row(name, "rsfm engine", args, ours_s, ref_s, ours_mem, flops)
    engine.destroy()


def _time_reference(
    reference: PlainMAE,
    images: torch.Tensor,
    noise: torch.Tensor,
    cfg: RunConfig,
    device: torch.device,
    args: argparse.Namespace,
) -> tuple[float, float | None]:
    """The plain loop: autocast for bf16 over fp32 weights, torch's default AdamW."""
    lr = cfg.base_lr * cfg.global_batch / 256
    optimizer = torch.optim.AdamW(param_groups(reference, cfg.weight_decay), lr=lr, betas=cfg.betas)
    bf16 = args.precision == "bf16"

    def reference_step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = reference(images, noise)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return _time(reference_step, device, args.warmup, args.steps)


def _row(
    name: str,
    side: str,
    args: argparse.Namespace,
    seconds: float,
    ref_s: float | None,
    memory: float | None,
    flops: float,
) -> dict[str, Any]:
    rate = args.batch / seconds
    return {
        "model": name, "side": side, "images/s": rate, "ms/step": 1000 * seconds,
        "speed-up": None if ref_s is None else ref_s / seconds,
        "MFU": rate * flops / (args.peak_tflops * 1e12) if args.peak_tflops else None, "GiB": memory,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["vit_b12x1"], choices=sorted(SIZES))
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: bf16 on GPU, else fp32")
    parser.add_argument("--zero-stage", type=int, default=0, help="0: the paper config's stage for B and L")
    parser.add_argument("--no-fuse", action="store_true", help="timm's branch-by-branch parallel blocks")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="blocks",
        default=False,
        choices=["blocks", "model"],
        help="torch.compile the engine's blocks (--compile) or the whole MAE (--compile model)",
    )
    parser.add_argument("--attention", choices=BACKENDS, default=None, help="the engine's one attention kernel")
    parser.add_argument("--no-reference", action="store_true", help="time the engine only (the plain MAE OOMs)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense peak of the device, for MFU")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    args.precision = args.precision or ("bf16" if cuda else "fp32")
    if not cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    separate_extension_builds()  # CPU ranks: DeepSpeed's communication op, built once per environment path and ninja
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")
    hardware = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"# {hardware}; batch {args.batch}, {args.img_size}px, patch {args.patch_size}, {args.precision}, "
        f"ZeRO {args.zero_stage}{f', compiled {args.compile}' if args.compile else ''}"
        f"{', timm parallel blocks' if args.no_fuse else ', fused parallel blocks'}"
        f"{f', {args.attention} attention' if args.attention else ''}"
    )
    header = f"{'model':<12} {'side':<18} {'images/s':>9} {'ms/step':>9} {'speed-up':>8} {'MFU':>6} {'GiB':>6}"
    print(header)
    for name in args.models:
        for row in bench_model(name, args, device):
            mfu = "" if row["MFU"] is None else f"{100 * row['MFU']:.1f}%"
            memory = "" if row["GiB"] is None else f"{row['GiB']:.1f}"
            speedup = "" if row["speed-up"] is None else f"{row['speed-up']:.2f}x"
            print(
                f"{row['model']:<12} {row['side']:<18} {row['images/s']:>9.2f} {row['ms/step']:>9.1f} "
                f"{speedup:>8} {mfu:>6} {memory:>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
