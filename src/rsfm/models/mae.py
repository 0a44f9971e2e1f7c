"""Masked autoencoder (He et al. 2022) around any timm VisionTransformer encoder, parallel-scaled ones included.

Per-sample random masking (argsort of uniform noise; 75% by default), fixed 2-D sin-cos position embeddings in
encoder and decoder, a light decoder (8 timm blocks of width 512 by default) and the per-patch normalised pixel loss
on masked patches only. The encoder stays a plain timm model, so what pretraining exports is what fine-tuning and
slimming load. As a pretraining objective (rsfm.models.objective) it takes one crop per image and draws each
micro-batch's masks from the batch's generator.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from timm.models import checkpoint_seq
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from rsfm.models.objective import Batch, Objective, meta_flops


def sincos_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(len(positions), embed_dim): sin of position x frequency in the first half, cos in the second."""
    if embed_dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dimension, got {embed_dim}")
    omega = 1.0 / 10000 ** (torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2))
    angles = positions.reshape(-1, 1).double() * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int, cls_token: bool = True) -> torch.Tensor:
    """(cls + grid_h * grid_w, embed_dim) fixed position embedding: half the channels encode the row, half the column;
    the class token's position is all zeros."""
    if embed_dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs a dimension divisible by 4, got {embed_dim}")
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    # MAE's convention: the first half encodes the column (w), the second the row (h).
    embed = torch.cat([sincos_1d(embed_dim // 2, cols.flatten()), sincos_1d(embed_dim // 2, rows.flatten())], dim=1)
    if cls_token:
        embed = torch.cat([torch.zeros(1, embed_dim, dtype=embed.dtype), embed])
    return embed.float()


class MaskedAutoencoder(Objective):
    crop_scale = (0.2, 1.0)  # MAE's RandomResizedCrop

    def __init__(
        self, encoder: VisionTransformer, *, decoder_dim: int = 512, decoder_depth: int = 8, decoder_heads: int = 16,
        mask_ratio: float = 0.75, norm_pix_loss: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if encoder.cls_token is None or getattr(encoder, "num_reg_tokens", 0):
            raise ValueError("MAE needs an encoder with a class token and no register tokens")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.patch_size = encoder.patch_embed.patch_size[0]
        self.in_chans = encoder.patch_embed.proj.in_channels
        grid_h, grid_w = encoder.patch_embed.grid_size
        embed_dim = encoder.embed_dim
        # fixed position embeddings: overwrite timm's learnable table and freeze it
        with torch.no_grad():
            encoder.pos_embed.copy_(sincos_2d(embed_dim, grid_h, grid_w).unsqueeze(0))
        encoder.pos_embed.requires_grad_(False)

        self.decoder_embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("decoder_pos_embed", sincos_2d(decoder_dim, grid_h, grid_w).unsqueeze(0))
        # eps 1e-6 as the encoder's (timm) and every named model of the reference MAE (partial(nn.LayerNorm, eps=1e-6))
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = norm_layer(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch_size**2 * self.in_chans)
        self._init_decoder()

    def _init_decoder(self) -> None:
        nn.init.normal_(self.mask_token, std=0.02)
        for module in [self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules(), self.decoder_norm]:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    # --- pixels <-> patches -----------------------------------------------------------------------------------------

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, L, p*p*C), patches in row-major order, pixels (row, column, channel) inside."""
        n, c, h, w = images.shape
        p = self.patch_size
        x = images.reshape(n, c, h // p, p, w // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        n = patches.shape[0]
        p, c = self.patch_size, self.in_chans
        grid_h, grid_w = self.encoder.patch_embed.grid_size
        x = patches.reshape(n, grid_h, grid_w, p, p, c)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(n, c, grid_h * p, grid_w * p)

    # --- masking, encoder, decoder, loss ------------------------------------------------------------------------------

    @staticmethod
    def random_masking(
        x: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random (1 - mask_ratio) of each sample's tokens: (kept tokens, mask 1=masked, restore order)."""
        n, length, dim = x.shape
        keep = int(length * (1 - mask_ratio))
        if noise is None:
            noise = torch.rand(n, length, device=x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    def forward_encoder(
        self, images: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.encoder
        x = enc.patch_embed(images) + enc.pos_embed[:, 1:]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, noise)
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = enc.norm_pre(torch.cat([cls, x], dim=1))
        # timm's activation checkpointing switch (set_grad_checkpointing) holds for the blocks run here too
        x = checkpoint_seq(enc.blocks, x) if enc.grad_checkpointing and self.training else enc.blocks(x)
        return enc.norm(x), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        n, length = ids_restore.shape
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(n, length + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        # the fixed table is a buffer: mixed-precision engines (DeepSpeed bf16) cast parameters only
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed.to(x.dtype)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def forward_loss(self, images: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # in fp32 whatever the model's precision: the per-patch variance and the mean over masked patches lose
        # too much in bf16 (autocast would also run these in fp32)
        target = self.patchify(images.float())
        pred = pred.float()
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(
        self, images: torch.Tensor, mask_ratio: float | None = None, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (loss, predicted patches (N, L, p*p*C), mask (N, L) with 1 on masked patches)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        latent, mask, ids_restore = self.forward_encoder(images, ratio, noise)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(images, pred, mask), pred, mask

    # --- as a pretraining objective -----------------------------------------------------------------------------------

    def inputs(self, batch: Batch) -> tuple[tuple[Any, ...], dict[str, Any]]:
        images = batch.images()
        noise = torch.rand(images.shape[0], self.encoder.patch_embed.num_patches, generator=batch.generator)
        return (images,), {"noise": noise.to(images.device)}

    def compile_blocks(self) -> list[nn.Module]:
        return [*self.encoder.blocks, *self.decoder_blocks]

    def train_flops_per_image(self, img_size: int) -> float:
        return 3.0 * meta_flops(self, img_size)  # forward + backward (2 x forward)

    def recipe(self) -> dict[str, Any]:
        return {"mask_ratio": self.mask_ratio}


def num_masked(length: int, mask_ratio: float) -> int:
    return length - int(length * (1 - mask_ratio))


__all__ = ["MaskedAutoencoder", "num_masked", "sincos_2d"]
