"""Layer-wise learning-rate decay for fine-tuning a ViT backbone (BEiT, Bao et al. 2022; MAE, He et al. 2022).

Blocks near the input get smaller learning rates than those near the output: with L backbone blocks, layer id 0 is
the backbone's patch embedding and position embedding, ``i + 1`` is ``backbone.blocks.i`` and ``L + 1`` is
everything else (the backbone's final norm, necks, heads), and a parameter's lr is
``base_lr * layer_decay_rate ** (L + 1 - layer id)``. Weight decay applies to matrices only: not to 1-D parameters
(norms, biases) nor to position embeddings and tokens.

Registered in mmengine's root ``OPTIM_WRAPPER_CONSTRUCTORS``, which the mmdet, mmrotate and mmseg registries inherit::

    custom_imports = dict(imports=["rsfm.finetune.optim"], allow_failed_imports=False)
    optim_wrapper = dict(
        optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
        constructor="LayerDecayOptimWrapperConstructor",
        paramwise_cfg=dict(layer_decay_rate=0.75),  # num_layers: inferred from model.backbone.blocks
    )

Parameter schedulers scale each group's lr proportionally (they record every group's initial lr), so the decay
survives warm-up and cosine schedules.
"""

from __future__ import annotations

from typing import Any

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

NO_DECAY_NAMES = ("pos_embed", "cls_token")
PARAMWISE_KEYS = ("layer_decay_rate", "num_layers")


def layer_id(name: str, num_layers: int) -> int:
    """Layer id of a parameter named as in ``model.named_parameters()`` (0 .. num_layers + 1)."""
    if name.startswith("backbone."):
        rest = name[len("backbone.") :]
        if rest.startswith(("patch_embed.", *NO_DECAY_NAMES)):
            return 0
        if rest.startswith("blocks."):
            return int(rest.split(".")[1]) + 1
    return num_layers + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per (layer id, decay / no decay), each with ``lr``, ``weight_decay``, ``lr_scale``,
    ``layer_id``, ``group_name`` (e.g. ``layer_3_no_decay``) and ``param_names`` (torch's own key for named
    parameters, kept in optimizer state dicts), ordered from the heads (layer id L + 1) to the embeddings (0).

    ``paramwise_cfg``: ``layer_decay_rate`` (required, in (0, 1]) and ``num_layers`` (optional; default
    ``len(model.backbone.blocks)``). The default constructor's other keys (custom_keys, bias_decay_mult, ...) are
    rejected rather than silently ignored.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        unknown = sorted(set(self.paramwise_cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f"LayerDecayOptimWrapperConstructor: unsupported paramwise_cfg keys {unknown}")
        rate = self.paramwise_cfg.get("layer_decay_rate")
        if rate is None or not 0 < float(rate) <= 1:
            raise ValueError(f"LayerDecayOptimWrapperConstructor: layer_decay_rate must be in (0, 1], got {rate}")
        if self.base_lr is None:
            raise ValueError("LayerDecayOptimWrapperConstructor: the optimizer config needs an lr")
        self.decay_rate = float(rate)

    def _num_layers(self, module: nn.Module) -> int:
        if self.paramwise_cfg.get("num_layers") is not None:
            return int(self.paramwise_cfg["num_layers"])
        blocks = getattr(getattr(module, "backbone", None), "blocks", None)
        if blocks is None:
            raise ValueError(
                "LayerDecayOptimWrapperConstructor: the model has no backbone.blocks; set paramwise_cfg.num_layers"
            )
        return len(blocks)

    def add_params(
        self, params: list[dict], module: nn.Module, prefix: str = "", is_dcn_module: int | float | None = None
    ) -> None:
        """Fill ``params`` with the layer-decay groups of all trainable parameters of ``module`` (the whole model)."""
        num_layers = self._num_layers(module)
        groups: dict[str, dict[str, Any]] = {}
        for name, param in module.named_parameters(prefix=prefix.rstrip(".")):
            if not param.requires_grad:
                continue
            lid = layer_id(name, num_layers)
            no_decay = param.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES
            group_name = f"layer_{lid}_{'no_decay' if no_decay else 'decay'}"
            if group_name not in groups:
                scale = self.decay_rate ** (num_layers + 1 - lid)
                groups[group_name] = {
                    "params": [], "param_names": [], "lr": self.base_lr * scale, "lr_scale": scale,
                    "layer_id": lid, "group_name": group_name,
                }  # fmt: skip
                if no_decay:
                    groups[group_name]["weight_decay"] = 0.0
                elif self.base_wd is not None:
                    groups[group_name]["weight_decay"] = self.base_wd
            groups[group_name]["params"].append(param)
            groups[group_name]["param_names"].append(name)
        if not groups:
            raise ValueError("LayerDecayOptimWrapperConstructor: the model has no trainable parameters")
        # heads first: mmengine logs the first group's lr as train/lr, which then reads as the scheduled base lr
        ordered = sorted(groups.values(), key=lambda g: (-g["layer_id"], g["group_name"]))
        params.extend(ordered)
        print_log(
            f"LayerDecayOptimWrapperConstructor: {len(ordered)} groups over {num_layers + 2} layer ids, rate "
            f"{self.decay_rate}: lr x1 (heads) .. x{ordered[-1]['lr_scale']:.3g} (embeddings)",
            logger="current",
        )
