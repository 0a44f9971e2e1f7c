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
