"""Deployable slimmed encoders: the sweep's best width under a FLOPs budget, written as a plain timm model.

The folder holds ``model.safetensors`` and ``config.json`` in the layout timm writes for the Hugging Face hub
(``timm.models.save_for_hf``), so ``timm.create_model("local-dir:<folder>", pretrained=True)`` builds and loads it
in a process that never imports rsfm, and a ``README.md`` card: FLOPs, parameters, retention and the sweep rows
they came from.

What timm can describe: its ``VisionTransformer`` (1.0.31) gives every attention head ``embed_dim / num_heads``
dimensions and takes no per-head size, so paper 2's slimmed attention (fewer dimensions per head) has no timm config,
while a slimmed MLP has one (``mlp_ratio`` sets the hidden units). The exportable sweep rows are therefore those
whose attention is whole: the ``first-mlp`` ablation (the MLP's first units kept, paper 2's rule) and width 1. Their
FLOPs and parameters are those of the exported model itself: the sweep measured that very architecture on these
weights (checked by the weights' sha256). Our encoders are exportable when each block has one branch (the ``x1``
sizes); timm has no config for ``ParallelThingsBlock`` with K branches either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from timm.layers import Attention, Mlp
from timm.models.vision_transformer import Block, ParallelThingsBlock, VisionTransformer
from torch import nn

from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_dir
from rsfm.models.slim import slim_model
from rsfm.slimming.features import EncoderInput, embed

EXPORTABLE_VARIANTS = ("first-mlp",)  # attention whole (see above); width 1 of any variant is the encoder itself
# timm builds any VisionTransformer through a ViT entry point; config.json's model_args override its defaults
TIMM_ENTRY_POINT = "vit_base_patch16_224"


@dataclass(frozen=True)
class Choice:
    """The sweep cell an export takes: its variant and width, the exported model's relative FLOPs and parameters
    (as the sweep measured them), and its retention (mean over the sweep's datasets, probes and seeds)."""

    encoder: str
    variant: str
    width: float
    rel_flops: float
    params_m: float
    retention: float
    weights_sha256: str
    rows: pd.DataFrame  # retention per dataset and probe: mean, sd, seeds


def _cells(probes: pd.DataFrame) -> pd.DataFrame:
    cells = probes.groupby(["variant", "width"], as_index=False).agg(
        rel_flops=("rel_flops", "first"), params_m=("params_m", "first"), retention=("retention", "mean")
    )
    full = cells[cells["width"] == 1.0].head(1)  # width 1 is one model whatever the variant
    return pd.concat([cells[cells["width"] < 1.0], full], ignore_index=True)


def choose(probes: pd.DataFrame, encoder: str, *, flops: float | None = None, width: float | None = None) -> Choice:
    """The exportable cell of ``encoder`` at ``width``, or the one with the best retention within ``flops`` (relative
    to the full encoder; ties go to the cheaper)."""
    if (flops is None) == (width is None):
        raise ConfigError("give exactly one of --flops (a budget relative to the full encoder) and --width")
    rows = probes[probes["encoder"] == encoder]
    if rows.empty:
        known = ", ".join(sorted(probes["encoder"].unique()))
        raise ConfigError(f"the sweep has no rows of encoder {encoder!r}; it holds: {known}")
    shas = rows["weights_sha256"].unique()
    if len(shas) != 1:
        raise DataError(f"the sweep rows of {encoder} come from {len(shas)} different weights; rerun the sweep")
    rows = rows[rows["variant"].isin(EXPORTABLE_VARIANTS) | (rows["width"] == 1.0)]
    cells = _cells(rows)
    if (cells["width"] < 1.0).sum() == 0:
        raise ConfigError(
            f"the sweep of {encoder} has no MLP-only rows, the only slimmed widths timm can load: add `parts: [mlp]` "
            "to slimming.ablations and rerun the sweep"
        )
    if width is not None:
        picked = cells[(cells["width"] - width).abs() < 1e-9]
        if picked.empty:
            widths = ", ".join(f"{w:g}" for w in sorted(cells["width"]))
            raise ConfigError(f"width {width:g} is not in the sweep of {encoder}; exportable widths: {widths}")
    else:
        affordable = cells[cells["rel_flops"] <= flops + 1e-9]
        if affordable.empty:
            cheapest = cells.sort_values("rel_flops").iloc[0]
            raise ConfigError(
                f"no exportable width of {encoder} fits {flops:g} of its FLOPs: the cheapest, width "
                f"{cheapest['width']:g} of the MLP only, costs {cheapest['rel_flops']:.3f}. A timm ViT keeps every "
                f"head's embed_dim / num_heads dimensions, so the attention's share cannot be slimmed in a timm model"
            )
        picked = affordable.sort_values(["retention", "rel_flops"], ascending=[False, True])
    cell = picked.iloc[0]
    chosen = rows[(rows["variant"] == cell["variant"]) & (rows["width"] == cell["width"])]
    table = chosen.groupby(["dataset", "probe"], as_index=False).agg(
        retention=("retention", "mean"), sd=("retention", "std"), seeds=("seed", "nunique")
    )
    return Choice(
        encoder=encoder, variant=str(cell["variant"]), width=float(cell["width"]),
        rel_flops=float(cell["rel_flops"]), params_m=float(cell["params_m"]), retention=float(cell["retention"]),
        weights_sha256=str(shas[0]), rows=table,
    )  # fmt: skip


def _branch(block: nn.Module, index: int) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module, nn.Module, nn.Module]:
    """(norm1, attn, ls1, norm2, mlp, ls2) of a timm Block or a one-branch ParallelThingsBlock."""
    if isinstance(block, Block):
        return block.norm1, block.attn, block.ls1, block.norm2, block.mlp, block.ls2
    if isinstance(block, ParallelThingsBlock) and len(block.attns) == 1:
        attn, ffn = block.attns[0], block.ffns[0]
        return attn.norm, attn.attn, attn.ls, ffn.norm, ffn.mlp, ffn.ls
    branches = len(block.attns) if isinstance(block, ParallelThingsBlock) else "?"
    raise ConfigError(
        f"block {index} ({type(block).__name__}, {branches} parallel branches) has no timm config: only encoders with "
        "one branch per block (the x1 sizes) can be exported as timm models"
    )


