"""One fine-tuning run with the toolbox's own Runner: train, validate, keep the best and last checkpoints, score.

    python -m rsfm.finetune.train results/finetune/<benchmark>/<size>/<init>/f<fraction>_s<seed>/config.py [--launcher]

Run as one process, under torchrun (``--launcher pytorch``: one process per GPU, on one or several nodes) or under
srun (``--launcher slurm``). Checkpoints and the toolbox's logs go to the config's ``work_dir`` (``work/`` beside the
config, so the Runner's own copy of the config does not overwrite ours); a rerun resumes from the last checkpoint
there (``resume = True`` in the config). After training, the final model is scored on the config's test split and
``metrics.json`` is written next to the config: one row per metric, ``{benchmark, size, fraction, seed, split,
metric, value}``, plus the best checkpoint. Where the test split is the validation split (DOTA v2.0 and LoveDA keep
their test labels on the servers) and training ended with a validation of the final weights, that validation is the
score: the same model, loader and evaluator would only compute it again.

The Runner's own checkpoints hold numpy and mmengine objects (message hub, meta) that ``torch.load(weights_only=True)``
rejects (mmengine issue 1655, fixed after 0.10.7), so resuming needs ``weights_only=False``, which can run code from
the file. :func:`trust_local_checkpoints` replaces mmengine's local-file loader (a checkpoint-loader scheme, its
extension point) to allow that only for files under the run's own ``work_dir`` (symlinks and ``..`` resolved); every
other local file is loaded with ``weights_only=True`` (``.safetensors`` with safetensors).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook

from rsfm.errors import ConfigError, DataError
from rsfm.io import atomic_write


def written_by_run(path: str | Path, work_dir: str | Path) -> bool:
    """Whether ``path`` really lies under ``work_dir``: both fully resolved, so a symlink or ``..`` that leaves the
    folder does not count."""
    real, root = Path(path).expanduser().resolve(), Path(work_dir).expanduser().resolve()
    return real != root and real.is_relative_to(root)


def load_local_checkpoint(filename: str | Path, map_location: Any, work_dir: str | Path) -> Any:
    """Load a local checkpoint: with ``weights_only=False`` only if this run wrote it (under ``work_dir``)."""
    path = Path(filename).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{filename} can not be found.")
    real = path.resolve()  # load what was checked, not whatever the name points at later
    if real.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(real))
    if written_by_run(real, work_dir):
        return torch.load(real, map_location=map_location, weights_only=False)
    try:
        return torch.load(real, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"WeightsUnpickler error: (.*?)(\. |$)", str(error), re.MULTILINE)  # not torch's advice
        where = f"{path} (a link to {real})" if real != path.absolute() else str(path)
        raise DataError(
            f"refusing to load {where} with weights_only=False: it was not written by this run (it is not under the "
            f"run's work_dir {Path(work_dir).resolve()}), and unpickling it can run code; as weights only it fails "
            f"({found.group(1) if found else error}). Convert it to safetensors or to a plain state dict "
            "(torch.save(model.state_dict(), path)) and load that."
        ) from None


# mmengine's model-zoo schemes download and unpickle in full (torch.hub defaults to weights_only=False)
_ZOO_SCHEMES = ("pavi://", "modelzoo://", "torchvision://", "open-mmlab://", "openmmlab://", "mmcls://")


def load_url_checkpoint(url: str, map_location: Any) -> Any:
    """A checkpoint from an http(s) url, as weights only (torch.hub caches the download)."""
    try:
        return torch.hub.load_state_dict_from_url(url, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise DataError(
            f"refusing to load {url} with weights_only=False: unpickling a downloaded file can run code. Download "
            "it, convert it to safetensors or a plain state dict in a session you trust, and give its path."
        ) from error


def trust_local_checkpoints(work_dir: str | Path) -> None:
    """Make mmengine load local checkpoints (paths without a scheme) with :func:`load_local_checkpoint`, http(s)
    urls as weights only, and refuse its model-zoo schemes."""
    from mmengine.runner.checkpoint import CheckpointLoader

    root = Path(work_dir).expanduser().resolve()  # fixed now: a later chdir or edit of cfg.work_dir changes nothing

    def load_from_local(filename: str, map_location: Any) -> Any:
        return load_local_checkpoint(filename, map_location, root)

    def refuse_zoo(filename: str, map_location: Any) -> Any:
        raise DataError(
            f"{filename}: model-zoo checkpoints are not loaded here (mmengine would unpickle them in full); download "
            "the file, convert it to safetensors or a plain state dict, and give its path"
        )

    CheckpointLoader.register_scheme(prefixes="", loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=("http://", "https://"), loader=load_url_checkpoint, force=True)
    CheckpointLoader.register_scheme(prefixes=_ZOO_SCHEMES, loader=refuse_zoo, force=True)


def metric_rows(run: dict[str, Any], split: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Tidy rows: one per scalar metric (the toolbox's keys, e.g. ``dota/mAP``, ``mIoU``, ``IoU.building``)."""
    rows = []
    for name, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            rows.append({**run, "split": split, "metric": name, "value": float(value)})
    return rows


