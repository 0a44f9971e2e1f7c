"""The mm config of one fine-tuning run, generated from the pipeline config and a readable base config per benchmark.

A run is (benchmark, encoder size, training fraction, seed). Its config starts from ``config/finetune/<benchmark>.py``
(plain mmrotate / mmsegmentation configs, readable and runnable on their own) and gets from the pipeline:

- the encoder: ``arch``, ``patch_size`` and the exported ``encoder.safetensors`` of the pretraining stage, read from
  the ``encoder.json`` beside it, and the widths of the neck and heads that follow from the encoder's width;
- the input size: every ``scale``/``crop_size``/``scale_factor`` of the pipelines, the preprocessor's size and the
  sliding window of ``model.test_cfg`` are multiplied by ``img_size / base img_size`` (so a base config at 1024 runs
  at 256 for the CPU default, with the same recipe);
- the schedule: iterations, validation interval (also the checkpoint interval), warm-up, lr, weight decay, layer-wise
  lr decay, drop path, batch size, loader workers, bf16 autocast on GPUs;
- the data: ``data_root`` of every dataset and evaluator, and the training set wrapped in :class:`FractionSubset`
  (fraction, seed), over the concatenation of ``train_splits`` where that is set (e.g. DOTA's train + val);
- ``options``: any other key of the mm config in dotted form (as ``--cfg-options`` of the toolboxes' tools).

The result is written as ``config.py`` next to the run, so ``tools/train.py config.py`` of mmrotate/mmseg reruns it.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rsfm.errors import ConfigError
from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.io import atomic_write
from rsfm.sizes import SIZES

SETTINGS = {  # pipeline setting -> meaning; every one optional, the base config's value otherwise
    "max_iters": "training iterations",
    "val_interval": "iterations between validations (and checkpoints)",
    "warmup_iters": "linear warm-up iterations",
    "lr": "peak learning rate (of the heads; blocks get lr x layer_decay^(depth + 1 - block))",
    "weight_decay": "AdamW weight decay",
    "layer_decay": "layer-wise lr decay rate",
    "drop_path": "stochastic depth rate of the last block",
    "batch_size": "training images per process",
    "img_size": "training input size (base pipelines are rescaled by img_size / their size)",
    "window_size": "attention window of the non-global blocks, in tokens",
    "with_cp": "activation checkpointing of the backbone blocks",
    "loader_workers": "data loader workers per process",
    "log_interval": "iterations between log lines",
    "train_splits": "splits the training set concatenates (e.g. [train, val]: DOTA's trainval for the test server)",
    "options": "other mm config keys in dotted form",
}
# launch keys (per_size may set them too)
RUN_KEYS = ("nodes", "tasks", "gpus_per_node", "processes_per_node", "cpus_per_task", "mem_mb", "runtime", "port")
_SCALE_KEYS = ("scale", "crop_size")


def _check_settings(settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"finetune: unknown settings {unknown}; known: {', '.join(SETTINGS)}")


def resolve_settings(finetune_cfg: dict[str, Any], benchmark: str, size: str) -> dict[str, Any]:
    """``schedule``, then ``per_benchmark.<benchmark>``, then ``per_size.<size>`` (later wins; options merge).

    Launch keys of ``per_size`` (nodes, GPUs, ...) are left out: :func:`rsfm.finetune.run.launch_settings` reads them.
    """
    layers = [
        finetune_cfg.get("schedule", {}),
        finetune_cfg.get("per_benchmark", {}).get(benchmark, {}),
        {k: v for k, v in finetune_cfg.get("per_size", {}).get(size, {}).items() if k not in RUN_KEYS},
    ]
    settings: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for layer in layers:
        _check_settings(layer)
        options.update(layer.get("options", {}))
        settings.update({k: v for k, v in layer.items() if k != "options"})
    settings["options"] = options
    return settings


# How a run's encoder starts: from the pretraining stage's weights, or randomly initialised (the baseline that shows
# what pretraining adds; a pretrained run that scores like it points at a broken weight transfer), or from the weights
# slimmed post hoc to a width (``slim<w>``, e.g. slim0.5: paper 2's uniform rule, then fine-tuned as usual), or from
# the size's run on a share of the pretraining images (``data<f>``, e.g. data0.1: pretrain.data_scaling).
INITS = ("pretrained", "scratch")
SLIM_INIT = "slim"
DATA_INIT = "data"
INIT_PATTERN = rf"pretrained|scratch|{SLIM_INIT}[0-9.]+|{DATA_INIT}[0-9.]+"  # the init wildcard


@dataclass(frozen=True)
class Init:
    """What an init name means: whether pretrained weights are loaded, the width they are slimmed to and the share
    of the pretraining images they were trained on."""

    name: str
    pretrained: bool
    width: float = 1.0
    data_fraction: float = 1.0


def _share(init: str, prefix: str) -> float:
    """The number after ``prefix`` if it lies in (0, 1), else 0."""
    try:
        value = float(init.removeprefix(prefix))
    except ValueError:
        return 0.0
    return value if 0 < value < 1 else 0.0


def parse_init(init: str) -> Init:
    """``pretrained``, ``scratch``, ``slim<w>`` or ``data<f>`` (0 < w, f < 1)."""
    if init in INITS:
        return Init(init, pretrained=init == "pretrained")
    if init.startswith(SLIM_INIT) and (width := _share(init, SLIM_INIT)):
        return Init(init, pretrained=True, width=width)
    if init.startswith(DATA_INIT) and (fraction := _share(init, DATA_INIT)):
        return Init(init, pretrained=True, data_fraction=fraction)
    raise ConfigError(
        f"unknown encoder init {init!r}; known: {', '.join(INITS)}, {SLIM_INIT}<w> or {DATA_INIT}<f> with 0 < w, f < 1"
    )


def data_init(fraction: float) -> str:
    """The init name of the encoder pretrained on a share of the images: ``data0.1``."""
    return parse_init(f"{DATA_INIT}{float(fraction):g}").name


def slim_init(width: float) -> str:
    """The init name of a post-hoc slimmed encoder: ``slim0.5``."""
    return parse_init(f"{SLIM_INIT}{float(width):g}").name


def read_arch_file(arch_file: str | Path) -> dict[str, Any]:
    """An ``encoder.json`` of the pretraining stage (model name, patch size, pretraining img size), checked."""
    arch_file = Path(arch_file)
    if not arch_file.is_file():
        raise ConfigError(f"{arch_file} is missing: the pretraining stage writes it next to encoder.safetensors")
    arch = json.loads(arch_file.read_text())
    if arch.get("model") not in SIZES:
        raise ConfigError(f"{arch_file}: unknown model {arch.get('model')!r}; known: {', '.join(SIZES)}")
    return arch


def read_encoder_arch(encoder: str | Path) -> dict[str, Any]:
    """``encoder.json`` beside an exported ``encoder.safetensors`` (model name, patch size, pretraining img size)."""
    encoder = Path(encoder)
    arch_file = encoder.with_name("encoder.json")
    if not encoder.is_file():
        raise ConfigError(f"pretrained encoder {encoder} is missing: run the pretraining stage for it first")
    return read_arch_file(arch_file)


def even_taps(depth: int, count: int = 4) -> tuple[int, ...]:
    """``count`` evenly spaced block indices ending with the last: depth 12 -> (2, 5, 8, 11)."""
    return tuple((i + 1) * depth // count - 1 for i in range(count))


def _walk(node: Any):  # every dict in a config tree
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _walk(value)


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, int | float):
        return max(1, round(value * factor))
    return type(value)(max(1, round(v * factor)) for v in value)


def _set_data_root(cfg: Any, data_root: str) -> None:
    keys = ("train_dataloader", "val_dataloader", "test_dataloader", "submission", "val_evaluator", "test_evaluator")
    for node in _walk([cfg.get(k) for k in keys]):  # evaluators too: SceneAPMetric reads the scenes' labels
        if "data_root" in node:
            node["data_root"] = data_root


def _rescale_inputs(cfg: Any, factor: float) -> None:
    """Multiply every pipeline scale / crop size / scale factor, the preprocessor's fixed size and the sliding window
    of slide inference by ``factor``."""
    loaders = [cfg.get(k) for k in ("train_dataloader", "val_dataloader", "test_dataloader", "submission")]
    for node in _walk(loaders):
        if "type" in node:
            for key in _SCALE_KEYS:
                if key in node:
                    node[key] = _scaled(node[key], factor)
            if node.get("scale_factor") is not None:  # a ratio, not pixels: not rounded
                node["scale_factor"] = node["scale_factor"] * factor
    preprocessor = cfg.model.get("data_preprocessor", {})
    if preprocessor.get("size") is not None:
        preprocessor["size"] = _scaled(preprocessor["size"], factor)
    test_cfg = cfg.model.get("test_cfg") or {}
    if test_cfg.get("mode") == "slide":
        test_cfg.update(crop_size=_scaled(test_cfg["crop_size"], factor), stride=_scaled(test_cfg["stride"], factor))


def build_config(
    benchmark: str,
    size: str,
    fraction: float,
    seed: int,
    *,
    encoder: str | Path,
    data_root: str | Path,
    work_dir: str | Path,
    settings: dict[str, Any],
    base_dir: str | Path = "config/finetune",
    gpus: int = 0,
    arch: dict[str, Any] | None = None,
    strict: bool = True,
    init: str = "pretrained",
) -> Any:
    """The mmengine ``Config`` of one run (see the module docstring); ``gpus`` > 0 turns on bf16 autocast. ``arch``:
    the encoder's ``encoder.json`` as it will be, instead of reading it beside ``encoder`` (to check a config before
    the encoder exists); ``strict=False`` builds despite contradicting settings (:func:`schedule_problems`).
    ``init``: one of :data:`INITS` or ``slim<w>`` (:func:`parse_init`); ``scratch`` builds the same architecture
    with timm's random initialisation and needs ``arch`` (the pretraining's ``encoder.json``), not the weights;
    ``slim<w>`` loads the weights and slims every attention head and MLP to width ``w`` (rsfm.models.slim)."""
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown fine-tuning benchmark {benchmark!r}; known: {', '.join(BENCHMARKS)}")
    start = parse_init(init)
    if init == "scratch" and arch is None:
        raise ConfigError("a scratch run needs the encoder's architecture (encoder.json), not its weights: pass arch")
    _check_settings(settings)
    base = Path(base_dir) / f"{benchmark}.py"
    if not base.is_file():
        raise ConfigError(f"base config {base} is missing (finetune.configs names the folder of <benchmark>.py)")
    arch = arch if arch is not None else read_encoder_arch(encoder)
    if arch["model"] != size:
        raise ConfigError(f"{encoder} holds a {arch['model']} encoder, not {size}")
    vit = SIZES[size]
    patch = int(arch["patch_size"])
    cfg = _base_config(str(base.resolve()), base.stat().st_mtime_ns)
    toolbox = BENCHMARKS[benchmark].toolbox

    backbone = cfg.model.backbone
    base_img = backbone["img_size"]
    if strict and (problems := schedule_problems(cfg, settings, patch)):
        raise ConfigError("; ".join(f"finetune {problem}" for problem in problems.values()))
    img_size = int(settings.get("img_size", base_img))
    weights = os.fspath(Path(encoder).resolve()) if start.pretrained else None
    backbone.update(arch=size, patch_size=patch, pretrained=weights, img_size=img_size)
    if start.width < 1:
        backbone["width"] = start.width
    for key, target in (("window_size", "window_size"), ("drop_path", "drop_path_rate"), ("with_cp", "with_cp")):
        if key in settings:
            backbone[target] = settings[key]
    if img_size != base_img:
        _rescale_inputs(cfg, img_size / base_img)

    if toolbox == "mmrotate":
        cfg.model.neck.update(in_channels=vit.embed_dim, patch_size=patch)
    else:
        backbone["out_indices"] = even_taps(vit.depth)
        # Feature2Pyramid turns the stride-`patch` taps into strides 4, 8, 16, 32
        cfg.model.neck.update(embed_dim=vit.embed_dim, rescales=[patch / s for s in (4, 8, 16, 32)])
        cfg.model.decode_head.in_channels = [vit.embed_dim] * 4
        if cfg.model.get("auxiliary_head"):
            cfg.model.auxiliary_head.in_channels = vit.embed_dim
        if gpus == 0:
            for head in ("decode_head", "auxiliary_head"):
                if cfg.model.get(head) and cfg.model[head].get("norm_cfg", {}).get("type") == "SyncBN":
                    cfg.model[head].norm_cfg = dict(type="BN", requires_grad=True)
            cfg.model.neck.norm_cfg = dict(type="BN", requires_grad=True)

    _set_data_root(cfg, os.fspath(data_root))
    train_set = cfg.train_dataloader.dataset
    if train_set.get("type") != "FractionSubset":
        raise ConfigError(f"{base}: train_dataloader.dataset must be a FractionSubset (the data-fraction sweep)")
    if settings.get("train_splits"):
        splits = list(settings["train_splits"])
        inner = train_set.dataset
        parts = [BENCHMARKS[benchmark].split_dataset(inner, split) for split in splits]
        # the fraction is drawn over the concatenation: 10% of trainval, not 10% of each split
        train_set.dataset = parts[0] if len(parts) == 1 else dict(type="ConcatDataset", datasets=parts)
    train_set.update(fraction=float(fraction), seed=int(seed))
    cfg.randomness = dict(seed=int(seed), deterministic=False)

    max_iters = int(settings.get("max_iters", cfg.train_cfg.max_iters))
    val_interval = int(settings.get("val_interval", min(cfg.train_cfg.val_interval, max_iters)))
    warmup = int(settings.get("warmup_iters", cfg.param_scheduler[0]["end"]))
    cfg.train_cfg.update(max_iters=max_iters, val_interval=val_interval)
    # mmengine's LinearLR reaches its end factor at step end - 1 and is not stepped after: end = warmup + 1 peaks at
    # iteration `warmup` (end = 1, as warmup_iters 0 or 1 used to give, held the lr at 1e-3 x peak for the whole run)
    warm_up = [dict(type="LinearLR", start_factor=1e-3, by_epoch=False, begin=0, end=warmup + 1)] if warmup else []
    cfg.param_scheduler = [
        *warm_up,
        dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=warmup, end=max_iters),
    ]
    optimizer = cfg.optim_wrapper.optimizer
    if "lr" in settings:
        optimizer.lr = float(settings["lr"])
    if "weight_decay" in settings:
        optimizer.weight_decay = float(settings["weight_decay"])
    if "layer_decay" in settings:
        cfg.optim_wrapper.paramwise_cfg.layer_decay_rate = float(settings["layer_decay"])
    if gpus:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.dtype = "bfloat16"
    cfg.default_hooks.checkpoint.interval = val_interval
    cfg.default_hooks.logger.interval = int(settings.get("log_interval", min(50, val_interval)))
    if "batch_size" in settings:
        cfg.train_dataloader.batch_size = int(settings["batch_size"])
    if "loader_workers" in settings:
        workers = int(settings["loader_workers"])
        for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
            cfg[key].update(num_workers=workers, persistent_workers=workers > 0)
        if cfg.get("submission"):
            cfg.submission.dataloader.update(num_workers=workers, persistent_workers=False)
    if gpus == 0:
        cfg.env_cfg.dist_cfg = dict(backend="gloo")
        # DDP over CPU processes: mmengine's default wrapper passes device_ids=[LOCAL_RANK], which CPU modules reject
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False)
    cfg.work_dir = os.fspath(work_dir)
    cfg.run = dict(benchmark=benchmark, size=size, init=init, fraction=float(fraction), seed=int(seed))
    if settings.get("options"):
        cfg.merge_from_dict(settings["options"])
    return cfg


def schedule_problems(base: Any, settings: dict[str, Any], patch: int) -> dict[str, str]:
    """Settings that contradict each other or the encoder, by setting name (the base config's values fill in)."""
    problems = {}
    img_size = int(settings.get("img_size", base.model.backbone["img_size"]))
    if img_size % patch:
        problems["img_size"] = f"img_size {img_size} is not a multiple of the encoder's patch size {patch}"
    max_iters = int(settings.get("max_iters", base.train_cfg.max_iters))
    warmup = int(settings.get("warmup_iters", base.param_scheduler[0]["end"]))
    if not 0 <= warmup < max_iters:
        problems["warmup_iters"] = f"warmup_iters {warmup} must be below max_iters {max_iters}"
    return problems


@lru_cache(maxsize=16)
def _parsed_base(path: str, mtime_ns: int) -> Any:
    from mmengine.config import Config

    return Config.fromfile(path, import_custom_modules=False)  # the Runner imports them; writing needs none


def _base_config(path: str, mtime_ns: int) -> Any:
    """A fresh copy of a base config, parsed once per process (checking every run's options builds each config)."""
    return copy.deepcopy(_parsed_base(path, mtime_ns))


def _option_problem(cfg: Any, key: str, value: Any) -> str | None:
    """Why ``key`` (dotted, as --cfg-options) does not name a key of ``cfg``, or None when it does. A new key of a
    component (a mapping with a ``type``) is a constructor argument its class checks when built; elsewhere the
    toolboxes ignore unknown keys silently, so they are refused here."""
    node, parts = cfg, key.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list | tuple):
            if not (part.isdigit() and int(part) < len(node)):
                return f"'{'.'.join(parts[:i])}' is a list of {len(node)} entries; '{part}' is not an index of it"
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                siblings = [str(k) for k in node]
                near = difflib.get_close_matches(part, siblings, n=1, cutoff=0.8 if "type" in node else 0.6)
                if i == len(parts) - 1 and "type" in node and not near:
                    return None
                hint = f"; did you mean '{'.'.join([*parts[:i], near[0]])}'?" if near else ""
                return f"the built config has no key '{where}'{hint}"
            node = node[part]
        else:
            return f"'{'.'.join(parts[:i])}' is a {type(node).__name__} value, not a mapping"
    if isinstance(value, dict) and isinstance(node, dict) and "type" not in value:  # merged key by key
        for sub, inner in value.items():
            if problem := _option_problem(cfg, f"{key}.{sub}", inner):
                return problem
    return None


