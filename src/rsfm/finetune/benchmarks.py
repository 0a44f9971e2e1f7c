"""The fine-tuning benchmarks of paper 1, one row each: what configs, rules, plots, submissions, headline JSONs and
tests know about a benchmark. A new benchmark is a row here plus its base config ``config/finetune/<name>.py``.

Free of torch and the toolboxes (the Snakemake rules import it while planning).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

# Where a split's files lie under the data root, per toolbox (the layouts the data stage writes): what a dataset config
# of one split names, so that a training set of several splits (``train_splits``) can be made from the base config's.
SPLIT_LAYOUT: dict[str, dict[str, Any]] = {
    "mmrotate": {"ann_file": "{split}/annfiles/", "data_prefix": {"img_path": "{split}/images/"}},
    "mmseg": {"data_prefix": {"img_path": "img_dir/{split}", "seg_map_path": "ann_dir/{split}"}},
}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: the toolbox that trains it, the data it reads and the number the papers report for it."""

    name: str
    toolbox: Literal["mmrotate", "mmseg"]
    dataset: str  # data.datasets.<dataset>: what the data stage prepares for it
    headline: str  # the metric of metrics.json the figures and the headline JSON report
    headline_split: str  # the split that metric is scored on (val where the test labels are withheld)
    label: str  # figure panel title
    server: str | None = None  # the test server's submission format (rsfm.finetune.export), None: scored locally

    @property
    def task(self) -> str:
        """What the benchmark measures, as figures name it."""
        return {"mmrotate": "rotated detection", "mmseg": "semantic segmentation"}[self.toolbox]

    def split_dataset(self, dataset: dict[str, Any], split: str) -> dict[str, Any]:
        """A copy of the dataset config ``dataset`` (one split of this benchmark's data) reading ``split`` instead."""
        out = copy.deepcopy(dict(dataset))
        for key, value in SPLIT_LAYOUT[self.toolbox].items():
            if isinstance(value, dict):
                out[key] = {**dict(out.get(key, {})), **{k: v.format(split=split) for k, v in value.items()}}
            else:
                out[key] = value.format(split=split)
        return out

    def data_dir(self, root: str | Path) -> Path:
        """The data-stage folder a run reads: the dataset's final stage (tiles or prepared) under ``root``."""
        from rsfm.data.pipeline import final_stage

        return Path(root) / final_stage(self.dataset) / self.dataset


DOTA_V2 = Benchmark("dota_v2", toolbox="mmrotate", dataset="dota_v2", headline="dota/mAP", headline_split="val",
                    label="DOTA v2.0 (mAP50)", server="dota_task1")  # fmt: skip
DIOR_R = Benchmark("dior_r", toolbox="mmrotate", dataset="dior_r", headline="dota/mAP", headline_split="test",
                   label="DIOR-R (mAP50)")  # fmt: skip
POTSDAM = Benchmark("potsdam", toolbox="mmseg", dataset="potsdam", headline="mIoU", headline_split="test",
                    label="Potsdam (mIoU, no clutter)")  # fmt: skip
LOVEDA = Benchmark("loveda", toolbox="mmseg", dataset="loveda", headline="mIoU", headline_split="val",
                   label="LoveDA (mIoU)", server="loveda_png")  # fmt: skip
BENCHMARKS = {benchmark.name: benchmark for benchmark in (DOTA_V2, DIOR_R, POTSDAM, LOVEDA)}


def server_benchmarks() -> list[str]:
    """The benchmarks whose test labels are withheld: their test split goes to a server as a submission."""
    return [name for name, benchmark in BENCHMARKS.items() if benchmark.server]


def with_init(table: pd.DataFrame) -> pd.DataFrame:
    """A tidy table with its ``init`` column filled: ``pretrained`` where a table (or row) predates inits."""
    return table.assign(init=table["init"].fillna("pretrained") if "init" in table else "pretrained")


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each benchmark's headline metric in a tidy table (rule finetune_table's)."""
    wanted = table["metric"] == table["benchmark"].map({name: b.headline for name, b in BENCHMARKS.items()})
    return table[wanted].copy()


def headline_scores(table: pd.DataFrame) -> pd.DataFrame:
    """The headline rows of each benchmark on its headline split (what every figure and table of scores reads), with
    ``init`` filled (:func:`with_init`)."""
    rows = with_init(headline(table))
    split = rows["benchmark"].map({name: b.headline_split for name, b in BENCHMARKS.items()})
    return rows[rows["split"] == split].copy()


__all__ = [
    "BENCHMARKS", "DIOR_R", "DOTA_V2", "LOVEDA", "POTSDAM", "SPLIT_LAYOUT", "Benchmark", "headline",
    "headline_scores", "server_benchmarks", "with_init",
]  # fmt: skip
