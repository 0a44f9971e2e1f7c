"""Parallel-scaled vision transformers (Cha et al. 2023) on timm's blocks, registered with timm.

Paper 1 widens a 12-block ViT by running K attention branches, then K MLP branches, in parallel inside every block,
each branch with its own LayerNorm (Touvron et al. 2022, "Three things everyone should know about ViTs"). timm's
``ParallelThingsBlock`` is exactly that block, so every size here is a ``timm VisionTransformer`` with
``block_fn=ParallelThingsBlock(num_parallel=K)``; ``timm.create_model("vit_l12x4")`` builds one after importing
``rsfm.models``.

The sizes (widths, depths, heads, branches; why ViT-H12x4 is 1504 wide) are in :mod:`rsfm.sizes`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from timm.models import register_model
from timm.models.vision_transformer import ParallelThingsBlock, VisionTransformer

from rsfm.sizes import SIZES, ViTSize  # noqa: F401  (the table lives torch-free; re-exported here)


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
