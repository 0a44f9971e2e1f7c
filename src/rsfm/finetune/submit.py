"""Test-set predictions in the evaluation server's format for the benchmarks whose test labels are withheld.

    python -m rsfm.finetune.submit results/finetune/dota_v2/<size>/pretrained/f1_s0/config.py submission.zip

Uses the run's ``submission`` section (its test dataloader) and its final checkpoint, and writes the format of the
benchmark's server (``server`` in :mod:`rsfm.finetune.benchmarks`, written by :mod:`rsfm.finetune.export`):

- ``dota_task1`` (DOTA v2.0): the test windows' detections merged back to full scenes (rotated NMS across overlapping
  windows) as ``Task1_<class>.txt`` files, zipped flat (:class:`RateAwareDOTAMetric`, ``merge_patches=True``);
- ``loveda_png`` (LoveDA): one 0-6 PNG per test image, zipped flat (:class:`LoveDASubmission`).

The zip appears at its final path only when complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rsfm.errors import ConfigError
from rsfm.finetune.benchmarks import BENCHMARKS

TRAINING_KEYS = ("train_dataloader", "train_cfg", "optim_wrapper", "param_scheduler", "val_dataloader", "val_cfg",
                 "val_evaluator")  # fmt: skip


def submission_evaluator(benchmark: str, scratch: Path) -> dict[str, Any]:
    """The test evaluator writing ``benchmark``'s server format (rsfm.finetune.benchmarks) under ``scratch``."""
    from rsfm.finetune.export import server_evaluator

    server = BENCHMARKS[benchmark].server if benchmark in BENCHMARKS else None
    if server is None:
        raise ConfigError(
            f"{benchmark} has no evaluation server with withheld labels: its test split is scored locally"
        )
    return server_evaluator(server, scratch)


def submit(config_path: str | Path, zip_path: str | Path, launcher: str = "none") -> Path:
    """Predict the run's submission split with its last checkpoint and write the server's zip to ``zip_path``."""
    from mmengine.dist import is_main_process
    from mmengine.runner import Runner

    from rsfm.finetune.train import load_run_config, trust_local_checkpoints

    config_path, zip_path = Path(config_path), Path(zip_path).resolve()
    cfg = load_run_config(config_path)
    trust_local_checkpoints(cfg.work_dir)  # the training run's folder: its checkpoint, not the scratch work_dir below
    benchmark = cfg.get("run", {}).get("benchmark")
    if not cfg.get("submission"):
        raise ConfigError(f"{config_path} has no `submission` section: {benchmark} has no test-server export")
    last = Path(cfg.work_dir) / "last_checkpoint"
    if not last.is_file():
        raise ConfigError(f"{cfg.work_dir} has no finished training (no last_checkpoint): run rule finetune first")
    checkpoint = last.read_text().strip()
    scratch = Path(tempfile.mkdtemp(prefix=".submission-", dir=zip_path.parent))
    try:
        cfg.test_dataloader = cfg.submission.dataloader
        cfg.test_evaluator = submission_evaluator(benchmark, scratch)
        for key in ("submission", *TRAINING_KEYS):  # a test-only Runner
            cfg.pop(key, None)
        cfg.load_from, cfg.resume, cfg.launcher = checkpoint, False, launcher
        cfg.work_dir = str(scratch / "work")
        Runner.from_cfg(cfg).test()
        if is_main_process():
            produced = sorted(scratch.rglob("*.zip"))
            if len(produced) != 1:
                raise RuntimeError(f"expected one submission zip in {scratch}, found {[str(p) for p in produced]}")
            os.replace(produced[0], zip_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return zip_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the test-server submission of a fine-tuned run")
    parser.add_argument("config", help="the run's config.py")
    parser.add_argument("zip", help="where to write the submission zip")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    args = parser.parse_args(argv)
    submit(args.config, args.zip, args.launcher)


if __name__ == "__main__":
    main()


__all__ = ["submit"]
