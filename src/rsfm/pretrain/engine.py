"""Pretraining on DeepSpeed: one entry point for every size and objective, from one CPU process to many GPU nodes.

Run under torchrun (see rsfm.launch): ``python -m rsfm.pretrain.engine --config run.json``. The run config (a JSON
written by the workflow) names the model size, objective, batch sizes, optimiser and schedule, ZeRO stage, precision
and checkpointing; nothing in the loop depends on the size, the objective (rsfm.pretrain.objectives: each brings its
inputs, loss and hooks, see rsfm.models.objective) or the hardware.

- AdamW (torch's fused kernel), betas (0.9, 0.95), weight decay 0.05 except on norms, biases and embeddings;
  lr = base_lr x global_batch / 256, linear warm-up then cosine decay, per optimiser step.
- bf16 on GPU, fp32 on CPU; gradient accumulation = global_batch / (micro_batch x world size). Without ZeRO (stage
  0) bf16 is torch autocast over fp32 weights (DeepSpeed's ``torch_autocast``) with the fused AdamW stepping them
  directly: DeepSpeed's own stage-0 bf16 wrapper checks every gradient for overflow with a host sync per parameter
  and re-flattens all gradients each step, which cost 0.8x of a plain PyTorch loop on an H100. With ZeRO (1-3),
  DeepSpeed holds bf16 weights and partitions fp32 master weights and optimiser state.
- Checkpoints every ``checkpoint_every`` steps and at the end (DeepSpeed writes the tag folder, then points
  ``latest`` at it, so an interrupted save is never resumed from); a restarted run resumes from ``latest`` by itself
  and, because data order, augmentation and masks are functions of the step, continues exactly as if never stopped.
- Logs loss, lr, grad norm, images/s, data-wait fraction and (on GPU) MFU on rank 0 to log.csv and DVCLive
  (``dvclive/``), with a progress bar; both logs survive failures and a resumed run continues them; log.csv is
  copied to metrics.csv when the run completes.
- At the end the encoder is exported to safetensors with a JSON of its architecture.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rsfm.errors import ConfigError
from rsfm.models.attention import use_attention
from rsfm.models.fused import fuse_parallel_blocks
from rsfm.models.objective import Objective
from rsfm.models.vit import SIZES, create_encoder
from rsfm.pretrain.objectives import objective_row
from rsfm.pretrain.training_log import TrainingLog


@dataclass
class RunConfig:
    model: str
    shard_dir: str
    out_dir: str
    img_size: int = 224
    patch_size: int = 16
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    epochs: float = 400
    global_batch: int = 4096
    micro_batch: int = 64
    base_lr: float = 1.5e-4
    min_lr: float = 0.0
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 40
    zero_stage: int = 1
    precision: str = "auto"  # auto = bf16 on GPU, fp32 on CPU
    activation_checkpointing: bool = False
    # torch.compile (first steps slower): False; True or "blocks": each transformer block (fuses norms, GELU,
    # residuals; one graph serves every block); "model": MAE's whole forward as one graph (also masking, decoder
    # embedding and loss, no graph breaks between blocks)
    compile: bool | str = False
    # run each parallel block's K branches as one wide block (rsfm.models.fused): same parameters, fewer, larger
    # matrix products; no effect on 12x1 sizes beyond folding the norms
    fuse_parallel: bool = True
    # the one kernel for scaled dot-product attention (rsfm.models.attention): flash, efficient, cudnn or math;
    # None = torch's choice per call
    attention: str | None = None
    method: str = "mae"  # "mae" or "moco" (MoCo v3)
    moco: dict[str, Any] | None = None  # MoCo v3 settings over rsfm.models.moco.DEFAULTS
    # learned slimmable training (sandwich rule): {"smallest": 0.25, "random_widths": 2}; None = one width
    slimmable: dict[str, Any] | None = None
    # train on a nested share of the images (rsfm.data.subsets, seeded by ``seed``); ``budget``: "epochs" passes
    # ``epochs`` times over that share, "steps" takes as many optimiser steps as ``epochs`` over all the images
    data_fraction: float = 1.0
    budget: str = "epochs"
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    loader_workers: int = 8
    seed: int = 0
    peak_tflops: float | None = None  # accelerator's dense bf16 peak, for MFU
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, path: str | Path) -> RunConfig:
        data = json.loads(Path(path).read_text())
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{path}: unknown run settings {sorted(unknown)}")
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)


BUDGETS = ("epochs", "steps")


@dataclass(frozen=True)
class Schedule:
    """A run's length in optimiser steps, from its images and budget (``RunConfig.data_fraction``, ``budget``)."""

    total_steps: int
    warmup_steps: int
    steps_per_epoch: int  # of the images the run trains on

    @property
    def epochs(self) -> float:
        """Passes over the run's own images."""
        return self.total_steps / self.steps_per_epoch


