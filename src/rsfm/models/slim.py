"""Post-hoc uniform width slimming of a pretrained ViT (Hackel et al. 2026, "How Much of a Model Do We Need?").

One width factor ``s`` for every block, no retraining:

- attention: every head keeps ``max(1, floor(s * d_k))`` of its ``d_k`` dimensions, the same positions in Q, K and
  V (rows of the fused ``qkv`` projection) and the matching columns of the output projection; the attention scale
  becomes ``1 / sqrt`` of the new head dimension;
- MLP: ``max(1, floor(s * d_h))`` of the ``d_h`` hidden units (rows of ``fc1``, columns of ``fc2``; a SwiGLU MLP,
  TerraMind's: the same rows of its gate ``fc1_g`` and value ``fc1_x``);
- untouched: the embedding width and residual stream, every LayerNorm, the class token, patch and position
  embeddings, and the output projections' biases.

The slimmed modules are real, smaller timm modules (their ``nn.Linear`` layers hold only the kept rows and columns,
with ``in_features``/``out_features`` to match), so the compute really falls. Works on any timm ViT built from
``timm.layers.Attention`` and ``timm.layers.Mlp`` or ``SwiGLU``: plain blocks and the parallel blocks of
:mod:`rsfm.models.vit` (every branch slimmed alike), and the foundation models of :mod:`rsfm.slimming.foundation`.

Ablations: ``selection`` keeps the ``first`` (the paper's rule), the ``last`` or ``random`` dimensions (random: drawn
per head and per MLP from ``seed``); ``parts`` slims ``all``, only ``attn`` or only ``mlp``.

``floor`` is taken as ``floor(s * n + 1e-9)``, so that widths like 0.7 x 10 (6.9999... in floating point) keep 7.

Memory: a slimmed model shares every tensor it does not slice with the original (embeddings, LayerNorms, biases of
the output projections, and whole layers a width keeps entirely, e.g. all of them at ``s = 1``); only the sliced
``qkv``/``proj``/``fc1``/``fc2`` weights are new, so a sweep holds one encoder plus at most one slimmed copy of its
blocks. Treat both as read-only (an in-place change to a shared tensor shows in both). :func:`slimmed` slims a model
in place for the duration of a ``with`` block instead (the sweep's way: no module tree is copied per batch).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from timm.layers import Attention, Mlp, SwiGLU
from torch import nn

from rsfm.errors import ConfigError
from rsfm.models.slimmable import kept

SELECTIONS = ("first", "last", "random")
PARTS = ("all", "attn", "mlp")
MLPS = (Mlp, SwiGLU)  # exact types: timm's GluMlp & co. subclass Mlp with a split fc1 this rule does not slice


def _is_mlp(module: nn.Module) -> bool:
    return type(module) in MLPS


def _mlp_in(mlp: nn.Module) -> list[nn.Linear]:
    """The layers whose rows are the MLP's hidden units (SwiGLU: the gate and the value, the same units of both)."""
    return [mlp.fc1_g, mlp.fc1_x] if isinstance(mlp, SwiGLU) else [mlp.fc1]


def _hidden(mlp: nn.Module) -> int:
    """The MLP's hidden units."""
    return _mlp_in(mlp)[0].out_features


