"""MoCo v3 (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers") around any
timm VisionTransformer encoder, parallel-scaled ones included.

Two views of each image go through the encoder (its class token), a 3-layer projector and a 2-layer predictor to
queries q; a momentum copy of encoder and projector (an exponential moving average of their weights, no gradient)
maps them to keys k. The loss is the symmetrised InfoNCE ``ctr(q1, k2) + ctr(q2, k1)``, each the cross entropy of
``q . k / T`` against the matching key among all keys of the global batch (gathered from every rank), times 2T. As
in MoCo v3 for ViTs: fixed 2-D sin-cos position embeddings, BatchNorm in projector and predictor, and optionally
the patch projection frozen at its random initialisation (their stability trick). BatchNorm statistics are per rank
(MoCo v3 synchronises them; with 256 images per GPU in the paper config the per-rank batch is large enough, and
CPU ranks have no synchronised BatchNorm).

The encoder stays a plain timm model: what pretraining exports is what fine-tuning and slimming load. As a
pretraining objective (rsfm.models.objective) it takes two crops per image, one per view, and moves the moving
average once per optimiser step, before the step's keys (``begin_step``, on the schedule of :func:`momentum_at`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from rsfm.models.mae import sincos_2d
from rsfm.models.objective import Batch, Objective, meta_flops

DEFAULTS: dict[str, Any] = {
    "dim": 256, "mlp_dim": 4096, "temperature": 0.2, "momentum": 0.99, "crop_scale": [0.08, 1.0],
    "freeze_patch_embed": True,
}  # fmt: skip


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on or off (nothing to switch on the meta device, where FLOPs are counted)."""
    if device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


class FloatBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm computed in fp32 whatever the precision of input and parameters: bf16 engines cast parameters
    but not the running statistics, and CPU kernels refuse the mix."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        with _autocast(x.device, enabled=False):
            out = F.batch_norm(
                x.float(), self.running_mean, self.running_var, weight, bias,
                self.training or not self.track_running_stats, self.momentum or 0.0, self.eps,
            )  # fmt: skip
        return out.to(x.dtype)


def _mlp(layers: int, in_dim: int, mlp_dim: int, out_dim: int) -> nn.Sequential:
    """Linear-BN-ReLU blocks, then a Linear and a BatchNorm without affine parameters (MoCo v3's heads)."""
    modules: list[nn.Module] = []
    for layer in range(layers):
        last = layer == layers - 1
        modules.append(nn.Linear(in_dim if layer == 0 else mlp_dim, out_dim if last else mlp_dim, bias=False))
        modules.append(FloatBatchNorm1d(out_dim, affine=False) if last else FloatBatchNorm1d(mlp_dim))
        if not last:
            modules.append(nn.ReLU(inplace=True))
    return nn.Sequential(*modules)


