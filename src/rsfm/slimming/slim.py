"""Post-hoc uniform width slimming of a pretrained ViT (Hackel et al. 2026, "How Much of a Model Do We Need?").

One width factor ``s`` for every block, no retraining:

- attention: every head keeps ``max(1, floor(s * d_k))`` of its ``d_k`` dimensions, the same positions in Q, K and
  V (rows of the fused ``qkv`` projection) and the matching columns of the output projection; the attention scale
  becomes ``1 / sqrt`` of the new head dimension;
- MLP: ``max(1, floor(s * d_h))`` of the ``d_h`` hidden units (rows of ``fc1``, columns of ``fc2``);
- untouched: the embedding width and residual stream, every LayerNorm, the class token, patch and position
  embeddings, and the output projections' biases.

The slimmed modules are real, smaller timm modules (new ``nn.Linear`` layers holding the kept rows and columns), so
the compute really falls. Works on any timm ViT built from ``timm.layers.Attention`` and ``timm.layers.Mlp``: plain
blocks and the parallel blocks of :mod:`rsfm.models.vit` (every branch slimmed alike).

Ablations: ``selection`` keeps the ``first`` (the paper's rule), the ``last`` or ``random`` dimensions (random: drawn
per head and per MLP from ``seed``); ``parts`` slims ``all``, only ``attn`` or only ``mlp``.

``floor`` is taken as ``floor(s * n + 1e-9)``, so that widths like 0.7 x 10 (6.9999... in floating point) keep 7.
"""

from __future__ import annotations

import copy
import math

import torch
from timm.layers import Attention, Mlp
from torch import nn

from rsfm.errors import ConfigError

SELECTIONS = ("first", "last", "random")
PARTS = ("all", "attn", "mlp")


def kept(n: int, s: float) -> int:
    """How many of ``n`` dimensions width ``s`` keeps: ``max(1, floor(s * n))``."""
    if not 0 < s <= 1:
        raise ConfigError(f"width factor must be in (0, 1], got {s}")
    return max(1, math.floor(s * n + 1e-9))


def choose(n: int, k: int, selection: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of the ``k`` kept of ``n`` dimensions, ascending."""
    if selection == "first":
        return torch.arange(k)
    if selection == "last":
        return torch.arange(n - k, n)
    if selection == "random":
        return torch.randperm(n, generator=generator)[:k].sort().values
    raise ConfigError(f"unknown selection {selection!r}; choose one of {', '.join(SELECTIONS)}")


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def slim_attention(attn: Attention, s: float, selection: str = "first", generator: torch.Generator | None = None):
    """A copy of ``attn`` whose heads keep ``kept(head_dim, s)`` dimensions each."""
    if not isinstance(attn.q_norm, nn.Identity) or not isinstance(attn.k_norm, nn.Identity):
        raise ConfigError("slimming attention with q/k normalisation is not supported (its norm spans the head)")
    if not isinstance(attn.norm, nn.Identity) or getattr(attn, "gate", None) is not None:
        raise ConfigError("slimming attention with an output norm or gate is not supported")
    heads, head_dim = attn.num_heads, attn.head_dim
    k = kept(head_dim, s)
    per_head = [choose(head_dim, k, selection, generator) + h * head_dim for h in range(heads)]
    cols = torch.cat(per_head)  # positions in the concatenated head outputs (attn_dim)
    rows = torch.cat([cols + part * attn.attn_dim for part in range(3)])  # the same positions of Q, K and V
    qkv_bias = attn.qkv.bias[rows] if attn.qkv.bias is not None else None
    slim = copy.copy(attn)  # shallow: shares dropout modules; qkv and proj are replaced below
    slim._modules = dict(attn._modules)
    slim.qkv = _linear(attn.qkv.weight[rows], qkv_bias)
    slim.proj = _linear(attn.proj.weight[:, cols], attn.proj.bias)
    slim.head_dim, slim.attn_dim, slim.scale = k, heads * k, k**-0.5
    return slim


def slim_mlp(mlp: Mlp, s: float, selection: str = "first", generator: torch.Generator | None = None) -> Mlp:
    """A copy of ``mlp`` keeping ``kept(hidden, s)`` hidden units."""
    if not isinstance(mlp.norm, nn.Identity):
        raise ConfigError("slimming an MLP with a hidden-layer norm is not supported")
    hidden = mlp.fc1.out_features
    units = choose(hidden, kept(hidden, s), selection, generator)
    slim = copy.copy(mlp)
    slim._modules = dict(mlp._modules)
    slim.fc1 = _linear(mlp.fc1.weight[units], mlp.fc1.bias[units] if mlp.fc1.bias is not None else None)
    slim.fc2 = _linear(mlp.fc2.weight[:, units], mlp.fc2.bias)
    return slim


def slim_model(model: nn.Module, s: float, *, selection: str = "first", parts: str = "all", seed: int = 0) -> nn.Module:
    """A slimmed copy of ``model`` (the original is left as it is); ``s = 1`` gives an exact copy."""
    if parts not in PARTS:
        raise ConfigError(f"unknown parts {parts!r}; choose one of {', '.join(PARTS)}")
    if selection not in SELECTIONS:
        raise ConfigError(f"unknown selection {selection!r}; choose one of {', '.join(SELECTIONS)}")
    kept(1, s)  # validates s
    slim = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    found = {"attn": 0, "mlp": 0}
    for parent in list(slim.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Attention):
                found["attn"] += 1
                if parts in ("all", "attn"):
                    setattr(parent, name, slim_attention(child, s, selection, generator))
            elif type(child) is Mlp:
                found["mlp"] += 1
                if parts in ("all", "mlp"):
                    setattr(parent, name, slim_mlp(child, s, selection, generator))
    if not found["attn"] and not found["mlp"]:
        raise ConfigError(
            f"{type(model).__name__} has no timm Attention or Mlp modules to slim (supported: timm ViTs, incl. "
            "parallel blocks)"
        )
    return slim


def width_report(model: nn.Module) -> dict[str, int]:
    """Head dimension and MLP hidden units of the first attention / MLP of ``model`` (for logs and checks)."""
    report: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, Attention) and "head_dim" not in report:
            report["head_dim"] = module.head_dim
        if type(module) is Mlp and "mlp_hidden" not in report:
            report["mlp_hidden"] = module.fc1.out_features
    return report


__all__ = ["PARTS", "SELECTIONS", "choose", "kept", "slim_attention", "slim_mlp", "slim_model", "width_report"]
