"""The pretraining run's log on rank 0: a CSV (log.csv), a DVCLive log (plots for `dvc plots`), and a progress bar.

A resumed run first drops whatever a killed run logged after its last checkpoint, so every log holds each step
exactly once and matches an uninterrupted run.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tqdm import tqdm

COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "images_per_s", "data_wait", "mfu")


def _truncate_rows(path: Path, start_step: int, delimiter: str = ",") -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=delimiter))
    return [row for row in rows if int(float(row["step"])) < start_step]


class TrainingLog:
    def __init__(self, out_dir: str | Path, start_step: int, total_steps: int, *, dvclive: bool = True) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = out_dir / "log.csv"
        kept = _truncate_rows(self.csv_path, start_step)
        self._handle = open(self.csv_path, "w", newline="")  # noqa: SIM115 (open for the whole run)
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._writer.writerows(kept)
        self._handle.flush()
        self._live = None
        if dvclive:
            from dvclive import Live

            live_dir = out_dir / "dvclive"
            for tsv in live_dir.glob("plots/metrics/**/*.tsv"):
                rows = _truncate_rows(tsv, start_step, delimiter="\t")
                with open(tsv, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=["timestamp", "step", tsv.stem], delimiter="\t")
                    writer.writeheader()
                    writer.writerows(rows)
            self._live = Live(str(live_dir), resume=start_step > 0, save_dvc_exp=False, dvcyaml=False)
        self._bar = tqdm(total=total_steps, initial=start_step, desc="pretraining", unit="step", mininterval=5.0)

    def log(self, row: dict[str, Any]) -> None:
        self._writer.writerow(row)
        self._handle.flush()
        if self._live is not None:
            self._live.step = int(row["step"])
            for key in ("loss", "lr", "grad_norm", "images_per_s", "data_wait", "mfu"):
                if row.get(key) not in (None, ""):
                    self._live.log_metric(key, float(row[key]))
        self._bar.set_postfix(loss=row["loss"], refresh=False)

    def advance(self) -> None:
        self._bar.update()

    def close(self) -> None:
        self._bar.close()
        self._handle.close()
        if self._live is not None:
            self._live.end()