def timm_model(encoder: VisionTransformer, pool: str) -> tuple[VisionTransformer, dict[str, Any]]:
    """``encoder`` (slimmed MLPs, whole attention) rebuilt as a timm ``VisionTransformer`` of standard blocks holding
    its weights, whose ``forward`` gives the features the sweep probed (``pool``: ``mean`` of the patch tokens or the
    ``cls`` token, of the final-norm tokens), and the model_args that rebuild it."""
    parts = [_branch(block, i) for i, block in enumerate(encoder.blocks)]
    if not all(type(p[1]) is Attention and type(p[4]) is Mlp for p in parts):
        raise ConfigError("only an encoder of timm Attention and Mlp layers can be exported as a timm ViT")
    hidden = {p[4].fc1.out_features for p in parts}
    if len(hidden) != 1 or any(p[1].head_dim * p[1].num_heads != encoder.embed_dim for p in parts):
        raise ConfigError("only MLP slimming of one width can be exported: timm has no per-head dimension")
    attn, embed, (hidden_units,) = parts[0][1], encoder.embed_dim, hidden
    args = {
        "img_size": list(encoder.patch_embed.img_size), "patch_size": list(encoder.patch_embed.patch_size),
        "in_chans": encoder.patch_embed.proj.in_channels, "embed_dim": embed, "depth": len(parts),
        "num_heads": attn.num_heads, "mlp_ratio": (hidden_units + 0.5) / embed,  # timm: int(embed_dim * mlp_ratio)
        "qkv_bias": attn.qkv.bias is not None, "proj_bias": attn.proj.bias is not None,
        "class_token": encoder.cls_token is not None, "reg_tokens": encoder.num_reg_tokens,
        "no_embed_class": encoder.no_embed_class, "pos_embed": "learn" if encoder.pos_embed is not None else "none",
        "pre_norm": not isinstance(encoder.norm_pre, nn.Identity),
        # the sweep pools forward_features (after `norm`, never `fc_norm`): the same order here
        "final_norm": not isinstance(encoder.norm, nn.Identity), "fc_norm": False,
        "global_pool": {"mean": "avg", "cls": "token"}[pool], "num_classes": 0,
        "init_values": None if isinstance(parts[0][2], nn.Identity) else 1.0,  # LayerScale present (value: loaded)
        "dynamic_img_size": encoder.dynamic_img_size, "weight_init": "skip",
    }  # fmt: skip
    import timm

    model = timm.create_model(TIMM_ENTRY_POINT, pretrained=False, **args)
    skip = ("blocks.", "fc_norm.", "head.")  # blocks renamed below; fc_norm and a head the sweep never used
    state = {k: v for k, v in encoder.state_dict().items() if not k.startswith(skip)}
    for i, (norm1, attention, ls1, norm2, ffn, ls2) in enumerate(parts):
        for name, module in (("norm1", norm1), ("attn", attention), ("ls1", ls1), ("norm2", norm2), ("mlp", ffn),
                             ("ls2", ls2)):  # fmt: skip
            state |= {f"blocks.{i}.{name}.{k}": v for k, v in module.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), args


