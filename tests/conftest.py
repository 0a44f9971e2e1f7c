"""Shared test helpers."""

from __future__ import annotations

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
