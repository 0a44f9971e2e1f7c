"""What one pretraining step needs from its objective, so that the training loop (rsfm.pretrain.engine) names none.

An objective is the ``nn.Module`` the engine trains (its parameter names are the checkpoints', and under ``encoder.``
the exported encoder's) with the hooks of a step: the model inputs it makes of a micro-batch, the loss to
backpropagate and the one to log, what runs once per optimiser step (MoCo's moving average), its parameter groups,
and what the data side must hand it (crops per image, their scale). MAE, MoCo v3 and their slimmable variants
implement it beside their models; :mod:`rsfm.pretrain.objectives` picks one for a run config.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

NO_DECAY_NAMES = ("pos_embed", "cls_token", "mask_token", "decoder_pos_embed")


class Batch(Protocol):
    """One micro-batch as the data side hands it to an objective, made ready when asked for. Random draws come from
    ``generator`` (seeded by seed, step, micro-batch and rank), so a resumed run draws what an uninterrupted one
    did, as long as an objective asks for things in the same order."""

    generator: torch.Generator

    def images(self) -> torch.Tensor:
        """The images (N, 3, H, W), normalised, on the device, in the model's input precision."""
        ...

    def views(self) -> list[torch.Tensor]:
        """Each of the loader's ``Objective.views`` crops per image, augmented by its view's policy, normalised."""
        ...


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on norms, biases, position embeddings or tokens (as MAE does)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def meta_flops(model: nn.Module, img_size: int, run: Callable[[Any, torch.Tensor], Any] | None = None) -> float:
    """FLOPs of ``run(copy, image)`` (default: ``copy(image)``) for one image, on a meta-device copy of ``model`` in
    eval mode (BatchNorm takes a batch of one)."""
    meta = copy.deepcopy(model).to("meta").eval()
    image = torch.empty(1, 3, img_size, img_size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        if run is None:
            meta(image)
        else:
            run(meta, image)
    return float(counter.get_total_flops())


class Objective(nn.Module, metaclass=abc.ABCMeta):
    """A pretraining objective: subclasses give ``encoder`` (the module exported), ``crop_scale``, ``inputs``,
    ``train_flops_per_image`` and ``recipe``; the other hooks have defaults."""

    encoder: nn.Module
    views: int = 1  # crops per image the loader makes
    crop_scale: tuple[float, float]  # the random resized crop's range of image area
    # compile scopes (rsfm.pretrain.engine.compile_scope) it cannot take, each with the reason
    compile_refusals: ClassVar[dict[str, str]] = {}
    fusable: ClassVar[bool] = True  # its parallel blocks may run as wide fused blocks (rsfm.models.fused)

    @abc.abstractmethod
    def inputs(self, batch: Batch) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of ``forward`` for ``batch``."""

    def loss(self, forward: Callable[..., Any], batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to backpropagate, detached loss to log) of ``batch``; ``forward`` is this module's forward as the
        engine runs it (precision, ZeRO). Default: the first output of the forward, both times."""
        args, kwargs = self.inputs(batch)
        loss = forward(*args, **kwargs)[0]
        return loss, loss.detach()

    def begin_step(self, step: int, total: int) -> None:
        """Runs once per optimiser step of ``total``, before its first micro-batch."""

    def weights_held_in(self, dtype: torch.dtype) -> None:
        """The engine holds the trained weights in ``dtype`` from now on (bf16 under DeepSpeed's ZeRO)."""

    def param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        return param_groups(self, weight_decay)

    def compile_blocks(self) -> list[nn.Module]:
        """The blocks ``compile: blocks`` compiles one by one (each shape once)."""
        return list(self.encoder.blocks)

    @abc.abstractmethod
    def train_flops_per_image(self, img_size: int) -> float:
        """Forward + backward FLOPs of one training image (for MFU)."""

    @abc.abstractmethod
    def recipe(self) -> dict[str, Any]:
        """The objective's settings as encoder.json records them under ``pretraining``."""


__all__ = ["NO_DECAY_NAMES", "Batch", "Objective", "meta_flops", "param_groups"]