def check_options(finetune_cfg: dict[str, Any], base_dir: str | Path, *, patch_size: int) -> Iterator[str]:
    """Problems of the fine-tuning settings, found by building the config of every (benchmark, size) before any
    encoder exists: settings that contradict each other, and ``options`` keys the built config lacks."""
    for benchmark in finetune_cfg.get("benchmarks", []):
        base = Path(base_dir) / f"{benchmark}.py"
        if benchmark not in BENCHMARKS or not base.is_file():
            yield f"config key 'finetune.configs': no base config {base} for {benchmark}"
            continue
        for size in finetune_cfg.get("sizes", []):
            if size not in SIZES:
                continue  # named by the size checks
            layers = {
                "finetune.schedule": finetune_cfg.get("schedule", {}),
                f"finetune.per_benchmark.{benchmark}": finetune_cfg.get("per_benchmark", {}).get(benchmark, {}),
                f"finetune.per_size.{size}": finetune_cfg.get("per_size", {}).get(size, {}),
            }
            settings = {**resolve_settings(finetune_cfg, benchmark, size), "options": {}}
            contradictions = schedule_problems(_base_config(str(base.resolve()), base.stat().st_mtime_ns), settings,
                                               patch_size)  # fmt: skip
            for name, problem in contradictions.items():
                where = next((w for w, layer in reversed(layers.items()) if name in layer), "finetune")
                yield f"config key '{where}.{name}': {problem}"
            try:
                cfg = build_config(
                    benchmark, size, 1.0, 0, encoder="encoder.safetensors", data_root="data", work_dir="work",
                    settings=settings, base_dir=base_dir, arch={"model": size, "patch_size": patch_size}, strict=False,
                ).to_dict()  # fmt: skip
            except ConfigError as error:
                yield f"config key 'finetune' ({benchmark}, {size}): {error}"
                continue
            for where, layer in layers.items():
                for key, value in layer.get("options", {}).items():
                    if problem := _option_problem(cfg, key, value):
                        yield f"config key '{where}.options.{key}': {problem} ({benchmark})"


def write_config(cfg: Any, path: str | Path) -> Path:
    """Dump ``cfg`` to ``path`` (atomically) as a plain config file the toolboxes' tools run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(cfg.pretty_text)
    return path


__all__ = [
    "INITS", "INIT_PATTERN", "RUN_KEYS", "SETTINGS", "Init", "build_config", "check_options", "data_init", "even_taps",
    "parse_init", "read_arch_file", "read_encoder_arch", "resolve_settings", "schedule_problems", "slim_init",
    "write_config",
]  # fmt: skip
