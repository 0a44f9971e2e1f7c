"""The fine-tuning benchmarks of paper 1, one row each: what configs, rules, plots, submissions, headline JSONs and
tests know about a benchmark. A new benchmark is a row here plus its base config ``config/finetune/<name>.py``.

Free of torch and the toolboxes (the Snakemake rules import it while planning).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd


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


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each benchmark's headline metric in a tidy table (rule finetune_table's)."""
    wanted = table["metric"] == table["benchmark"].map({name: b.headline for name, b in BENCHMARKS.items()})
    return table[wanted].copy()


__all__ = ["BENCHMARKS", "DIOR_R", "DOTA_V2", "LOVEDA", "POTSDAM", "Benchmark", "headline", "server_benchmarks"]
