"""Learned slimmable training (Yu & Huang 2019, "Universally Slimmable Networks"), for paper 2's comparison.

A slimmable encoder is the same timm ViT with one shared set of weights that runs at any width factor ``s``: its
attention and MLP modules use, at width ``s``, exactly the sub-layers post-hoc slimming keeps (the first
:func:`kept` ``(d_k, s)`` dims of every head, the first ``kept(d_h, s)`` hidden units; see
:mod:`rsfm.models.slim`), sliced from the full weights on the fly. :func:`make_slimmable` switches a model's
modules in place, so parameter names and the exported ``encoder.safetensors`` stay those of the plain model, and a
slimmable-trained encoder is slimmed and probed like any other.

The sandwich rule: every step trains the full width, the smallest width and ``random_widths`` widths drawn uniformly
in between, with in-place distillation: the sub-widths learn the full width's detached output (for MAE, its
reconstruction of the masked patches; for MoCo v3, the full-width momentum encoder's keys, see
:class:`SlimmableMoCo`). Both return the summed loss of one step, so one backward pass through the DeepSpeed engine
trains all widths (memory holds the activations of every width of the step). As pretraining objectives
(rsfm.models.objective) they draw the step's widths, then hand the batch to the objective they wrap.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from timm.layers import Attention, Mlp
from torch import nn

from rsfm.errors import ConfigError
from rsfm.models.mae import MaskedAutoencoder
from rsfm.models.moco import MoCoV3, contrastive_loss
from rsfm.models.objective import Batch, Objective

SANDWICH_DEFAULTS: dict[str, Any] = {"smallest": 0.25, "random_widths": 2}


def kept(n: int, s: float) -> int:
    """How many of ``n`` dimensions width ``s`` keeps: ``max(1, floor(s * n))``."""
    if not 0 < s <= 1:
        raise ConfigError(f"width factor must be in (0, 1], got {s}")
    return max(1, math.floor(s * n + 1e-9))


class SlimmableAttention(Attention):
    """timm Attention whose heads use their first ``kept(head_dim, width)`` dims (width 1: timm's forward)."""

    width: float = 1.0

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if self.width >= 1.0:
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        b, n, dim = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        k = kept(head_dim, self.width)
        weight = self.qkv.weight.view(3, heads, head_dim, dim)[:, :, :k].reshape(3 * heads * k, dim)
        bias = self.qkv.bias.view(3, heads, head_dim)[:, :, :k].reshape(-1) if self.qkv.bias is not None else None
        q, key, v = F.linear(x, weight, bias).reshape(b, n, 3, heads, k).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, key, v, attn_mask=attn_mask, is_causal=is_causal,
                                           dropout_p=self.attn_drop.p if self.training else 0.0)  # fmt: skip
        proj = self.proj.weight.view(-1, heads, head_dim)[:, :, :k].reshape(-1, heads * k)
        return self.proj_drop(F.linear(y.transpose(1, 2).reshape(b, n, heads * k), proj, self.proj.bias))


class SlimmableMlp(Mlp):
    """timm Mlp using its first ``kept(hidden, width)`` hidden units."""

    width: float = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.width >= 1.0:
            return super().forward(x)
        k = kept(self.fc1.out_features, self.width)
        bias1 = self.fc1.bias[:k] if self.fc1.bias is not None else None
        hidden = self.drop1(self.act(F.linear(x, self.fc1.weight[:k], bias1)))
        return self.drop2(F.linear(hidden, self.fc2.weight[:, :k], self.fc2.bias))


def make_slimmable(model: nn.Module) -> nn.Module:
    """Switch every timm Attention and Mlp of ``model`` to its slimmable subclass, in place (same parameters)."""
    for module in model.modules():
        if type(module) is Attention:
            if not isinstance(module.q_norm, nn.Identity) or not isinstance(module.norm, nn.Identity):
                raise ValueError("slimmable attention supports no q/k or output norms")
            module.__class__ = SlimmableAttention
        elif type(module) is Mlp:
            if not isinstance(module.norm, nn.Identity):
                raise ValueError("slimmable MLPs support no hidden-layer norm")
            module.__class__ = SlimmableMlp
    return model


@contextlib.contextmanager
def width(model: nn.Module, s: float) -> Iterator[None]:
    """Run ``model`` at width ``s`` inside the block."""
    modules = [m for m in model.modules() if isinstance(m, SlimmableAttention | SlimmableMlp)]
    for module in modules:
        module.width = s
    try:
        yield
    finally:
        for module in modules:
            module.width = 1.0


def sandwich_widths(smallest: float, random_widths: int, generator: torch.Generator) -> list[float]:
    """The widths of one step: full, smallest and ``random_widths`` uniform draws in (smallest, 1)."""
    draws = (smallest + (1 - smallest) * torch.rand(random_widths, generator=generator)).tolist()
    return [1.0, smallest, *draws]