def schedule(cfg: RunConfig, images: int, all_images: int) -> Schedule:
    """Steps of a run on ``images`` of the dataset's ``all_images``: ``cfg.epochs`` (and warm-up) epochs of the
    images it trains on, or, with ``budget: steps``, of all of them (equal optimiser steps at every data fraction)."""
    if cfg.budget not in BUDGETS:
        raise ConfigError(f"pretraining budget {cfg.budget!r} is not one of {', '.join(BUDGETS)}")
    steps_per_epoch = images // cfg.global_batch
    if steps_per_epoch == 0:
        raise ConfigError(f"{images} images are fewer than one global batch ({cfg.global_batch})")
    budget_epoch = all_images // cfg.global_batch if cfg.budget == "steps" else steps_per_epoch
    return Schedule(
        total_steps=max(1, math.ceil(cfg.epochs * budget_epoch)),
        warmup_steps=round(cfg.warmup_epochs * budget_epoch),
        steps_per_epoch=steps_per_epoch,
    )


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """lr multiplier: linear from 0 over ``warmup`` steps, then half a cosine down to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_model(cfg: RunConfig) -> Objective:
    """The run's objective (rsfm.pretrain.objectives) around a fresh encoder of ``cfg.model``, its parallel blocks
    fused and its blocks or whole forward compiled as ``cfg`` says."""
    if cfg.model not in SIZES:
        raise ConfigError(f"unknown model size {cfg.model!r}; known: {', '.join(SIZES)}")
    _, build = objective_row(cfg)
    scope = compile_scope(cfg)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    encoder = create_encoder(cfg.model, img_size=cfg.img_size, patch_size=cfg.patch_size)
    encoder.set_grad_checkpointing(cfg.activation_checkpointing)
    objective = build(cfg, encoder)
    if cfg.fuse_parallel and objective.fusable:
        fuse_parallel_blocks(objective)
    # In place (Module.compile), so the parameter names, hence checkpoints and the exported encoder, stay those of the
    # plain model.
    if scope == "model":
        objective.compile(dynamic=False)
    elif scope == "blocks":  # every encoder (and decoder) block has the same shapes: one graph serves them all
        for block in objective.compile_blocks():
            block.compile(dynamic=False)
    return objective


def compile_scope(cfg: RunConfig) -> str | None:
    """What ``cfg.compile`` compiles: None, "blocks" or "model"; a clear error for what cannot be compiled so."""
    if not (isinstance(cfg.compile, bool) or cfg.compile in ("blocks", "model")):
        raise ConfigError(f"compile: {cfg.compile!r} is not one of false, true (= blocks), blocks, model")
    scope = "blocks" if cfg.compile is True else cfg.compile or None
    objective, _ = objective_row(cfg)
    if scope in objective.compile_refusals:
        raise ConfigError(objective.compile_refusals[scope])
    if scope == "model" and cfg.activation_checkpointing:
        raise ConfigError("compile: model with activation checkpointing is untested: use compile: blocks with it")
    return scope


def export_encoder(
    objective: Objective, cfg: RunConfig, steps: int, out_dir: Path, images: int | None = None
) -> None:  # fmt: skip
    """encoder.safetensors (fp32) + encoder.json (architecture, and what it was trained on: ``images`` pretraining
    images), each written under a temporary name first."""
    from safetensors.torch import save_file

    size = SIZES[cfg.model]
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in objective.encoder.state_dict().items()}
    arch = {
        "model": cfg.model, "img_size": cfg.img_size, "patch_size": cfg.patch_size, "embed_dim": size.embed_dim,
        "depth": size.depth, "num_heads": size.num_heads, "num_parallel": size.num_parallel,
        "mlp_ratio": size.mlp_ratio, "class_token": True, "pos_embed": "sincos-2d (fixed)",
        "pretraining": {"method": cfg.method, "steps": steps, "epochs": cfg.epochs, "slimmable": cfg.slimmable,
                        "images": images, "data_fraction": cfg.data_fraction, "budget": cfg.budget,
                        **objective.recipe()},
    }  # fmt: skip
    tmp = out_dir / ".encoder.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt", "model": cfg.model})
    os.replace(tmp, out_dir / "encoder.safetensors")
    (out_dir / ".encoder.json.tmp").write_text(json.dumps(arch, indent=2))
    os.replace(out_dir / ".encoder.json.tmp", out_dir / "encoder.json")


def select_attention(cfg: RunConfig, model: torch.nn.Module, device: torch.device, bf16: bool) -> None:
    """Restrict this process's attention to ``cfg.attention`` (rsfm.models.attention), checked on the model's head
    sizes. Under bf16 (autocast or bf16 weights) attention sees bf16 inputs, else fp32."""
    from timm.models.vision_transformer import Attention

    head_dims = tuple(m.head_dim for m in model.modules() if isinstance(m, Attention))
    use_attention(cfg.attention, device, torch.bfloat16 if bf16 else torch.float32, head_dims)


def uses_autocast(cfg: RunConfig, bf16: bool) -> bool:
    """bf16 as torch autocast over fp32 weights (no ZeRO) rather than DeepSpeed's bf16 weights (ZeRO 1-3)."""
    return bf16 and cfg.zero_stage == 0


