"""Attention alone at a MAE step's shapes: forward + backward time of each kernel torch has (its own choice, flash,
memory-efficient, cuDNN, math), per training step of one model and batch, and attention's share of the step's FLOPs.

    PYTHONPATH=src python benchmarks/bench_attention.py --model vit_l12x4 --batch 384

The encoder's call is the fused parallel block's (K x H heads over the kept tokens), the decoder's is timm's (its
heads over every patch); ms/step counts every layer. A kernel that cannot run a shape here is listed as such. The
engine runs one of them for a whole run with ``attention: <kernel>`` in its config.
"""

from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F
from bench_pretrain_step import _time
from torch.nn.attention import SDPBackend, sdpa_kernel

from rsfm.models.mae import num_masked
from rsfm.pretrain.engine import RunConfig, build_model

KERNELS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}


def attention_shapes(cfg: RunConfig) -> dict[str, tuple[int, int, int, int]]:
    """(layers, heads, tokens, head dim) of the encoder's and the decoder's attention in one MAE forward."""
    from rsfm.models.vit import SIZES

    size = SIZES[cfg.model]
    patches = (cfg.img_size // cfg.patch_size) ** 2
    kept = patches - num_masked(patches, cfg.mask_ratio) + 1  # with the class token
    return {
        "encoder": (size.depth, size.num_parallel * size.num_heads, kept, size.embed_dim // size.num_heads),
        "decoder": (cfg.decoder_depth, cfg.decoder_heads, patches + 1, cfg.decoder_dim // cfg.decoder_heads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vit_l12x4")
    parser.add_argument("--batch", type=int, default=384)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32  # what attention sees in the engine's runs
    cfg = RunConfig(model=args.model, shard_dir="", out_dir="", img_size=args.img_size)
    shapes = attention_shapes(cfg)
    attention_flops = 0.0  # per image, forward + backward (2x forward), as the MFU counter counts it
    for layers, heads, tokens, head_dim in shapes.values():
        attention_flops += 3 * layers * 4 * heads * tokens**2 * head_dim
    step_flops = build_model(cfg).train_flops_per_image(args.img_size)
    hardware = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"# {hardware}; {args.model}, batch {args.batch}, {args.img_size}px, {str(dtype).removeprefix('torch.')}; "
        f"attention is {100 * attention_flops / step_flops:.1f}% of the step's FLOPs"
    )
    for part, (layers, heads, tokens, head_dim) in shapes.items():
        print(f"# {part}: {layers} layers x ({args.batch}, {heads} heads, {tokens} tokens, {head_dim} dims)")
    print(f"{'kernel':<10} {'part':<8} {'ms/step':>8} {'TFLOP/s':>8} {'max |diff|':>10}")
    gen = torch.Generator(device=device).manual_seed(0)
    for part, shape in shapes.items():
        time_kernels(part, shape, args, device, dtype, gen)


def time_kernels(
    part: str,
    shape: tuple[int, int, int, int],
    args: argparse.Namespace,
    device: torch.device,
    dtype: torch.dtype,
    gen: torch.Generator,
) -> None:
    """One row per kernel: ms per step over the part's layers, TFLOP/s, largest difference to torch's choice."""
    layers, heads, tokens, head_dim = shape
    q, k, v = (
        torch.randn(args.batch, heads, tokens, head_dim, device=device, dtype=dtype, generator=gen).requires_grad_()
        for _ in range(3)
    )
    grad = torch.randn_like(q)
    expected = F.scaled_dot_product_attention(q, k, v).detach()
    flops = 3 * 4 * args.batch * heads * tokens**2 * head_dim

    def call() -> None:
        torch.autograd.grad(F.scaled_dot_product_attention(q, k, v), (q, k, v), grad)

    for name in ("torch", *KERNELS):
        try:
            with sdpa_kernel(KERNELS[name]) if name != "torch" else contextlib.nullcontext():
                out = F.scaled_dot_product_attention(q, k, v).detach()
                seconds, _ = _time(call, device, args.warmup, args.steps)
        except RuntimeError as error:
            print(f"{name:<10} {part:<8} cannot run: {str(error).splitlines()[0][:80]}")
            continue
        diff = (out.float() - expected.float()).abs().max().item()
        print(
            f"{name:<10} {part:<8} {1e3 * layers * seconds:>8.2f} {flops / seconds / 1e12:>8.3g} {diff:>10.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
