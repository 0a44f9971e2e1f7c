"""A parallel block computed as one wide block: the same parameters and outputs, a few large matrix products.

timm's ``ParallelThingsBlock`` runs its K branches one after the other: K LayerNorms, K small QKV products, K
attentions, K projections, a stack and a sum, then the same again for the MLPs (about 10 kernels per branch). The
sum of K branches is itself one wider block, which this module computes instead:

- ``LN_k(x) = x_hat * g_k + b_k`` with one ``x_hat`` for all branches, so ``W_k LN_k(x) + c_k =
  (W_k diag(g_k)) x_hat + (W_k b_k + c_k)``: the K norms fold into the weights of the K first linears, which then
  concatenate into one product from ``x_hat`` (D -> K x 3D for QKV, D -> K x hidden for the MLP);
- K attentions of H heads are one attention of K x H heads;
- ``sum_k P_k o_k`` is one product of the concatenated outputs with the projections concatenated along their input
  axis, and the same holds for the second MLP linear.

So a ViT-L12x4 block runs 4 large products instead of 16 small ones and saves one normalised activation instead of
four. The parameters stay timm's own (same modules, same state-dict names; checkpoints, exports, slimming and
fine-tuning see an ordinary ``ParallelThingsBlock``); folding costs a pass over the block's weights per forward,
small beside the products once a batch holds more tokens than the width. The result equals timm's up to the
rounding of the folded weights (tests compare outputs and gradients).

Blocks whose branches use anything the folding does not cover (layer scale, active drop path or dropout, QK or
attention norms, gates, masks, a non-GELU activation) keep timm's forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models.vision_transformer import Attention, ParallelThingsBlock
from torch import nn


def _foldable(block: ParallelThingsBlock) -> bool:
    """Whether every branch is exactly LayerNorm -> (Attention | GELU Mlp) -> identity, with no dropout."""
    eps = {branch.norm.eps for branch in [*block.attns, *block.ffns] if isinstance(branch.norm, nn.LayerNorm)}
    if len(eps) != 1:
        return False
    for branch in block.attns:
        attn = branch.attn
        if not (isinstance(branch.norm, nn.LayerNorm) and branch.norm.elementwise_affine and type(attn) is Attention):
            return False
        if not all(isinstance(m, nn.Identity) for m in (attn.q_norm, attn.k_norm, attn.norm, branch.ls)):
            return False
        if getattr(attn, "gate", None) is not None or attn.attn_drop.p or attn.proj_drop.p:
            return False
    for branch in block.ffns:
        mlp = branch.mlp
        if not (isinstance(branch.norm, nn.LayerNorm) and branch.norm.elementwise_affine and type(mlp) is Mlp):
            return False
        if not (isinstance(mlp.act, nn.GELU) and mlp.act.approximate == "none"):
            return False
        if not all(isinstance(m, nn.Identity) for m in (mlp.norm, branch.ls)) or mlp.drop1.p or mlp.drop2.p:
            return False
    return True


def _folded_in(norms: list[nn.LayerNorm], linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (K x out, D) and bias (K x out) of the K linears applied to the un-affined normalised input."""
    weight = torch.cat([lin.weight * norm.weight for norm, lin in zip(norms, linears, strict=True)])
    bias = torch.cat([
        lin.weight @ norm.bias + (lin.bias if lin.bias is not None else 0)
        for norm, lin in zip(norms, linears, strict=True)
    ])  # fmt: skip
    return weight, bias


def _summed_out(linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight (D, K x in) and bias (D) of sum_k linear_k(part k of the input)."""
    weight = torch.cat([lin.weight for lin in linears], dim=1)
    biases = [lin.bias for lin in linears if lin.bias is not None]
    return weight, torch.stack(biases).sum(0) if biases else None


class FusedParallelBlock(ParallelThingsBlock):
    """``ParallelThingsBlock`` whose forward runs its branches as one wide block (see the module docstring).

    Made by :func:`fuse_parallel_blocks` by changing the class of an existing block, never constructed directly."""

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        drop_path_active = self.training and any(
            not isinstance(branch.drop_path, nn.Identity) for branch in [*self.attns, *self.ffns]
        )
        if attn_mask is not None or is_causal or drop_path_active:
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        batch, length, dim = x.shape
        eps = self.attns[0].norm.eps
        branches = self.num_parallel
        attns = [branch.attn for branch in self.attns]
        heads, head_dim = attns[0].num_heads, attns[0].head_dim

        weight, bias = _folded_in([b.norm for b in self.attns], [a.qkv for a in attns])
        qkv = F.linear(F.layer_norm(x, (dim,), eps=eps), weight, bias)
        # columns: branch, then q/k/v, then head, then head dim -> (3, batch, branches x heads, length, head_dim)
        qkv = qkv.view(batch, length, branches, 3, heads, head_dim).permute(3, 0, 2, 4, 1, 5)
        q, k, v = qkv.reshape(3, batch, branches * heads, length, head_dim).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # the scale is head_dim ** -0.5, as in timm's Attention
        out = out.view(batch, branches, heads, length, head_dim).permute(0, 3, 1, 2, 4).reshape(batch, length, -1)
        weight, bias = _summed_out([a.proj for a in attns])
        x = x + F.linear(out, weight, bias)

        mlps = [branch.mlp for branch in self.ffns]
        weight, bias = _folded_in([b.norm for b in self.ffns], [m.fc1 for m in mlps])
        hidden = F.gelu(F.linear(F.layer_norm(x, (dim,), eps=eps), weight, bias))
        weight, bias = _summed_out([m.fc2 for m in mlps])
        return x + F.linear(hidden, weight, bias)


def fuse_parallel_blocks(model: nn.Module) -> int:
    """Switch every foldable ``ParallelThingsBlock`` in ``model`` to the fused forward, in place; returns how many.

    Parameters, buffers and state-dict names are untouched."""
    count = 0
    for module in model.modules():
        if type(module) is ParallelThingsBlock and _foldable(module):
            module.__class__ = FusedParallelBlock
            count += 1
    return count


__all__ = ["FusedParallelBlock", "fuse_parallel_blocks"]