def _check_features(slimmed: nn.Module, model: nn.Module, spec: EncoderInput, in_chans: int) -> float:
    """The largest difference between the slimmed encoder's pooled features (as the sweep computes them) and the
    timm model's output on random images; an export that changes them is refused."""
    images = torch.randn(2, in_chans, spec.img_size, spec.img_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = torch.from_numpy(embed(slimmed.eval(), images, spec.pool)), model(images)
    error = float((expected - got).abs().max())
    if got.shape != expected.shape or error > 1e-4 * max(1.0, float(expected.abs().max())):
        raise DataError(f"the timm model's features differ from the slimmed encoder's by {error:.2e}; not exported")
    return error


def _card(choice: Choice, args: dict[str, Any], sweep: str, source: str, params: int, spec: EncoderInput) -> str:
    table = "\n".join(
        f"| {r.dataset} | {r.probe} | {r.retention:.3f} | {0.0 if pd.isna(r.sd) else r.sd:.3f} | {r.seeds} |"
        for r in choice.rows.itertuples()
    )
    bands = f"bands per layout {json.dumps(spec.bands)}" if spec.bands else "the dataset's bands"
    scale, shape = json.dumps(spec.scale), f"{args['in_chans']} x {args['img_size'][0]} x {args['img_size'][1]}"
    pooled = "the mean of the patch tokens" if spec.pool == "mean" else "the class token"
    return f"""# {choice.encoder}, width {choice.width:g} ({choice.variant})

A slimmed copy of `{choice.encoder}` ({source}, sha256 `{choice.weights_sha256}`): every MLP keeps its first
{int(args["mlp_ratio"] * args["embed_dim"])} of its hidden units, the attention is whole. Written by
`rsfm export-slim`; load it with timm alone:

```python
import timm
model = timm.create_model("local-dir:<this folder>", pretrained=True)  # pooled features (num_classes 0)
```

| | |
|---|---|
| FLOPs, relative to the full encoder | {choice.rel_flops:.3f} |
| parameters | {params / 1e6:.3f} M ({choice.params_m:.3f} M as the sweep counted the slimmed encoder) |
| retention (mean over datasets, probes, seeds) | {choice.retention:.3f} |
| input | {shape}; {bands}, divided by {scale}, then normalised by config.json's mean and std |
| features | `model(x)`: {pooled} of the final-norm tokens, as the sweep probed them |

Retention per task, from `{sweep}` (variant `{choice.variant}`, width {choice.width:g}):

| dataset | probe | retention | sd | seeds |
|---|---|---|---|---|
{table}

Why only the MLP is slimmed: timm's VisionTransformer gives every head `embed_dim / num_heads` dimensions, so the
attention of paper 2's uniform slimming has no timm config (docs/open-questions.md).
"""


def export(
    encoder: nn.Module, spec: EncoderInput, choice: Choice, out_dir: str | Path, *, sweep: str, source: str
) -> Path:
    """Slim ``encoder`` (the weights the sweep measured, fed as ``spec`` says) as ``choice`` says and write it to
    ``out_dir`` (model.safetensors, config.json, README.md, export.json; all or nothing)."""
    from timm.models import save_for_hf

    parts = "mlp" if choice.width < 1.0 else "all"
    slimmed = slim_model(encoder, choice.width, selection="first", parts=parts)
    model, args = timm_model(slimmed, spec.pool)
    error = _check_features(slimmed, model, spec, args["in_chans"])
    params = sum(p.numel() for p in model.parameters())
    data = {"input_size": (args["in_chans"], *args["img_size"]), "mean": tuple(spec.mean), "std": tuple(spec.std)}
    with atomic_dir(out_dir) as folder:
        tag = {"tag": f"rsfm-{choice.encoder}-{choice.variant}-w{choice.width:g}", "license": "other", "crop_pct": 1.0}
        save_for_hf(model, str(folder), model_config={"pretrained_cfg": tag}, model_args=args,
                    safe_serialization=True, data_config=data)  # fmt: skip
        (folder / "README.md").write_text(_card(choice, args, sweep, source, params, spec))
        record = {"encoder": choice.encoder, "variant": choice.variant, "width": choice.width,
                  "rel_flops": choice.rel_flops, "params": params, "retention": choice.retention,
                  "weights_sha256": choice.weights_sha256, "sweep": sweep, "max_feature_difference": error,
                  "input": spec.identity()}  # fmt: skip
        (folder / "export.json").write_text(json.dumps(record, indent=2))
    return Path(out_dir)


def export_encoder(
    slim_cfg: dict[str, Any], name: str, sweep: Sequence[str | Path], out_dir: str | Path, *,
    flops: float | None = None, width: float | None = None, pretrain_dir: str | Path = "results/pretrain",
) -> Choice:  # fmt: skip
    """Export encoder ``name`` of the slimming config at the sweep's best width within ``flops`` (or at ``width``);
    ``sweep``: probe tables holding its rows (results/slimming/probes.csv, or its own per-dataset tables)."""
    from rsfm.slimming.encoders import describe, identity, load_encoder, study_entry

    if name not in slim_cfg.get("encoders", {}):
        raise ConfigError(f"encoder {name!r} is not in slimming.encoders: {', '.join(slim_cfg.get('encoders', {}))}")
    if missing := [str(path) for path in sweep if not Path(path).is_file()]:
        raise ConfigError(f"{', '.join(missing)} missing: run the slimming sweep first (rule slim_tables)")
    choice = choose(pd.concat([pd.read_csv(path) for path in sweep]), name, flops=flops, width=width)
    entry = study_entry(slim_cfg, name)  # as the sweep read it
    sha = identity(name, entry, pretrain_dir)["weights_sha256"]
    if sha != choice.weights_sha256:  # before the weights are loaded
        raise DataError(
            f"{name}'s weights (sha256 {sha[:12]}...) are not those the sweep measured "
            f"({choice.weights_sha256[:12]}...): rerun the slimming sweep before exporting"
        )
    model, spec = load_encoder(name, entry, pretrain_dir)
    made = describe(name, entry, pretrain_dir)
    source = f"{made['method']} {made['base']}, {made['training']} training"
    export(model, spec, choice, out_dir, sweep=", ".join(map(str, sweep)), source=source)
    return choice
