"""The named encoder sizes of paper 1 and the embedded default, free of torch and timm.

The workflow's jobs that only plan or write configs (fine-tuning configs, planning) read widths and depths from here
without importing torch; :mod:`rsfm.models.vit` builds the models and registers them with timm.

Widths: B, L and G are the standard ViT-B/L/G widths (768, 1024, 2048). The paper does not publish ViT-H12x4's width;
1504 (16 heads of 94) is the width whose 12x4 model has 1.31B parameters, the paper's "1.3B" (the standard ViT-H width
1280 gives 0.95B, and 1536 gives 1.36B, which would round to 1.4B).
"""

from __future__ import annotations

from dataclasses import dataclass


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


__all__ = ["SIZES", "ViTSize"]