class FinalValidation(Hook):
    """Keeps the metrics of the latest validation and the iteration it ran at."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.iteration: int | None = None
        self.metrics: dict[str, Any] = {}

    def after_val_epoch(self, runner: Any, metrics: dict[str, Any] | None = None) -> None:
        self.iteration, self.metrics = runner.iter, dict(metrics or {})


def validation_is_test(cfg: Any) -> bool:
    """Whether the config tests on exactly what it validates on (same loader and evaluator)."""
    return cfg.get("test_dataloader") == cfg.get("val_dataloader") and cfg.get("test_evaluator") == cfg.get(
        "val_evaluator"
    )


def load_run_config(config_path: str | Path) -> Any:
    """The run's ``config.py`` as an mmengine ``Config`` whose text is not re-formatted by yapf: the Runner writes that
    text into its log, its work_dir and every checkpoint (7 times a run, ~1.2 s each), while ``config.py`` itself was
    formatted once when the workflow wrote it. (``Config.fromfile`` drops its ``format_python_code`` argument on the
    path a plain config takes, mmengine 0.10.7, so the flag is set by building the Config again.)"""
    from mmengine.config import Config

    loaded = Config.fromfile(str(config_path))
    return Config(loaded.to_dict(), cfg_text=loaded.text, filename=loaded.filename, format_python_code=False)


def best_checkpoint(work_dir: str | Path) -> str | None:
    found = sorted(Path(work_dir).glob("best_*.pth"))
    return found[-1].name if found else None


def run(config_path: str | Path, launcher: str = "none") -> dict[str, Any] | None:
    """Train and score one run; returns what ``metrics.json`` holds (on the main process; None on the others)."""
    from mmengine.dist import barrier, is_main_process
    from mmengine.runner import Runner

    config_path = Path(config_path)
    cfg = load_run_config(config_path)
    if not cfg.get("work_dir"):
        raise ConfigError(f"{config_path} sets no work_dir: the run's checkpoints and logs need one")
    trust_local_checkpoints(cfg.work_dir)
    cfg.launcher = launcher
    if launcher == "pytorch" and not torch.cuda.is_available() and not torch.distributed.is_initialized():
        # mmengine's pytorch launcher pins a CUDA device first; on CPU ranks the group is ours (gloo, torchrun's env)
        torch.distributed.init_process_group(backend="gloo")
    run_info = dict(cfg.get("run", {}))
    runner = Runner.from_cfg(cfg)
    final = FinalValidation()
    runner.register_hook(final)
    runner.train()
    if validation_is_test(cfg) and final.iteration == runner.iter:
        runner.logger.info(f"the validation at iteration {runner.iter} scored the final model on the test split")
        scores = final.metrics
    else:
        barrier()  # rank 0 writes the last checkpoint, which every rank's test() then resumes from
        scores = runner.test()
    if not is_main_process():
        return None
    test_split = _split_of(cfg.test_dataloader)
    if test_split in training_splits(cfg):
        test_split = f"{test_split}_seen"  # scored on images the model trained on: a check of the chain, not a result
    result = {
        "run": run_info,
        "iterations": int(cfg.train_cfg.max_iters),
        "best_checkpoint": best_checkpoint(cfg.work_dir),
        "rows": metric_rows(run_info, test_split, scores),
    }
    with atomic_write(config_path.with_name("metrics.json")) as handle:
        json.dump(result, handle, indent=2)
    return result


def _split_of(dataloader: dict[str, Any]) -> str:
    """The split a dataloader reads, from its image folder (``val/images/`` -> val, ``img_dir/test`` -> test)."""
    return _split_of_dataset(_innermost(dataloader["dataset"]))


def _innermost(dataset: dict[str, Any]) -> dict[str, Any]:
    """The dataset config inside its wrappers (FractionSubset, ...): a ConcatDataset or one split's dataset."""
    while "dataset" in dataset:
        dataset = dataset["dataset"]
    return dataset


def _split_of_dataset(dataset: dict[str, Any]) -> str:
    prefix = dataset.get("data_prefix", {}).get("img_path", "")
    parts = [p for p in prefix.replace("\\", "/").split("/") if p and p not in ("images", "img_dir")]
    return parts[-1] if parts else "test"


def training_splits(cfg: Any) -> list[str]:
    """The splits the training set reads (several under ``train_splits``: a ConcatDataset inside the FractionSubset)."""
    dataset = _innermost(cfg.train_dataloader["dataset"])
    parts = dataset.get("datasets", [dataset])
    return [_split_of_dataset(part) for part in parts]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fine-tune one (benchmark, size, fraction, seed) run")
    parser.add_argument("config", help="the run's config.py (written by the workflow)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    args = parser.parse_args(argv)
    if args.launcher == "none":
        os.environ.setdefault("LOCAL_RANK", "0")
    run(args.config, args.launcher)


if __name__ == "__main__":
    main()


__all__ = [
    "FinalValidation", "best_checkpoint", "load_local_checkpoint", "load_run_config", "metric_rows", "run",
    "training_splits", "trust_local_checkpoints", "validation_is_test", "written_by_run",
]  # fmt: skip