def choose(n: int, k: int, selection: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of the ``k`` kept of ``n`` dimensions, ascending."""
    if selection == "first":
        return torch.arange(k)
    if selection == "last":
        return torch.arange(n - k, n)
    if selection == "random":
        return torch.randperm(n, generator=generator)[:k].sort().values
    raise ConfigError(f"unknown selection {selection!r}; choose one of {', '.join(SELECTIONS)}")


@dataclass
class _Cut:
    """What one width keeps of one Attention (``rows`` of qkv, ``cols`` of proj, ``k`` dims per head) or Mlp (``rows``
    of fc1 = ``cols`` of fc2, ``k`` hidden units)."""

    module: nn.Module
    k: int
    rows: torch.Tensor
    cols: torch.Tensor


def _attention_cut(attn: Attention, s: float, selection: str, generator: torch.Generator | None) -> _Cut:
    if not isinstance(attn.q_norm, nn.Identity) or not isinstance(attn.k_norm, nn.Identity):
        raise ConfigError("slimming attention with q/k normalisation is not supported (its norm spans the head)")
    if not isinstance(attn.norm, nn.Identity) or getattr(attn, "gate", None) is not None:
        raise ConfigError("slimming attention with an output norm or gate is not supported")
    heads, head_dim = attn.num_heads, attn.head_dim
    k = kept(head_dim, s)
    cols = torch.cat([choose(head_dim, k, selection, generator) + h * head_dim for h in range(heads)])
    rows = torch.cat([cols + part * attn.attn_dim for part in range(3)])  # the same positions of Q, K and V
    return _Cut(attn, k, rows, cols)


def _mlp_cut(mlp: nn.Module, s: float, selection: str, generator: torch.Generator | None) -> _Cut:
    if not isinstance(mlp.norm, nn.Identity):
        raise ConfigError("slimming an MLP with a hidden-layer norm is not supported")
    hidden = _hidden(mlp)
    units = choose(hidden, kept(hidden, s), selection, generator)
    return _Cut(mlp, len(units), units, units)


def _param(weight: torch.Tensor, index: torch.Tensor, dim: int, like: nn.Parameter) -> nn.Parameter:
    """The kept rows (``dim`` 0) or columns (1) of ``weight``, as a new contiguous parameter."""
    return nn.Parameter(weight.detach().index_select(dim, index.to(weight.device)), like.requires_grad)


def _apply(cut: _Cut) -> list[tuple[nn.Module, str, object]]:
    """Slim ``cut.module`` in place; returns the (module, attribute, old value) that undo it."""
    undo: list[tuple[nn.Module, str, object]] = []

    def put(module: nn.Module, name: str, value: object) -> None:
        undo.append((module, name, getattr(module, name)))
        setattr(module, name, value)

    module = cut.module
    firsts, second = ([module.qkv], module.proj) if isinstance(module, Attention) else (_mlp_in(module), module.fc2)
    for first in firsts:
        put(first, "weight", _param(first.weight, cut.rows, 0, first.weight))
        if first.bias is not None:
            put(first, "bias", _param(first.bias, cut.rows, 0, first.bias))
        put(first, "out_features", len(cut.rows))
    put(second, "weight", _param(second.weight, cut.cols, 1, second.weight))  # its bias stays whole
    put(second, "in_features", len(cut.cols))
    if isinstance(module, Attention):
        put(module, "head_dim", cut.k)
        put(module, "attn_dim", module.num_heads * cut.k)
        put(module, "scale", cut.k**-0.5)
    return undo


def _check(model: nn.Module, s: float, selection: str, parts: str) -> None:
    if parts not in PARTS:
        raise ConfigError(f"unknown parts {parts!r}; choose one of {', '.join(PARTS)}")
    if selection not in SELECTIONS:
        raise ConfigError(f"unknown selection {selection!r}; choose one of {', '.join(SELECTIONS)}")
    kept(1, s)  # validates s
    if not any(isinstance(m, Attention) or _is_mlp(m) for m in model.modules()):
        raise ConfigError(
            f"{type(model).__name__} has no timm Attention or Mlp modules to slim (supported: timm ViTs, incl. "
            "parallel blocks)"
        )


def _plan(model: nn.Module, s: float, selection: str, parts: str, seed: int) -> list[_Cut]:
    """The cuts of every Attention and Mlp that width ``s`` changes, drawn in module order (the random selection's
    order); a layer kept whole is left out (it is shared as it is)."""
    generator = torch.Generator().manual_seed(seed)
    cuts = []
    for parent in list(model.modules()):
        for child in parent.children():
            if isinstance(child, Attention) and parts in ("all", "attn"):
                cuts.append(_attention_cut(child, s, selection, generator))
            elif _is_mlp(child) and parts in ("all", "mlp"):
                cuts.append(_mlp_cut(child, s, selection, generator))
    full = [cut.module.head_dim if isinstance(cut.module, Attention) else _hidden(cut.module) for cut in cuts]
    return [cut for cut, n in zip(cuts, full, strict=True) if cut.k < n]


def shared_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model``'s module tree holding the original's parameters and buffers (no tensor is copied)."""
    memo = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, memo)


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device, made without copying its tensors (for FLOP and parameter counts)."""
    memo: dict[int, torch.Tensor] = {id(p): nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
                                     for p in model.parameters()}  # fmt: skip
    memo |= {id(b): torch.empty_like(b, device="meta") for b in model.buffers()}
    return copy.deepcopy(model, memo)


def slim_attention(attn: Attention, s: float, selection: str = "first", generator: torch.Generator | None = None):
    """A copy of ``attn`` whose heads keep ``kept(head_dim, s)`` dimensions each."""
    slim = shared_copy(attn)
    cut = _attention_cut(slim, s, selection, generator)
    if cut.k < attn.head_dim:
        _apply(cut)
    return slim


def slim_mlp(mlp: nn.Module, s: float, selection: str = "first", generator: torch.Generator | None = None):
    """A copy of ``mlp`` (timm ``Mlp`` or ``SwiGLU``) keeping ``kept(hidden, s)`` hidden units."""
    slim = shared_copy(mlp)
    cut = _mlp_cut(slim, s, selection, generator)
    if cut.k < _hidden(mlp):
        _apply(cut)
    return slim


def slim_model(model: nn.Module, s: float, *, selection: str = "first", parts: str = "all", seed: int = 0) -> nn.Module:
    """A slimmed copy of ``model`` (the original is left as it is; unsliced tensors are shared with it, see the module
    docstring); ``s = 1`` gives an exact copy."""
    _check(model, s, selection, parts)
    slim = shared_copy(model)
    for cut in _plan(slim, s, selection, parts, seed):
        _apply(cut)
    return slim


def _restore(undo: list[tuple[nn.Module, str, object]]) -> None:
    for module, name, value in reversed(undo):
        setattr(module, name, value)


@contextlib.contextmanager
def slimmed(
    model: nn.Module, s: float, *, selection: str = "first", parts: str = "all", seed: int = 0, lazy: bool = False
) -> Iterator[nn.Module]:
    """``model`` itself slimmed as :func:`slim_model` slims it, for the ``with`` block; restored on leaving it (in
    place: not for a model another thread runs meanwhile).

    ``lazy``: each layer is sliced as it runs and restored when it returns (forward hooks), so only the running
    layer's sliced weights exist at a time instead of a whole slimmed copy of the blocks (the sweep's way; outside a
    forward the model reads as full width)."""
    _check(model, s, selection, parts)
    undo: list[tuple[nn.Module, str, object]] = []
    running: dict[int, list[tuple[nn.Module, str, object]]] = {}
    hooks = []
    try:
        for cut in _plan(model, s, selection, parts, seed):
            if not lazy:
                undo += _apply(cut)
                continue

            def enter(module: nn.Module, args: object, cut: _Cut = cut) -> None:
                running[id(module)] = _apply(cut)

            def leave(module: nn.Module, args: object, output: object) -> None:
                _restore(running.pop(id(module), []))

            hooks += [cut.module.register_forward_pre_hook(enter),
                      cut.module.register_forward_hook(leave, always_call=True)]  # fmt: skip
        yield model
    finally:
        for hook in hooks:
            hook.remove()
        for left in running.values():  # a forward that raised before its hook ran
            _restore(left)
        _restore(undo)


def width_report(model: nn.Module) -> dict[str, int]:
    """Head dimension and MLP hidden units of the first attention / MLP of ``model`` (for logs and checks)."""
    report: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, Attention) and "head_dim" not in report:
            report["head_dim"] = module.head_dim
        if _is_mlp(module) and "mlp_hidden" not in report:
            report["mlp_hidden"] = _hidden(module)
    return report


__all__ = [
    "PARTS", "SELECTIONS", "choose", "kept", "meta_copy", "shared_copy", "slim_attention", "slim_mlp", "slim_model",
    "slimmed", "width_report",
]  # fmt: skip
