"""Paper 2's external remote-sensing foundation models, built by TerraTorch's backbone registry (``terratorch``).

An entry ``source: terratorch`` names a ``family`` (one row of :data:`FAMILIES`: DOFA, Prithvi, TerraMind), the
registry's ``arch`` (e.g. ``terratorch_dofa_base_patch16_224``, ``terratorch_prithvi_eo_v2_300``,
``terratorch_terramind_v1_base``), the local checkpoint ``path`` (with its ``url``) and ``model_bands``: the
TerraTorch band names of the channels it is fed, in the order of the entry's ``bands`` (GEO-Bench names). The model
is built with ``pretrained=False`` (TerraTorch downloads nothing then) and the checkpoint is read as every external
one is (:func:`rsfm.slimming.encoders.read_checkpoint`: safetensors or ``torch.load(weights_only=True)``), in the
layout its authors released, and loaded strictly after the family's key map:

- DOFA (Xiong et al. 2024): a ViT whose patch embedding is generated per band from the band's wavelength (a small
  transformer, part of the patch embedding and never slimmed); the wavelengths come from ``model_bands``. The
  released file is torchgeo's DOFA state dict; its pooling is the mean of the patch tokens, then ``fc_norm``.
- Prithvi-EO 1.0 / 2.0 (Jakubik et al. 2023, Szwarcman et al. 2024): an MAE ViT with a 3D (time x 16 x 16) patch
  embedding, run on one date (``num_frames: 1``); the released file is the whole MAE (``encoder.``, ``decoder.``),
  mapped by TerraTorch's own ``checkpoint_filter_fn_vit`` (drops the decoder, keeps the fixed sin-cos position
  embedding of this input size, picks the patch-embedding channels of ``model_bands``). Final norm, cls token.
- TerraMind (Jakubik et al. 2025): the multimodal 4M-style encoder on its raw S2 L2A input (``untok_sen2l2a@224``,
  12 bands, no cls token, final ``encoder_norm``); base and large use a SwiGLU MLP (``gated_mlp``). Its own
  attention and MLP layers are swapped at load for timm's ``Attention`` / ``SwiGLU`` / ``Mlp`` holding the very same
  ``nn.Linear`` modules (the forward is unchanged: same products, same scaled-dot-product attention), so the one
  slicing rule of :mod:`rsfm.models.slim` slims every head and MLP of it as it slims any timm ViT.

Each is wrapped in :class:`Foundation`, which gives the sweep what a timm ViT gives it: ``forward_features`` (the
final-norm tokens), ``num_prefix_tokens``, ``num_features`` and a ``forward`` returning the pooled features.
TerraTorch is imported only when such an entry is loaded (its import takes ~15 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.layers import Attention, Mlp, SwiGLU
from torch import nn

from rsfm.errors import ConfigError, DataError


@dataclass(frozen=True)
class Family:
    """How one model family is built, keyed, fed and pooled."""

    build: Callable[[dict[str, Any]], nn.Module]  # the TerraTorch backbone of an entry, random weights
    key_map: Callable[[dict[str, torch.Tensor], nn.Module, dict[str, Any]], dict[str, torch.Tensor]]
    tokens: Callable[[nn.Module, torch.Tensor], torch.Tensor]  # (B, C, H, W) -> (B, prefix + N, D)
    prefix_tokens: int  # class tokens before the patch tokens
    pooled_norm: str | None = None  # a norm applied after pooling (DOFA's fc_norm) instead of per token
    absent_ok: tuple[str, ...] = ()  # keys a released checkpoint lacks, left at their initial value (see each row)


def _registry():
    """TerraTorch's backbone registry, imported without its global side effects: its import sets
    ``torch.set_float32_matmul_precision("medium")`` (TF32 / bf16 matmuls, other features) and adds warning filters;
    both are put back as they were."""
    import warnings

    precision = torch.get_float32_matmul_precision()
    try:
        with warnings.catch_warnings():  # restores the warning filters on leaving
            from terratorch.registry import BACKBONE_REGISTRY
    except ImportError as error:
        raise ConfigError(
            f"source: terratorch needs the terratorch package ({error}); install the pinned environment (envs/setup.sh)"
        ) from None
    finally:
        torch.set_float32_matmul_precision(precision)
    return BACKBONE_REGISTRY


def _bands(entry: dict[str, Any]) -> list[str]:
    bands = entry.get("model_bands")
    if not bands:
        raise ConfigError(f"encoder {entry.get('arch')}: source terratorch needs model_bands (TerraTorch band names)")
    return list(bands)


def _img_size(entry: dict[str, Any]) -> int:
    return int(entry.get("img_size", 224))


# --- DOFA -------------------------------------------------------------------------------------------------------


def _dofa_build(entry: dict[str, Any]) -> nn.Module:
    if "depth" in entry:
        raise ConfigError("DOFA's constructors fix their depth: leave depth out for family dofa")
    return _registry().build(entry["arch"], pretrained=False, model_bands=_bands(entry), img_size=_img_size(entry),
                             num_classes=0)  # fmt: skip


def _dofa_keys(state: dict[str, torch.Tensor], model: nn.Module, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    # the released file is torchgeo's DOFA; the TerraTorch wrapper holds it as ``dofa_model``
    return {f"dofa_model.{k}": v for k, v in state.items() if not k.startswith("head.")}


def _dofa_tokens(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model(images)[-1]  # the last block's tokens: DOFA norms after pooling (fc_norm)


# --- Prithvi ------------------------------------------------------------------------------------------------------


def _prithvi_build(entry: dict[str, Any]) -> nn.Module:
    kwargs = {k: entry[k] for k in ("depth",) if k in entry}
    return _registry().build(entry["arch"], pretrained=False, bands=_bands(entry), img_size=_img_size(entry),
                             num_frames=int(entry.get("num_frames", 1)), **kwargs)  # fmt: skip


def _prithvi_keys(state: dict[str, torch.Tensor], model: nn.Module, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    from terratorch.models.backbones.prithvi_vit import checkpoint_filter_fn_vit

    return checkpoint_filter_fn_vit(dict(state), model, model.pretrained_bands, model.model_bands)


def _prithvi_tokens(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model.forward_features(images)[-1]  # single date: (B, C, H, W) enters as T = 1


# --- TerraMind ----------------------------------------------------------------------------------------------------


def _terramind_build(entry: dict[str, Any]) -> nn.Module:
    from terratorch.models.backbones.terramind.model.terramind_register import PRETRAINED_BANDS

    pretrained = PRETRAINED_BANDS["untok_sen2l2a@224"]
    if entry.get("modality", "S2L2A") == "S2L2A" and _bands(entry) != pretrained:
        raise ConfigError(f"TerraMind's S2L2A input takes its 12 pretrained bands in their order: model_bands must be "
                          f"{pretrained} (got {_bands(entry)})")  # fmt: skip
    if "depth" in entry:
        raise ConfigError("TerraMind's constructors fix their depth: leave depth out for family terramind")
    model = _registry().build(entry["arch"], pretrained=False, modalities=[entry.get("modality", "S2L2A")],
                              img_size=_img_size(entry))  # fmt: skip
    return to_timm_layers(model)


def _terramind_keys(state: dict[str, torch.Tensor], model: nn.Module, entry: dict[str, Any]) -> dict[str, torch.Tensor]:
    # the released file is the whole TerraMind (decoders, tokenizers too): its encoder's keys are the ViT's own,
    # and SwiGLU names TerraMind's fc1 (gate) / fc3 (value) fc1_g / fc1_x
    names = {".mlp.fc1.": ".mlp.fc1_g.", ".mlp.fc3.": ".mlp.fc1_x."}
    gated = any(isinstance(m, SwiGLU) for m in model.modules())
    out = {}
    for key, value in state.items():
        if gated:
            for old, new in names.items():
                key = key.replace(old, new)
        out[key] = value
    wanted = model.state_dict()
    return {k: v for k, v in out.items() if k in wanted}


def _terramind_tokens(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model(images)[-1]  # encoder_norm of the last block's tokens (one image modality: the mean merge is it)


def to_timm_layers(model: nn.Module) -> nn.Module:
    """TerraMind's attention and MLP layers replaced, in place, by timm's ``Attention`` and ``Mlp`` / ``SwiGLU`` over
    the same ``nn.Linear`` modules (so :mod:`rsfm.models.slim` can slice them; the forward does not change)."""
    from terratorch.models.backbones.terramind.model import tm_utils

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is tm_utils.Attention:
                dim = child.qkv.in_features
                attn = Attention(dim, num_heads=child.num_heads, qkv_bias=child.qkv.bias is not None,
                                 proj_bias=child.proj.bias is not None)  # fmt: skip
                attn.qkv, attn.proj = child.qkv, child.proj
                attn.attn_drop, attn.proj_drop = child.attn_drop, child.proj_drop
                attn.scale = child.scale
                setattr(parent, name, attn)
            elif type(child) is tm_utils.Mlp:
                mlp = Mlp(child.fc1.in_features, child.fc1.out_features, child.fc2.out_features)
                mlp.fc1, mlp.act, mlp.fc2, mlp.drop2 = child.fc1, child.act, child.fc2, child.drop
                setattr(parent, name, mlp)
            elif type(child) is tm_utils.GatedMlp:
                mlp = SwiGLU(child.fc1.in_features, child.fc1.out_features, child.fc2.out_features)
                mlp.fc1_g, mlp.fc1_x, mlp.act, mlp.fc2 = child.fc1, child.fc3, child.act, child.fc2
                setattr(parent, name, mlp)
            elif type(child) in (tm_utils.NormAttention, tm_utils.CrossAttention, tm_utils.NormCrossAttention):
                raise ConfigError(f"TerraMind with {type(child).__name__} layers is not supported for slimming")
    return model


FAMILIES: dict[str, Family] = {
    # torchgeo's DOFA loads with fc_norm absent (its MAE had none): a LayerNorm at its initial identity affine
    "dofa": Family(_dofa_build, _dofa_keys, _dofa_tokens, prefix_tokens=1, pooled_norm="dofa_model.fc_norm",
                   absent_ok=("dofa_model.fc_norm.weight", "dofa_model.fc_norm.bias")),
    "prithvi": Family(_prithvi_build, _prithvi_keys, _prithvi_tokens, prefix_tokens=1),
    "terramind": Family(_terramind_build, _terramind_keys, _terramind_tokens, prefix_tokens=0),
}  # fmt: skip


def family(entry: dict[str, Any], name: str = "") -> Family:
    key = entry.get("family")
    if key not in FAMILIES:
        raise ConfigError(f"encoder {name}: family must be one of {', '.join(FAMILIES)} for source terratorch, "
                          f"got {key!r}")  # fmt: skip
    return FAMILIES[key]


class Foundation(nn.Module):
    """A TerraTorch backbone as the sweep drives an encoder: ``forward_features`` gives the final-norm tokens
    (``num_prefix_tokens`` class tokens first), ``forward`` the pooled features (mean of the patch tokens, or the cls
    token where ``pool`` is ``cls``; DOFA norms after pooling, as it was trained)."""

    def __init__(self, family_name: str, backbone: nn.Module, pool: str = "mean") -> None:
        super().__init__()
        self.family_name, self.backbone, self.pool = family_name, backbone, pool
        self.num_prefix_tokens = FAMILIES[family_name].prefix_tokens
        self.num_features = int(backbone.out_channels[-1])  # every TerraTorch backbone lists its widths

    def _post_norm(self) -> nn.Module | None:
        name = FAMILIES[self.family_name].pooled_norm
        return self.backbone.get_submodule(name) if name else None

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return FAMILIES[self.family_name].tokens(self.backbone, images)

    def pool_features(self, images: torch.Tensor, pool: str) -> torch.Tensor:
        tokens = self.forward_features(images)
        if pool == "cls" and self.num_prefix_tokens == 0:
            raise ConfigError(f"{self.family_name} has no class token: use pool: mean")
        pooled = tokens[:, 0] if pool == "cls" else tokens[:, self.num_prefix_tokens :].mean(dim=1)
        norm = self._post_norm()
        return pooled if norm is None else norm(pooled)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool_features(images, self.pool)


def build(name: str, entry: dict[str, Any]) -> Foundation:
    """The entry's architecture on random weights (no file read)."""
    fam = family(entry, name)
    return Foundation(entry["family"], fam.build(entry), entry.get("pool", "mean"))


def load(name: str, entry: dict[str, Any], checkpoint: Any, path: Path) -> Foundation:
    """The entry's model with the weights of ``checkpoint`` (a file's contents, read without running code), loaded
    strictly after the family's key map."""
    from rsfm.slimming.encoders import _state_dict

    model = build(name, entry)
    fam = FAMILIES[entry["family"]]
    state = fam.key_map(_state_dict(checkpoint, entry.get("prefix"), strip=False), model.backbone, entry)
    hint = "check family, arch, img_size, depth, model_bands and prefix"
    try:
        result = model.backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:
        first = str(error).split("\n\tsize mismatch for ", 2)[1:2]
        raise DataError(f"encoder {name}: {path} does not fit {entry['arch']}: {first or error}; {hint}") from None
    missing = [k for k in result.missing_keys if k not in fam.absent_ok]
    if missing or result.unexpected_keys:
        raise DataError(f"encoder {name}: {path} does not fit {entry['arch']}: missing {missing[:6]}, unexpected "
                        f"{result.unexpected_keys[:6]}; {hint}")  # fmt: skip
    return model.eval()


__all__ = ["FAMILIES", "Family", "Foundation", "build", "family", "load", "to_timm_layers"]
