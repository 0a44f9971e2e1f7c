"""Assertions on what fine-tuning leaves behind, shared by the pipeline tests and the end-to-end workflow test."""

import json
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
from mmengine.config import Config
from PIL import Image

from rsfm.data.annotations import DOTA_V2_CLASSES
from rsfm.finetune.benchmarks import BENCHMARKS
from rsfm.finetune.export import read_task1


def assert_finetune_run(folder: Path, benchmark: str, size: str, fraction: float, seed: int, iterations: int) -> None:
    """A finished run: headline and per-class metrics of the right split, best and last checkpoints only, the
    metrics.json the table reads, and the config as generated (the Runner did not rewrite it)."""
    result = json.loads((folder / "metrics.json").read_text())
    rows = {row["metric"]: row for row in result["rows"]}
    facts = BENCHMARKS[benchmark]
    headline = rows[facts.headline]
    assert 0 <= headline["value"] <= 100 and headline["split"] == facts.headline_split, headline
    assert {k: headline[k] for k in ("benchmark", "size", "fraction", "seed")} == {
        "benchmark": benchmark, "size": size, "fraction": fraction, "seed": seed,
    }  # fmt: skip
    if facts.toolbox == "mmseg":
        assert {"OA", "mF1", "IoU.building"} <= set(rows)
    else:
        assert any(name.startswith("dota/AP50.") for name in rows)  # per-class AP
    checkpoints = sorted(p.name for p in (folder / "work").glob("*.pth"))
    assert checkpoints == sorted([result["best_checkpoint"], f"iter_{iterations}.pth"]), checkpoints
    assert Config.fromfile(str(folder / "config.py")).run["fraction"] == fraction


def assert_dota_submission(path: Path) -> None:
    """DOTA's Task1 format: one file per class, flat, image ids of whole scenes (not windows)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert sorted(names) == sorted(f"Task1_{c}.txt" for c in DOTA_V2_CLASSES)
    assert all("__" not in image for image in read_task1(path))


def assert_loveda_submission(path: Path) -> None:
    """LoveDA's server format: one PNG of class indices (0-6) per test image, flat."""
    with zipfile.ZipFile(path) as archive:
        pngs = archive.namelist()
        assert pngs and all("/" not in n and n.endswith(".png") for n in pngs)
        mask = np.asarray(Image.open(BytesIO(archive.read(pngs[0]))))
    assert mask.ndim == 2 and mask.max() <= 6
