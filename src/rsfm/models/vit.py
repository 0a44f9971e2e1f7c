"""Parallel-scaled vision transformers (Cha et al. 2023) on timm's blocks, registered with timm.

Paper 1 widens a 12-block ViT by running K attention branches, then K MLP branches, in parallel inside every block,
each branch with its own LayerNorm (Touvron et al. 2022, "Three things everyone should know about ViTs"). timm's
``ParallelThingsBlock`` is exactly that block, so every size here is a ``timm VisionTransformer`` with
``block_fn=ParallelThingsBlock(num_parallel=K)``; ``timm.create_model("vit_l12x4")`` builds one after importing
``rsfm.models``.

Widths: B, L and G are the standard ViT-B/L/G widths (768, 1024, 2048). The paper does not publish ViT-H12x4's width;
1504 (16 heads of 94) is the width whose 12x4 model has 1.31B parameters, the paper's "1.3B" (the standard ViT-H width
1280 gives 0.95B, and 1536 gives 1.36B, which would round to 1.4B).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from timm.models import register_model
from timm.models.vision_transformer import ParallelThingsBlock, VisionTransformer


@dataclass(frozen=True)
class ViTSize:
    name: str
    embed_dim: int
    depth: int
    num_heads: int
    num_parallel: int
    paper_params: float | None = None  # millions, as the paper states them
    mlp_ratio: float = 4.0


SIZES: dict[str, ViTSize] = {
    s.name: s
    for s in (
        ViTSize("vit_b12x1", 768, 12, 12, 1, paper_params=86.0),
        ViTSize("vit_l12x4", 1024, 12, 16, 4, paper_params=605.26),
        ViTSize("vit_h12x4", 1504, 12, 16, 4, paper_params=1300.0),
        ViTSize("vit_g12x4", 2048, 12, 16, 4, paper_params=2400.0),
        # tiny sizes for the embedded default (CPU pretraining in minutes): same depth, 12x1 and 12x4
        ViTSize("vit_tiny12x1", 96, 12, 3, 1),
        ViTSize("vit_tiny12x4", 96, 12, 3, 4),
    )
}


def create_encoder(name: str, **kwargs: Any) -> VisionTransformer:
    """The encoder of a named size (no classifier head unless ``num_classes`` is given)."""
    size = SIZES[name]
    options: dict[str, Any] = {
        "img_size": 224, "patch_size": 16, "embed_dim": size.embed_dim, "depth": size.depth,
        "num_heads": size.num_heads, "mlp_ratio": size.mlp_ratio, "num_classes": 0,
        "block_fn": partial(ParallelThingsBlock, num_parallel=size.num_parallel),
    }  # fmt: skip
    options.update(kwargs)
    return VisionTransformer(**options)


def _register(name: str) -> None:
    def constructor(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
        if pretrained:
            raise ValueError(f"{name}: no hosted weights; load an exported encoder with rsfm instead")
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm's factory bookkeeping
            kwargs.pop(key, None)
        return create_encoder(name, **kwargs)

    constructor.__name__ = name
    constructor.__doc__ = f"{name}: parallel-scaled ViT ({SIZES[name]})."
    register_model(constructor)


for _name in SIZES:
    _register(_name)