def build_engine(
    cfg: RunConfig, objective: Objective, total_steps: int, warmup_steps: int, accum: int, bf16: bool
) -> tuple[Any, torch.optim.lr_scheduler.LRScheduler]:
    """The DeepSpeed engine around ``objective``: fused AdamW over its parameter groups, scaled lr, warm-up + cosine,
    ZeRO."""
    import deepspeed

    lr = cfg.base_lr * cfg.global_batch / 256
    groups = objective.param_groups(cfg.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total_steps, warmup_steps, cfg.min_lr / lr if lr else 0.0)
    )
    ds_config = {
        "train_batch_size": cfg.global_batch,
        "train_micro_batch_size_per_gpu": cfg.micro_batch,
        "gradient_accumulation_steps": accum,
        "zero_optimization": {"stage": cfg.zero_stage},
        "bf16": {"enabled": bf16 and not uses_autocast(cfg, bf16)},
        "torch_autocast": {"enabled": uses_autocast(cfg, bf16), "dtype": "bfloat16"},
        "steps_per_print": 10**9,
        "zero_allow_untested_optimizer": True,
    }
    engine, _, _, _ = deepspeed.initialize(
        model=objective, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config,
        model_parameters=None, dist_init_required=False,
    )  # fmt: skip
    return engine, scheduler


def separate_extension_builds() -> None:
    """One build folder for DeepSpeed's JIT-built ops per environment path, torch version and ninja (each changes the
    build, so a shared folder was rebuilt under running jobs by every other); a TORCH_EXTENSIONS_DIR set wins."""
    import hashlib
    import importlib.util

    from torch.utils.cpp_extension import get_default_build_root

    if "TORCH_EXTENSIONS_DIR" not in os.environ:
        origin = str(importlib.util.find_spec("deepspeed").origin)
        ninja = shutil.which("ninja")  # the binary, whichever path reaches it (/bin and /usr/bin are one here)
        ninja = os.path.realpath(ninja) if ninja else ""
        key = hashlib.sha1(f"{origin} {torch.__version__} {ninja}".encode()).hexdigest()[:12]
        os.environ["TORCH_EXTENSIONS_DIR"] = os.path.join(get_default_build_root(), f"deepspeed-{key}")


