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
    paper_name: str | None = None  # paper 1's name of this size (rsfm.paper_numbers), None for ours alone
    mlp_ratio: float = 4.0

    @property
    def paper_params(self) -> float | None:
        """Paper 1's parameter count of this size (millions, as the paper states it), None for ours alone."""
        from rsfm.paper_numbers import parameter_count

        return parameter_count(self.paper_name)


SIZES: dict[str, ViTSize] = {
    s.name: s
    for s in (
        ViTSize("vit_b12x1", 768, 12, 12, 1, paper_name="ViT-B12X1"),
        ViTSize("vit_l12x4", 1024, 12, 16, 4, paper_name="ViT-L12X4"),
        ViTSize("vit_h12x4", 1504, 12, 16, 4, paper_name="ViT-H12X4"),
        ViTSize("vit_g12x4", 2048, 12, 16, 4, paper_name="ViT-G12X4"),
        # tiny sizes for the embedded default (CPU pretraining in minutes): same depth, 12x1 and 12x4
        ViTSize("vit_tiny12x1", 96, 12, 3, 1),
        ViTSize("vit_tiny12x4", 96, 12, 3, 4),
    )
}


def paper_size(model: str) -> str | None:
    """Our size of paper 1's model ``model`` (ViT-G12X4 -> vit_g12x4), None if we have none."""
    return next((name for name, size in SIZES.items() if size.paper_name == model), None)


__all__ = ["SIZES", "ViTSize", "paper_size"]
