"""Parameter and FLOP counts of the named sizes, measured on meta tensors (no memory, no compute).

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``: it counts matrix multiplications and convolutions
(2 x multiply-adds, as the counter defines FLOPs), including attention's QK^T and AV products; normalisations,
activations and softmax are not counted (they are a few percent of a ViT's total).
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from rsfm.models.vit import SIZES, create_encoder


def count_params(name: str, img_size: int = 224) -> int:
    with torch.device("meta"):
        model = create_encoder(name, img_size=img_size)
    return sum(p.numel() for p in model.parameters())


def count_flops(name: str, img_size: int = 224, batch: int = 1) -> int:
    with torch.device("meta"):
        model = create_encoder(name, img_size=img_size)
        images = torch.empty(batch, 3, img_size, img_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(images)
    return counter.get_total_flops()


def model_flops(model: torch.nn.Module, img_size: int = 224, in_chans: int = 3) -> int:
    """Forward FLOPs of one image through any model (e.g. a slimmed encoder), counted on a meta-device copy."""
    import copy

    meta = copy.deepcopy(model).to("meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(torch.empty(1, in_chans, img_size, img_size, device="meta"))
    return counter.get_total_flops()


def size_table(names: list[str] | None = None) -> list[dict]:
    rows = []
    for name in names or list(SIZES):
        size = SIZES[name]
        params = count_params(name) / 1e6
        paper = size.paper_params
        rows.append(
            {
                "model": name, "width": size.embed_dim, "depth": size.depth, "heads": size.num_heads,
                "parallel": size.num_parallel, "params_M": params, "paper_params_M": size.paper_params,
                "diff_pct": None if paper is None else 100 * (params - paper) / paper,
                "gflops_224": count_flops(name) / 1e9,
            }
        )  # fmt: skip
    return rows
