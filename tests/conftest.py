"""Shared test helpers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Test this checkout's package, in this process and in the Snakemake / torchrun processes the tests start, whatever
# clone the shared environment's editable install points at.
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))


def validate_default(config: dict | None = None) -> dict:
    """``config`` (default: config/config.yaml) validated, with the schema's defaults filled in."""
    import yaml

    from rsfm.config import validate_config

    if config is None:
        config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return validate_config(config, REPO / "workflow/schemas/config.schema.yaml")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def default_data(tmp_path_factory) -> Path:
    """The default config's datasets as the data stage leaves them (synthesized, converted, tiled), made once per
    session on demand: ``default_data / <final stage> / <name>``."""
    import yaml

    from rsfm.config import validate_config
    from rsfm.data import pipeline

    root = tmp_path_factory.mktemp("default_data")
    config = validate_config(
        yaml.safe_load((REPO / "config/config.yaml").read_text()), REPO / "workflow/schemas/config.schema.yaml"
    )
    for name, cfg in config["data"]["datasets"].items():
        if name == "millionaid":
            continue  # pretraining shards: tests that need them write their own, smaller ones
        pipeline.synthesize(name, cfg, root / "raw" / name)
        pipeline.convert(name, cfg, root / "raw" / name, root / "prepared" / name, workers=2)
        if pipeline.final_stage(name) == "tiles":
            pipeline.tile(name, cfg, root / "prepared" / name, root / "tiles" / name, workers=2)
    return root


def clone_worktree(dest: Path) -> Path:
    """A git clone of this checkout whose files are the working tree's (committed or not, untracked included,
    ignored left out): what a fresh clone of these changes would be once committed."""
    import shutil
    import subprocess

    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(dest)], check=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source, target = REPO / name, dest / name
        if source.is_symlink() or not source.exists():
            target.unlink(missing_ok=True)  # deleted in the working tree (or a link: not ours to follow)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-q", "--allow-empty", "-m", "wt"],
        cwd=dest, check=True,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> Path:
    """48 MillionAID-like images in 3 pretraining shards, for short engine runs."""
    from rsfm.data.millionaid import write_shards
    from rsfm.data.synthetic import write_millionaid_like

    root = tmp_path_factory.mktemp("millionaid")
    write_millionaid_like(root / "raw", 48, seed=0, size_range=(64, 96))
    write_shards(root / "raw", root / "shards", images_per_shard=16, workers=1)
    return root / "shards"


def write_run(path, shards, out, **overrides):
    settings = {
        "model": "vit_tiny12x1", "shard_dir": str(shards), "out_dir": str(out), "img_size": 64, "patch_size": 8,
        "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 4, "epochs": 5, "global_batch": 8, "micro_batch": 2,
        "base_lr": 2e-3, "warmup_epochs": 1, "checkpoint_every": 4, "log_every": 1, "loader_workers": 1,
    }  # fmt: skip
    settings.update(overrides)
    path.write_text(json.dumps(settings))
    return path


def cpu_env():
    return dict(os.environ, DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
