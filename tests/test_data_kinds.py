"""The dataset kinds: one module each, one table, and no dispatch on kind names left anywhere else."""

import importlib
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from rsfm.data import pipeline
from rsfm.data.kinds import KINDS, Kind, kind_of
from rsfm.data.registry import DATASETS
from rsfm.errors import ConfigError

from .conftest import REPO

SRC = Path(__file__).resolve().parents[1] / "src"
KINDS_DIR = SRC / "rsfm/data/kinds"

# What the rules read as each kind's last data folder: `rule tile` makes tiles/<name> for the first four, and
# fine-tuning, slimming and the summary read tiles/ or prepared/ accordingly.
EXPECTED_FINAL_STAGE = {
    "millionaid": "tiles", "dota": "tiles", "dior_r": "tiles", "potsdam": "tiles",
    "loveda": "prepared", "class_folders": "prepared", "geobench": "prepared",
}  # fmt: skip


def test_every_registered_dataset_has_a_kind_in_the_table():
    for name, spec in DATASETS.items():
        assert spec.kind in KINDS, name
        assert kind_of(name) is kind_of(spec) is KINDS[spec.kind]
    assert all(isinstance(kind, Kind) and kind.name == key for key, kind in KINDS.items())
    assert {spec.kind for spec in DATASETS.values()} == set(KINDS), "a kind no dataset uses"


def test_every_kind_module_is_in_the_table():
    """A new kind is one module defining KIND plus its entry in the table: a module left out would be dead code."""
    modules = sorted(p.stem for p in KINDS_DIR.glob("*.py") if p.stem not in {"__init__", "base"})
    for stem in modules:
        kind = importlib.import_module(f"rsfm.data.kinds.{stem}").KIND
        assert KINDS.get(kind.name) is kind, stem
    assert len(modules) == len(KINDS)


def test_final_stage_comes_from_the_kind():
    assert {name: kind.final_stage for name, kind in KINDS.items()} == EXPECTED_FINAL_STAGE
    for name, spec in DATASETS.items():
        assert pipeline.final_stage(name) == EXPECTED_FINAL_STAGE[spec.kind], name
        assert (KINDS[spec.kind].tile is None) == (pipeline.final_stage(name) == "prepared"), name


def test_tiling_a_kind_without_a_tile_step_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no tiling step; its prepared folder is final"):
        pipeline.tile("loveda", {}, tmp_path / "prepared", tmp_path / "tiles", workers=1)


def test_a_kind_without_synthetic_copies_refuses_source_synthetic(tmp_path, monkeypatch):
    from dataclasses import replace

    import yaml

    from rsfm.config import validate_config

    monkeypatch.setitem(KINDS, "loveda", replace(KINDS["loveda"], synthesize=None))
    with pytest.raises(ConfigError, match="no synthetic generator for dataset 'loveda'"):
        pipeline.synthesize("loveda", {"source": "synthetic"}, tmp_path / "raw")
    config = yaml.safe_load((SRC.parent / "config/config.yaml").read_text())
    with pytest.raises(ConfigError, match="loveda has no synthetic copy; use official or extracted"):
        validate_config(config, SRC.parent / "workflow/schemas/config.schema.yaml")


def test_an_unknown_kind_is_named():
    from dataclasses import replace

    with pytest.raises(ConfigError, match="unknown kind 'sar'"):
        kind_of(replace(DATASETS["loveda"], kind="sar"))


def test_no_dispatch_on_kind_names_outside_the_kinds():
    """No `spec.kind == "dota"` ladder, `kind in {...}` set or TILED_KINDS list: the kind's module answers instead."""
    names = "|".join(map(re.escape, KINDS))
    ladder = re.compile(
        rf"""kind\s*(==|!=)\s*["']({names})["']"""
        rf"""|kind\s+(not\s+)?in\s*[{{(\[][^)}}\]]*["']({names})["']"""
        r"|\bTILED_KINDS\b"
    )
    hits = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ladder.search(line)
    ]
    assert not hits, "dispatch on dataset kind names:\n" + "\n".join(hits)


def test_the_documented_new_kind_converts_a_release(tmp_path):
    # docs/data-new-kind.md is what a contributor copies: its example must be a kind that really runs
    from PIL import Image

    text = (REPO / "docs" / "data-new-kind.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    exec(compile(textwrap.dedent(code), "data-new-kind.md", "exec"), namespace)
    kind = namespace["KIND"]
    assert isinstance(kind, Kind) and kind.final_stage == "prepared"
    extracted = tmp_path / "extracted"
    for split, n in (("train", 2), ("val", 1)):
        for folder in ("images", "masks"):
            (extracted / split / folder).mkdir(parents=True)
            for i in range(n):
                Image.new("L" if folder == "masks" else "RGB", (8, 8)).save(extracted / split / folder / f"{i}.png")
    kind.convert(None, {}, extracted, tmp_path / "prepared", workers=1)
    counts = pd.read_csv(tmp_path / "prepared" / "counts.csv")
    assert dict(zip(counts["split"], counts["count"], strict=True)) == {"train": 2, "val": 1}
    assert sorted(p.name for p in (tmp_path / "prepared" / "ann_dir" / "train").iterdir()) == ["0.png", "1.png"]