class SlimmableObjective(Objective):
    """The sandwich rule around another objective (``inner``): its data, hooks and recipe, at the step's widths;
    ``forward`` takes ``widths`` and returns (summed loss, full-width loss, sub-width losses)."""

    compile_refusals: ClassVar[dict[str, str]] = dict.fromkeys(
        ("blocks", "model"), "slimmable training changes widths every step: turn compile off for it"
    )
    fusable = False  # a fused block computes from the weights directly, past the slimmable modules' widths

    def __init__(
        self, smallest: float = SANDWICH_DEFAULTS["smallest"], random_widths: int = SANDWICH_DEFAULTS["random_widths"]
    ) -> None:
        super().__init__()
        self.smallest, self.random_widths = smallest, random_widths

    @property
    @abc.abstractmethod
    def inner(self) -> Objective:
        """The objective trained at every width."""

    @property
    def encoder(self) -> nn.Module:
        return self.inner.encoder

    @property
    def views(self) -> int:
        return self.inner.views

    @property
    def crop_scale(self) -> tuple[float, float]:
        return self.inner.crop_scale

    def inputs(self, batch: Batch) -> tuple[tuple[Any, ...], dict[str, Any]]:
        widths = sandwich_widths(self.smallest, self.random_widths, batch.generator)  # drawn before the inner's
        args, kwargs = self.inner.inputs(batch)
        return args, {**kwargs, "widths": widths}

    def loss(self, forward: Callable[..., Any], batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        args, kwargs = self.inputs(batch)
        loss, full_width_loss, _ = forward(*args, **kwargs)
        return loss, full_width_loss

    def begin_step(self, step: int, total: int) -> None:
        self.inner.begin_step(step, total)

    def weights_held_in(self, dtype: torch.dtype) -> None:
        self.inner.weights_held_in(dtype)

    def train_flops_per_image(self, img_size: int) -> float:
        return self.inner.train_flops_per_image(img_size)  # one width's: MFU counts the full width

    def recipe(self) -> dict[str, Any]:
        return self.inner.recipe()


def _check_sandwich(widths: Sequence[float]) -> None:
    """The full width comes first: its output is what the sub-widths distil from."""
    if not widths or widths[0] != 1.0:
        raise ValueError(f"the sandwich starts with the full width, got {list(widths)}")


class SlimmableMAE(SlimmableObjective):
    """MAE trained with the sandwich rule: ``forward`` returns (summed loss, full-width loss, sub-width losses)."""

    def __init__(self, mae: MaskedAutoencoder, **sandwich: Any) -> None:
        super().__init__(**sandwich)
        self.mae = mae
        make_slimmable(mae.encoder)

    @property
    def inner(self) -> Objective:
        return self.mae

    def forward(
        self, images: torch.Tensor, noise: torch.Tensor, widths: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_sandwich(widths)
        loss, pred, mask = self.mae(images, noise=noise)
        target = pred.detach().float()
        sub_losses = []
        for s in widths[1:]:
            with width(self.mae.encoder, s):
                _, pred_s, _ = self.mae(images, noise=noise)
            per_patch = ((pred_s.float() - target) ** 2).mean(dim=-1)  # in-place distillation on masked patches
            sub_losses.append((per_patch * mask).sum() / mask.sum())
        subs = torch.stack(sub_losses) if sub_losses else loss.new_zeros(0)
        return loss + subs.sum(), loss.detach(), subs.detach()


class SlimmableMoCo(SlimmableObjective):
    """MoCo v3 trained with the sandwich rule: every width's queries against the full-width momentum keys.

    The momentum encoder (the moving average of the full-width weights) is the teacher: its keys are the targets of
    every width's contrastive loss, so the sub-widths learn to place views where the full model's average places
    them, which is in-place distillation for a contrastive objective. ``forward`` returns (summed loss, full-width
    loss, sub-width losses)."""

    def __init__(self, moco: MoCoV3, **sandwich: Any) -> None:
        super().__init__(**sandwich)
        self.moco = moco
        make_slimmable(moco.encoder)  # the momentum copy keeps timm's modules: it always runs at full width

    @property
    def inner(self) -> Objective:
        return self.moco

    def forward(
        self, view1: torch.Tensor, view2: torch.Tensor, widths: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_sandwich(widths)
        moco = self.moco
        k1, k2 = moco.key(view1), moco.key(view2)
        losses = []
        for s in widths:
            with width(moco.encoder, s):
                loss = contrastive_loss(moco.query(view1), k2, moco.temperature)
                losses.append(loss + contrastive_loss(moco.query(view2), k1, moco.temperature))
        subs = torch.stack(losses[1:]) if len(losses) > 1 else losses[0].new_zeros(0)
        return losses[0] + subs.sum(), losses[0].detach(), subs.detach()


__all__ = [
    "SANDWICH_DEFAULTS", "SlimmableAttention", "SlimmableMAE", "SlimmableMlp", "SlimmableMoCo", "SlimmableObjective",
    "kept", "make_slimmable", "sandwich_widths", "width",
]  # fmt: skip
