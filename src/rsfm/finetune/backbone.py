"""ViTDet-style backbone and simple feature pyramid for the parallel-scaled encoders, for mmrotate and mmsegmentation.

:class:`ParallelViTDet` adapts a pretrained plain encoder (``rsfm.models.vit``; timm ``VisionTransformer`` with
``ParallelThingsBlock``) to dense prediction the way ViTDet does (Li et al. 2022, "Exploring Plain Vision Transformer
Backbones for Object Detection"): no class token, the absolute position embedding resampled to the fine-tuning grid,
and non-overlapping window attention in all blocks except a few evenly spaced global ones (4 of 12). The modules are
timm's own, taken from :func:`rsfm.models.vit.create_encoder`, so the exported ``encoder.safetensors`` loads key for
key. In a window block every parallel attention branch attends within windows of ``window_size`` x ``window_size``
tokens; the MLP branches run per token as usual. A grid that is not a multiple of the window is padded at the
bottom/right and cropped back; the padded tokens are masked out as keys (ViTDet lets them take part as zero tokens),
so a token's output does not depend on how much padding its window received.

:class:`SimpleFeaturePyramid` is ViTDet's neck: from the last map (stride = patch size) it builds maps at strides
4, 8, 16, 32 by stride-2 transposed convolutions (up), identity, or 2x2 max pooling (down), each followed by a 1x1 and
a 3x3 convolution with LayerNorm. For segmentation, use the backbone with several ``out_indices`` and mmseg's
``Feature2Pyramid`` instead.

Both classes are registered in the ``MODELS`` registries of mmdet, mmrotate and mmseg at import; configs load them
with ``custom_imports = dict(imports=["rsfm.finetune.backbone"], allow_failed_imports=False)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from timm.layers import LayerNorm2d, resample_abs_pos_embed
from torch import nn
from torch.utils.checkpoint import checkpoint

from rsfm.errors import ConfigError, DataError
from rsfm.models.vit import SIZES, create_encoder

CLASS_ROW = "pos_embed[:, 0]"  # the load report's name for the class token's row of the position embedding


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    h, w = value
    return int(h), int(w)


def default_global_attn_indexes(depth: int, count: int = 4) -> tuple[int, ...]:
    """``count`` evenly spaced blocks ending with the last one: depth 12 -> (2, 5, 8, 11), as in ViTDet."""
    return tuple(sorted({(i + 1) * depth // count - 1 for i in range(count)}))


def _partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` -> (B * windows, window * window, C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def _unpartition(windows: torch.Tensor, window: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_partition`."""
    c = windows.shape[-1]
    x = windows.view(b, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


class ParallelViTDet(BaseModule):
    """A pretrained parallel-scaled ViT as a plain-backbone detector/segmenter encoder (ViTDet recipe).

    Args:
        arch: a size of :data:`rsfm.models.vit.SIZES` (e.g. ``"vit_l12x4"``).
        img_size: fine-tuning input size (int or (h, w)); sets the position-embedding grid. Other input sizes work
            too (the embedding is resampled on the fly), e.g. for whole-image inference.
        patch_size: must equal the pretraining patch size.
        in_channels: input channels.
        pretrained: an exported ``encoder.safetensors``; if ``encoder.json`` sits beside it, its ``model`` and
            ``patch_size`` must agree with ``arch`` and ``patch_size``. Every tensor of the file is loaded or dropped
            by name (``cls_token`` and the class row of ``pos_embed``); anything else missing or extra is an error.
            The result is in ``self.load_report``.
        window_size: side of the attention windows in tokens (ViTDet: 14).
        global_attn_indexes: blocks with global attention; default 4 evenly spaced ones ending with the last.
        drop_path_rate: stochastic depth, rising linearly over the blocks to this rate.
        out_indices: blocks whose outputs are returned; must include the last block (later blocks would be unused
            parameters, which DDP rejects).
        final_norm: apply the encoder's final LayerNorm to the last block's output. Without it the norm is not kept
            (its pretrained weights are reported as dropped).
        with_cp: activation checkpointing per block while training (memory for compute).
        width: below 1, the loaded encoder is slimmed post hoc before fine-tuning (paper 2's uniform rule,
            :func:`rsfm.models.slim.slim_model`: every head and MLP keeps its first ``width`` share); the slimmed
            shapes are the model's, so its checkpoints resume and test as any other. Needs ``pretrained``.
        init_cfg: mmengine init config; only when ``pretrained`` is not given.
    """

    def __init__(
        self,
        arch: str,
        img_size: int | Sequence[int],
        patch_size: int = 16,
        in_channels: int = 3,
        pretrained: str | None = None,
        window_size: int = 14,
        global_attn_indexes: Sequence[int] | None = None,
        drop_path_rate: float = 0.1,
        out_indices: Sequence[int] | None = None,
        final_norm: bool = True,
        with_cp: bool = False,
        width: float = 1.0,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in SIZES:
            raise ConfigError(f"ParallelViTDet: unknown arch {arch!r}; known: {', '.join(SIZES)}")
        if pretrained and init_cfg:
            raise ConfigError("ParallelViTDet: give either pretrained (an exported encoder) or init_cfg, not both")
        size = SIZES[arch]
        self.arch, self.depth, self.embed_dim = arch, size.depth, size.embed_dim
        self.img_size = _pair(img_size)
        self.patch_size = int(patch_size)
        if self.img_size[0] % self.patch_size or self.img_size[1] % self.patch_size:
            raise ConfigError(f"ParallelViTDet: img_size {self.img_size} is not a multiple of patch {patch_size}")
        self.grid_size = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        if window_size < 1:
            raise ConfigError(f"ParallelViTDet: window_size must be positive, got {window_size}")
        self.window_size = int(window_size)

        def block_index(i: int, what: str) -> int:
            j = i + self.depth if i < 0 else i
            if not 0 <= j < self.depth:
                raise ConfigError(f"ParallelViTDet: {what} {i} out of range for {self.depth} blocks")
            return j

        if global_attn_indexes is None:
            global_attn_indexes = default_global_attn_indexes(self.depth)
        self.global_attn_indexes = tuple(sorted({block_index(i, "global block") for i in global_attn_indexes}))
        out_indices = (self.depth - 1,) if out_indices is None else out_indices
        self.out_indices = tuple(sorted({block_index(i, "out index") for i in out_indices}))
        if self.out_indices[-1] != self.depth - 1:
            raise ConfigError(
                f"ParallelViTDet: out_indices {tuple(out_indices)} must include the last block ({self.depth - 1}); "
                "blocks after the last returned one would be unused parameters (DDP fails on those)"
            )
        self.final_norm = final_norm
        self.with_cp = with_cp

        # timm builds the modules; without a class token its pos_embed is exactly the (1, grid h * grid w, D) table.
        # Weights that the pretrained file overwrites anyway need no init (matters for the billion-scale sizes).
        encoder = create_encoder(
            arch, img_size=self.img_size, patch_size=self.patch_size, in_chans=in_channels,
            drop_path_rate=drop_path_rate, class_token=False, global_pool="", dynamic_img_size=True,
            weight_init="skip" if pretrained else "",
        )  # fmt: skip
        self.patch_embed = encoder.patch_embed  # dynamic_img_size: NHWC output, any input size
        self.pos_embed = encoder.pos_embed
        self.blocks = encoder.blocks
        self.norm = encoder.norm if final_norm else None

        self.load_report: dict[str, Any] = {}
        if not 0 < width <= 1:
            raise ConfigError(f"ParallelViTDet: width must be in (0, 1], got {width}")
        if width < 1 and not pretrained:
            raise ConfigError("ParallelViTDet: width < 1 slims a pretrained encoder post hoc; give pretrained")
        self.width = float(width)
        if pretrained:
            self._load_pretrained(Path(pretrained))
            self._is_init = True  # mmengine's init_weights must not touch loaded weights
        if self.width < 1:
            from rsfm.models.slim import slim_model, width_report

            self.blocks = slim_model(self.blocks, self.width)  # the sliced weights, trainable like the rest
            self.load_report["slimmed"] = {"width": self.width, **width_report(self.blocks)}
            print_log(f"ParallelViTDet({self.arch}): slimmed to width {self.width:g}: "
                      f"{self.load_report['slimmed']}", logger="current")  # fmt: skip

    # ------------------------------------------------------------------ loading
    def _load_pretrained(self, path: Path) -> None:
        from safetensors.torch import load_file

        if not path.is_file():
            raise DataError(f"ParallelViTDet: pretrained encoder {path} does not exist")
        arch_file = path.with_name("encoder.json")
        arch: dict[str, Any] = json.loads(arch_file.read_text()) if arch_file.is_file() else {}
        for key, want in (("model", self.arch), ("patch_size", self.patch_size)):
            if key in arch and arch[key] != want:
                raise ConfigError(
                    f"ParallelViTDet: {arch_file} says {key}={arch[key]!r} but the backbone is configured with "
                    f"{key}={want!r}; set arch/patch_size to those of the pretrained encoder"
                )
        state = load_file(str(path))
        converted: dict[str, torch.Tensor] = {}
        dropped: dict[str, str] = {}
        resampled: dict[str, Any] = {}
        for key, tensor in state.items():
            if key == "cls_token":
                dropped[key] = "ViTDet backbones have no class token"
            elif key == "pos_embed":
                prefix = 1 if arch.get("class_token", True) else 0
                old = self._pretrain_grid(tensor.shape[1] - prefix, arch)
                if prefix:
                    dropped[CLASS_ROW] = "class token's position (no class token)"
                converted[key] = resample_abs_pos_embed(
                    tensor[:, prefix:], new_size=list(self.grid_size), old_size=list(old), num_prefix_tokens=0
                )
                resampled[key] = {"from": old, "to": self.grid_size}
            elif key.startswith("norm.") and self.norm is None:
                dropped[key] = "final_norm=False: the final LayerNorm is not used"
            else:
                converted[key] = tensor

        own = self.state_dict()
        missing = sorted(set(own) - set(converted))
        unexpected = sorted(set(converted) - set(own))
        wrong_shape = [
            f"{k} {tuple(converted[k].shape)} vs {tuple(own[k].shape)}"
            for k in sorted(set(own) & set(converted))
            if converted[k].shape != own[k].shape
        ]
        problems = []
        if missing:
            problems.append(f"missing from the file: {', '.join(missing)}")
        if unexpected:
            problems.append(f"in the file but not in the backbone: {', '.join(unexpected)}")
        if wrong_shape:
            problems.append(f"shape mismatch (file vs backbone): {'; '.join(wrong_shape)}")
        if problems:
            raise DataError(f"ParallelViTDet: {path} does not fit {self.arch}: " + "; ".join(problems))
        self.load_state_dict(converted, strict=True)
        self.load_report = {
            "file": str(path), "loaded": sorted(converted), "dropped": dropped, "resampled": resampled,
        }  # fmt: skip
        print_log(
            f"ParallelViTDet({self.arch}): loaded {len(converted)} of {len(state)} tensors from {path}; dropped "
            + ", ".join(f"{k} ({why})" for k, why in dropped.items())
            + f"; pos_embed resampled {resampled['pos_embed']['from']} -> {self.grid_size}",
            logger="current",
        )

    @staticmethod
    def _pretrain_grid(tokens: int, arch: dict[str, Any]) -> tuple[int, int]:
        if "img_size" in arch and "patch_size" in arch:
            grid = _pair(arch["img_size"])
            grid = (grid[0] // arch["patch_size"], grid[1] // arch["patch_size"])
            if grid[0] * grid[1] == tokens:
                return grid
        side = math.isqrt(tokens)
        if side * side != tokens:
            raise DataError(f"ParallelViTDet: pos_embed has {tokens} grid positions, not a square grid")
        return side, side

    # ------------------------------------------------------------------ forward
    def _window_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """ParallelThingsBlock with every attention branch restricted to windows; x is (B, H, W, C)."""
        b, h, w, _ = x.shape
        ws = self.window_size
        pad_h, pad_w = -h % ws, -w % ws
        hp, wp = h + pad_h, w + pad_w
        mask = None
        if pad_h or pad_w:
            valid = torch.zeros(hp, wp, dtype=torch.bool, device=x.device)
            valid[:h, :w] = True
            # (B * windows, 1, 1, ws * ws): padded tokens are never attended to
            mask = _partition(valid.view(1, hp, wp, 1), ws).view(-1, 1, 1, ws * ws).repeat(b, 1, 1, 1)
        attn_sum = 0
        for branch in block.attns:
            y = F.pad(branch.norm(x), (0, 0, 0, pad_w, 0, pad_h))
            y = branch.attn(_partition(y, ws), attn_mask=mask)
            y = _unpartition(y, ws, b, hp, wp)[:, :h, :w]
            attn_sum = attn_sum + branch.drop_path(branch.ls(y))
        x = x + attn_sum
        return x + sum(ffn(x) for ffn in block.ffns)

    def _run_block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        block = self.blocks[index]
        if index in self.global_attn_indexes:
            b, h, w, c = x.shape
            return block(x.reshape(b, h * w, c)).view(b, h, w, c)
        return self._window_block(block, x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, C, H, W) -> one (N, embed_dim, H / patch, W / patch) map per out index."""
        x = self.patch_embed(x)  # (N, h, w, D)
        h, w = x.shape[1:3]
        pos = self.pos_embed
        if (h, w) != self.grid_size:
            pos = resample_abs_pos_embed(pos, new_size=[h, w], old_size=list(self.grid_size), num_prefix_tokens=0)
        x = x + pos.reshape(1, h, w, -1)
        outs = []
        for i in range(self.depth):
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint(self._run_block, i, x, use_reentrant=False)
            else:
                x = self._run_block(i, x)
            if i in self.out_indices:
                y = self.norm(x) if i == self.depth - 1 and self.norm is not None else x
                outs.append(y.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)


def _log2_ratio(big: int, small: int, what: str) -> int:
    ratio = big // small
    if big % small or ratio & (ratio - 1):
        raise ConfigError(f"SimpleFeaturePyramid: {what} {big} / {small} is not a power of 2")
    return ratio.bit_length() - 1


class SimpleFeaturePyramid(BaseModule):
    """ViTDet's simple feature pyramid: multi-scale maps from a plain backbone's last map.

    For each target stride t the map at stride ``patch_size`` p is resampled by p / t: ``log2(p / t)`` stride-2
    ``ConvTranspose2d`` (halving the channels each time, LayerNorm2d + GELU between two), identity, or ``log2(t / p)``
    ``MaxPool2d(2)``; then a bias-free 1x1 conv to ``out_channels`` + LayerNorm2d and a bias-free 3x3 conv +
    LayerNorm2d. So p = 16 gives deconv x2, deconv, identity, pool; p = 8 gives deconv, identity, pool, pool x2.

    ``num_outs`` > ``len(strides)`` appends levels made by stride-2 max pooling (kernel 1) of the last one, as mmdet's
    ``FPN`` (and ViTDet's ``LastLevelMaxPool``) does: the standard Oriented R-CNN config has an RPN with anchor
    strides [4, 8, 16, 32, 64], i.e. ``num_outs=5``, and RoI extractors on the first four ([4, 8, 16, 32]).

    Args:
        in_channels: the backbone's embed_dim.
        out_channels: channels of every output map (256).
        patch_size: the backbone's stride.
        strides: output strides, ascending.
        num_outs: number of outputs (default ``len(strides)``).
        init_cfg: default Kaiming normal (fan out) on the convolutions, as ViTDet's ``c2_msra_fill``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        patch_size: int = 16,
        strides: Sequence[int] = (4, 8, 16, 32),
        num_outs: int | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if init_cfg is None:
            init_cfg = dict(type="Kaiming", layer="Conv2d", mode="fan_out", nonlinearity="relu", distribution="normal")
        super().__init__(init_cfg=init_cfg)
        self.strides = tuple(int(s) for s in strides)
        if list(self.strides) != sorted(set(self.strides)):
            raise ConfigError(f"SimpleFeaturePyramid: strides {self.strides} must be ascending and distinct")
        self.num_outs = len(self.strides) if num_outs is None else int(num_outs)
        if self.num_outs < len(self.strides):
            raise ConfigError(f"SimpleFeaturePyramid: num_outs {num_outs} < {len(self.strides)} strides")
        self.stages = nn.ModuleList()
        for stride in self.strides:
            layers: list[nn.Module] = []
            channels = in_channels
            if stride < patch_size:
                for k in range(_log2_ratio(patch_size, stride, "upsampling")):
                    if k:
                        layers += [LayerNorm2d(channels), nn.GELU()]
                    layers.append(nn.ConvTranspose2d(channels, channels // 2, kernel_size=2, stride=2))
                    channels //= 2
            elif stride > patch_size:
                layers += [nn.MaxPool2d(2) for _ in range(_log2_ratio(stride, patch_size, "downsampling"))]
            layers += [
                nn.Conv2d(channels, out_channels, kernel_size=1, bias=False),
                LayerNorm2d(out_channels),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                LayerNorm2d(out_channels),
            ]
            self.stages.append(nn.Sequential(*layers))

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``inputs``: the backbone's outputs; only the last map is used."""
        x = inputs[-1]
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)


def _register() -> None:
    """The same classes in mmdet's, mmrotate's and mmseg's MODELS (force=True: re-import replaces, not fails)."""
    import importlib

    for package in ("mmdet", "mmrotate", "mmseg"):
        try:
            registry = importlib.import_module(f"{package}.registry").MODELS
        except ModuleNotFoundError as err:  # a stack without that toolbox (e.g. segmentation only)
            if err.name != package:
                raise
            continue
        for cls in (ParallelViTDet, SimpleFeaturePyramid):
            registry.register_module(module=cls, force=True)


_register()