@torch.no_grad()
def _gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated in rank order (the keys need no gradient)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def contrastive_loss(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of each query against all keys of the global batch, its own key positive; times 2T as MoCo v3."""
    queries = F.normalize(queries.float(), dim=1)
    keys = _gather(F.normalize(keys.float(), dim=1))
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    labels = torch.arange(queries.shape[0], device=queries.device) + queries.shape[0] * rank
    return F.cross_entropy(queries @ keys.T / temperature, labels) * 2 * temperature


class MoCoV3(Objective):
    views = 2  # the two views of the symmetrised loss
    compile_refusals: ClassVar[dict[str, str]] = {
        "model": "compile: model covers MAE only (MoCo updates its momentum encoder in place): use blocks"
    }

    def __init__(
        self, encoder: VisionTransformer, *, dim: int = DEFAULTS["dim"], mlp_dim: int = DEFAULTS["mlp_dim"],
        temperature: float = DEFAULTS["temperature"], momentum: float = DEFAULTS["momentum"],
        crop_scale: Any = DEFAULTS["crop_scale"], freeze_patch_embed: bool = DEFAULTS["freeze_patch_embed"],
    ) -> None:  # fmt: skip
        """``momentum``: the moving average's base momentum; ``crop_scale``: the loader's crops' range of area."""
        super().__init__()
        self.settings = {"dim": dim, "mlp_dim": mlp_dim, "temperature": temperature, "momentum": momentum,
                         "crop_scale": crop_scale, "freeze_patch_embed": freeze_patch_embed}  # fmt: skip
        self.crop_scale = tuple(crop_scale)
        if encoder.cls_token is None or encoder.global_pool != "token" or encoder.num_classes:
            raise ValueError("MoCo v3 needs an encoder with a class token, token pooling and no classifier head")
        self.encoder, self.temperature = encoder, temperature
        grid_h, grid_w = encoder.patch_embed.grid_size
        with torch.no_grad():
            encoder.pos_embed.copy_(sincos_2d(encoder.embed_dim, grid_h, grid_w).unsqueeze(0))
        encoder.pos_embed.requires_grad_(False)
        if freeze_patch_embed:
            encoder.patch_embed.requires_grad_(False)
        self.projector = _mlp(3, encoder.embed_dim, mlp_dim, dim)
        self.predictor = _mlp(2, dim, mlp_dim, dim)
        self.momentum_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def _pairs(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        online = [*self.encoder.parameters(), *self.projector.parameters()]
        momentum = [*self.momentum_encoder.parameters(), *self.momentum_projector.parameters()]
        return list(zip(online, momentum, strict=True))

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        """momentum_weights = m * momentum_weights + (1 - m) * weights, in the momentum copy's precision."""
        for weight, average in self._pairs():
            average.mul_(momentum).add_(weight.detach().to(average.dtype), alpha=1 - momentum)

    def momentum_in_fp32(self) -> None:
        """Keep the moving average in fp32 when an engine holds the trained weights in bf16 (an EMA step of 1% is
        below bf16's resolution for most weights)."""
        self.momentum_encoder.float()
        self.momentum_projector.float()

    def query(self, images: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.projector(self.encoder(images)))

    @torch.no_grad()
    def key(self, images: torch.Tensor) -> torch.Tensor:
        first = next(self.momentum_encoder.parameters())
        # bf16 inputs against an fp32 moving average: compute in bf16 as the online branch does
        low = images.dtype == torch.bfloat16 and first.dtype == torch.float32
        with _autocast(images.device, enabled=low):
            return self.momentum_projector(self.momentum_encoder(images)).float()

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, keys of view 1, keys of view 2)."""
        k1, k2 = self.key(view1), self.key(view2)
        loss = contrastive_loss(self.query(view1), k2, self.temperature)
        loss = loss + contrastive_loss(self.query(view2), k1, self.temperature)
        return loss, k1, k2

    # --- as a pretraining objective -----------------------------------------------------------------------------------

    def inputs(self, batch: Batch) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return tuple(batch.views()), {}

    def begin_step(self, step: int, total: int) -> None:
        self.update_momentum(momentum_at(step, total, self.settings["momentum"]))

    def weights_held_in(self, dtype: torch.dtype) -> None:
        if dtype == torch.bfloat16:
            self.momentum_in_fp32()

    def compile_blocks(self) -> list[nn.Module]:
        return [*self.encoder.blocks, *self.momentum_encoder.blocks]

    def train_flops_per_image(self, img_size: int) -> float:
        """Two views, each 3 x the online branch (encoder, projector, predictor: forward and backward) plus 1 x the
        momentum branch (no backward)."""
        online = meta_flops(self, img_size, lambda meta, image: meta.query(image))
        momentum = meta_flops(self, img_size, lambda meta, image: meta.momentum_projector(meta.momentum_encoder(image)))
        return 2 * (3 * online + momentum)

    def recipe(self) -> dict[str, Any]:
        return {"moco": dict(self.settings)}


def momentum_at(step: int, total: int, base: float) -> float:
    """MoCo v3's schedule: from ``base`` at step 0 up to 1 along half a cosine."""
    return 1 - (1 - base) * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


__all__ = ["DEFAULTS", "MoCoV3", "contrastive_loss", "momentum_at"]