def train(cfg: RunConfig) -> None:
    separate_extension_builds()
    import deepspeed
    import torch.distributed as dist

    from rsfm.pretrain.data import DeviceBatch, ShardImages, StepSampler

    cuda = torch.cuda.is_available()
    deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)

    if cfg.global_batch % (cfg.micro_batch * world):
        raise ConfigError(
            f"global batch {cfg.global_batch} is not a multiple of micro batch {cfg.micro_batch} x {world} ranks"
        )
    accum = cfg.global_batch // (cfg.micro_batch * world)
    objective = build_model(cfg)
    dataset = ShardImages(
        cfg.shard_dir, cfg.img_size, seed=cfg.seed, views=objective.views, scale=objective.crop_scale,
        fraction=cfg.data_fraction,
    )  # fmt: skip
    plan = schedule(cfg, len(dataset), dataset.all_images)
    total_steps, warmup_steps, steps_per_epoch = plan.total_steps, plan.warmup_steps, plan.steps_per_epoch

    select_attention(cfg, objective, device, bf16)
    engine, scheduler = build_engine(cfg, objective, total_steps, warmup_steps, accum, bf16)
    input_dtype = torch.bfloat16 if bf16 and not uses_autocast(cfg, bf16) else torch.float32
    objective.weights_held_in(input_dtype)

    out_dir, ckpt_dir = Path(cfg.out_dir), Path(cfg.out_dir) / "checkpoints"
    start_step = 0
    if (ckpt_dir / "latest").is_file():
        _, client = engine.load_checkpoint(str(ckpt_dir))
        start_step = int(client["step"])
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.micro_batch, num_workers=cfg.loader_workers, pin_memory=cuda,
        sampler=StepSampler(len(dataset), cfg.micro_batch, rank, world, cfg.seed, start_step * accum),
        persistent_workers=cfg.loader_workers > 0, prefetch_factor=4 if cfg.loader_workers else None,
    )  # fmt: skip
    batches = iter(loader)
    flops_per_image = objective.train_flops_per_image(cfg.img_size) if cuda and cfg.peak_tflops else None
    training_log = TrainingLog(out_dir, start_step, total_steps) if rank == 0 else None

    # DeepSpeed reports the gradient norm from its ZeRO and bf16 optimisers only; without them (stage 0) it is ours
    own_grad_norm, grad_norm = cfg.zero_stage == 0, None
    window_start, window_wait, window_images = time.perf_counter(), 0.0, 0
    for step in range(start_step, total_steps):
        objective.begin_step(step, total_steps)
        step_loss = torch.zeros((), device=device)
        for micro in range(accum):
            wait_start = time.perf_counter()
            pixels = next(batches).to(device, non_blocking=True)
            window_wait += time.perf_counter() - wait_start
            # whatever the objective draws (masks, views, widths) is a function of (seed, step, micro-batch, rank):
            # a resumed run draws the same
            generator = torch.Generator().manual_seed(hash((cfg.seed, step, micro, rank)) & 0x7FFFFFFF)
            loss, logged = objective.loss(engine, DeviceBatch(pixels, generator, input_dtype))
            engine.backward(loss)
            if own_grad_norm and micro == accum - 1:  # after the boundary's all-reduce, before the step clears them
                grads = [p.grad for p in objective.parameters() if p.grad is not None]
                grad_norm = torch.nn.utils.get_total_norm(grads)
            engine.step()
            step_loss += logged.float() / accum
            window_images += pixels.shape[0] * world
        dist.all_reduce(step_loss)
        if not own_grad_norm:
            grad_norm = engine.get_global_grad_norm()
        done = step + 1
        if done % cfg.log_every == 0 or done == total_steps:
            elapsed = time.perf_counter() - window_start
            rate = window_images / elapsed
            if training_log is not None:
                training_log.log({
                    "step": step, "epoch": f"{step / steps_per_epoch:.4f}", "loss": f"{step_loss.item() / world:.6f}",
                    "lr": f"{scheduler.get_last_lr()[0]:.6e}",
                    "grad_norm": "" if grad_norm is None else f"{float(grad_norm):.6f}",
                    "images_per_s": f"{rate:.2f}", "data_wait": f"{window_wait / elapsed:.4f}",
                    "mfu": "" if flops_per_image is None else
                    f"{rate * flops_per_image / (cfg.peak_tflops * 1e12 * world):.4f}",
                })  # fmt: skip
            window_start, window_wait, window_images = time.perf_counter(), 0.0, 0
        if training_log is not None:
            training_log.advance()
        if done % cfg.checkpoint_every == 0 or done == total_steps:
            engine.save_checkpoint(str(ckpt_dir), tag=f"step{done:08d}", client_state={"step": done})
            if rank == 0:
                _prune_checkpoints(ckpt_dir, cfg.keep_checkpoints)
    if training_log is not None:
        training_log.close()
    _export(engine, cfg, total_steps, out_dir, rank, len(dataset))
    if rank == 0:  # the finished log becomes metrics.csv; log.csv (kept across failures) is what resumes append to
        shutil.copyfile(out_dir / "log.csv", out_dir / ".metrics.csv.tmp")
        os.replace(out_dir / ".metrics.csv.tmp", out_dir / "metrics.csv")
    dist.barrier()


def _export(engine: Any, cfg: RunConfig, steps: int, out_dir: Path, rank: int, images: int) -> None:
    """Every rank joins (ZeRO-3 shards the parameters), rank 0 writes."""
    import deepspeed

    objective = engine.module
    with deepspeed.zero.GatheredParameters(list(objective.encoder.parameters()), enabled=cfg.zero_stage == 3):
        if rank == 0:
            export_encoder(objective, cfg, steps, out_dir, images)


def _prune_checkpoints(ckpt_dir: Path, keep: int) -> None:
    tags = sorted(p for p in ckpt_dir.glob("step*") if p.is_dir())
    for old in tags[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pretraining (run under torchrun; see rsfm.launch)")
    parser.add_argument("--config", required=True, help="run config JSON")
    args = parser.parse_args(argv)
    train(RunConfig.from_json(args.config))


if __name__ == "__main__":
    main()


__all__ = [
    "RunConfig",
    "build_engine",
    "build_model",
    "compile_scope",
    "main",
    "select_attention",
    "train",
    "uses_autocast",
]
