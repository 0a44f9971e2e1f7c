"""Ours vs paper: every published number of rsfm.paper_numbers beside what this run reproduced, from the tidy tables
(fine-tuning: rule finetune_table; slimming: rule slim_tables) and our architectures' parameter counts.

One row per paper number (``row == "paper"``), with our comparable value where the run made one, else the status
"not run in this config". Then our numbers that meet no paper number (``row == "ours"``): toy runs (synthetic data or
the embedded default's tiny sizes: not comparable), encoders fine-tuned from random weights (``init == "scratch"``)
or slimmed post hoc first (``init == "slim<w>"``) or pretrained on a share of the images (``init == "data<f>"``):
beside the pretrained ones, never compared; and cells the paper reports no number for.

Scale of a row: ``paper`` (real data, a size paper 1 names), ``toy`` (synthetic data or a size of ours alone),
``architecture`` (a parameter count of our model definition: comparable on any config).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from rsfm.finetune.benchmarks import BENCHMARKS, with_init
from rsfm.finetune.configs import parse_init
from rsfm.io import atomic_write, write_csv
from rsfm.paper_numbers import PAPER1, PAPER2, TARGET_REL_FLOPS, PaperNumber, cohort_of, paper_numbers
from rsfm.sizes import SIZES, paper_size

COLUMNS = ["row", "paper", "quantity", "benchmark", "metric", "paper_model", "our_model", "fraction", "init", "scale",
           "ours", "paper_value", "bound", "difference", "claim_holds", "n", "status", "our_protocol",
           "paper_protocol", "paper_source"]  # fmt: skip
COMPARED = "compared"
NOT_RUN = "not run in this config"
TOY = "toy run (synthetic data or a tiny size of the embedded default): not comparable with the paper"
SCRATCH = "encoder fine-tuned from random weights (init: scratch): beside the pretrained one, not compared"
SLIMMED = "encoder slimmed post hoc before fine-tuning (init: slim<w>, docs/open-questions.md): not compared"
DATA_SHARE = ("encoder pretrained on a share of the images (init: data<f>, docs/open-questions.md): beside the one "
              "pretrained on all of them, not compared")  # fmt: skip
NO_PAPER = "no paper number for this cell"
ARCHITECTURE = (
    "our model definition at 224 px, patch 16, with cls token and position embedding, counted on meta tensors"
)


def architecture_params(sizes: Iterable[str]) -> dict[str, float]:
    """Parameters (millions) of our encoders of ``sizes`` and of every size paper 1 names, counted without memory."""
    from rsfm.models.accounting import count_params

    names = {*sizes, *(name for name, size in SIZES.items() if size.paper_name)}
    return {name: count_params(name) / 1e6 for name in sorted(names)}


def _paper_row(number: PaperNumber, **ours) -> dict:
    row = {"row": "paper", "paper": number.paper, "quantity": number.quantity, "benchmark": number.benchmark,
           "metric": number.metric, "paper_model": number.model, "fraction": number.fraction,
           "paper_value": number.value, "bound": number.bound, "paper_protocol": number.protocol,
           "paper_source": number.source, "status": NOT_RUN}  # fmt: skip
    value = ours.get("ours")
    if value is not None and not np.isnan(value):
        row["status"] = COMPARED
        row["difference"] = value - number.value
        if number.bound in "<>":
            row["claim_holds"] = bool(value > number.value if number.bound == ">" else value < number.value)
    return {**row, **ours}


def _our_row(paper: str, quantity: str, status: str, **fields) -> dict:
    return {"row": "ours", "paper": paper, "quantity": quantity, "status": status, **fields}


def _parameter_rows(our_params: dict[str, float]) -> list[dict]:
    rows = []
    for number in paper_numbers(PAPER1, "parameters"):
        size = paper_size(number.model)
        rows.append(_paper_row(number, our_model=size, ours=our_params.get(size), scale="architecture", n=1,
                               our_protocol=ARCHITECTURE))  # fmt: skip
    for size, value in sorted(our_params.items()):
        if SIZES[size].paper_name is None:
            rows.append(_our_row(PAPER1, "parameters", TOY, our_model=size, ours=value, scale="toy", n=1,
                                 our_protocol=ARCHITECTURE))  # fmt: skip
    return rows


def _finetune_rows(table: pd.DataFrame, synthetic: set[str]) -> list[dict]:
    table = with_init(table)
    numbers = paper_numbers(PAPER1, "finetune")
    wanted = {name: {b.headline} | {n.metric for n in numbers if n.benchmark == name} for name, b in BENCHMARKS.items()}
    table = table[[metric in wanted.get(benchmark, ()) for benchmark, metric in zip(table["benchmark"], table["metric"],
                                                                                    strict=True)]]  # fmt: skip
    measured = {}
    for (benchmark, size, fraction, split, metric, init), rows in table.groupby(
        ["benchmark", "size", "fraction", "split", "metric", "init"]
    ):
        toy = BENCHMARKS[benchmark].dataset in synthetic or SIZES[size].paper_name is None
        seeds = ", ".join(str(s) for s in sorted(rows["seed"].unique()))
        data = "synthetic" if BENCHMARKS[benchmark].dataset in synthetic else "real"
        measured[(benchmark, size, float(fraction), metric, init)] = {
            "benchmark": benchmark, "metric": metric, "our_model": size, "paper_model": SIZES[size].paper_name,
            "fraction": float(fraction), "init": init, "scale": "toy" if toy else "paper",
            "ours": float(rows["value"].mean()), "n": len(rows),
            "our_protocol": f"{size} ({init}), {data} data, {split} split, {metric}, {fraction:g} of the training "
                            f"data; mean of seed(s) {seeds}",
        }  # fmt: skip
    rows_out = []
    for number in numbers:
        key = (number.benchmark, paper_size(number.model), number.fraction, number.metric, "pretrained")
        ours = measured.get(key)
        if ours is not None and ours["scale"] == "paper":
            rows_out.append(_paper_row(number, **ours))
            del measured[key]
        else:
            rows_out.append(_paper_row(number, our_model=key[1], init="pretrained"))
    for (*_, init), ours in sorted(measured.items()):
        statuses = {"pretrained": TOY if ours["scale"] == "toy" else NO_PAPER, "scratch": SCRATCH}
        status = statuses.get(init, DATA_SHARE if parse_init(init).data_fraction < 1 else SLIMMED)
        rows_out.append(_our_row(PAPER1, "finetune", status, **ours))
    return rows_out


def retention_at(probes: pd.DataFrame, target: float = TARGET_REL_FLOPS) -> pd.DataFrame:
    """k-NN retention of paper 2's slimming rule (the figures' main curves) at relative compute ``target``, one row
    per (encoder, dataset, seed) curve: interpolated linearly in log FLOPs between the two widths around ``target``
    (the curves' x axis), exact where a width lands on it; where ``target`` is below the sweep's cheapest width the
    value at that width, its relative FLOPs in ``at_rel_flops`` (never extrapolated)."""
    from rsfm.plots.slimming import main_knn

    rows = []
    keys = ["encoder", "group", "base", "training", "dataset", "seed"]
    for key, curve in main_knn(probes).groupby(keys):
        curve = curve.groupby("rel_flops")["retention"].mean().sort_index()
        flops, retention = curve.index.to_numpy(float), curve.to_numpy(float)
        at = max(target, flops[0])
        rows.append({**dict(zip(keys, key, strict=True)), "at_rel_flops": at,
                     "retention": float(np.interp(np.log(at), np.log(flops), retention))})  # fmt: skip
    return pd.DataFrame(rows, columns=[*keys, "at_rel_flops", "retention"])


def _retention_rows(probes: pd.DataFrame, synthetic: set[str]) -> list[dict]:
    curves = retention_at(probes)
    curves = curves[curves["training"] == "regular"]  # post-hoc slimming: slimmable-trained encoders are another claim
    curves = curves.assign(cohort=curves["group"].map(cohort_of)).dropna(subset=["cohort"])
    toy = curves["dataset"].isin(synthetic) | curves["base"].map(lambda b: b in SIZES and not SIZES[b].paper_name)
    curves = curves.assign(scale=np.where(toy, "toy", "paper"))
    decided: dict[tuple[str, str], float] = {}  # (cohort, scale) -> the value that decides the paper's claim
    rows, toy_rows = [], []
    for number in paper_numbers(PAPER2, "retention_at_1pct_flops"):
        ours_by_scale = {}
        for scale, mine in curves[curves["cohort"] == number.cohort].groupby("scale"):
            per_encoder = 100 * mine.groupby("encoder")["retention"].mean()
            # "every RS FM keeps over 71%": the lowest encoder decides; "the ImageNet MAE keeps under 10%": the highest
            deciding = per_encoder.idxmin() if number.bound == ">" else per_encoder.idxmax()
            decided[(number.cohort, scale)] = float(per_encoder[deciding])
            cheapest = mine["at_rel_flops"].max()
            how = ("interpolated in log FLOPs at 1%" if cheapest <= TARGET_REL_FLOPS else
                   f"1% FLOPs is below the cheapest width of some sweeps: their value at that width (up to "
                   f"{cheapest:.1%} FLOPs), not extrapolated")  # fmt: skip
            datasets = ", ".join(sorted(mine["dataset"].unique()))
            values = ", ".join(f"{encoder} {value:.1f}%" for encoder, value in per_encoder.items())
            ours_by_scale[scale] = {
                "our_model": deciding, "scale": scale, "ours": decided[(number.cohort, scale)], "n": len(mine),
                "our_protocol": f"k-NN retention of paper 2's rule (variant first-all, regular training), {how}; "
                                f"mean over {datasets} and seeds per encoder ({values}); the "
                                f"{'lowest' if number.bound == '>' else 'highest'} encoder decides",
            }  # fmt: skip
        rows.append(_paper_row(number, **ours_by_scale.get("paper", {})))
        if "toy" in ours_by_scale:
            toy_rows.append(_our_row(PAPER2, number.quantity, TOY, bound=number.bound, **ours_by_scale["toy"]))
    for number in paper_numbers(PAPER2, "retention_ratio"):
        for scale in ("paper", "toy"):
            rs, imagenet = decided.get(("RS", scale)), decided.get(("ImageNet", scale))
            ours = {} if rs is None or not imagenet else {
                "ours": rs / imagenet, "scale": scale, "n": 1,
                "our_protocol": "the deciding retentions of the two rows above, RS over ImageNet"}  # fmt: skip
            if scale == "paper":
                rows.append(_paper_row(number, **ours))
            elif ours:
                toy_rows.append(_our_row(PAPER2, number.quantity, TOY, bound=number.bound, **ours))
    return rows + toy_rows


def comparison(
    finetune: pd.DataFrame | None, probes: pd.DataFrame | None, our_params: dict[str, float],
    synthetic: Iterable[str] = (),
) -> pd.DataFrame:  # fmt: skip
    """The comparison table (``COLUMNS``). ``finetune``/``probes``: the tidy tables, None where the run has none;
    ``our_params``: parameters (millions) per size (:func:`architecture_params`); ``synthetic``: the datasets whose
    data is synthetic (their numbers are toy)."""
    synthetic = set(synthetic)
    rows = _parameter_rows(our_params)
    if finetune is not None:
        rows += _finetune_rows(finetune, synthetic)
    else:
        rows += [_paper_row(n) for n in paper_numbers(PAPER1, "finetune")]
    if probes is not None:
        rows += _retention_rows(probes, synthetic)
    else:
        rows += [_paper_row(n) for n in paper_numbers(PAPER2) if n.quantity != "parameters"]
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value).replace("|", "/")


def markdown(table: pd.DataFrame) -> str:
    """The table as the report shows it: a header that says which rows compare and which are toy, one section per
    paper."""
    paper_rows = table[table["row"] == "paper"]
    compared = int((paper_rows["status"] == COMPARED).sum())
    toy = int((table["scale"] == "toy").sum())
    lines = [
        "# Ours vs paper",
        "",
        f"{compared} of {len(paper_rows)} published numbers have a comparable number of this run beside them; the "
        f'others say "{NOT_RUN}".',
    ]
    if toy:
        lines.append(f"**{toy} rows are toy runs (scale `toy`: synthetic data or the embedded default's tiny sizes). "
                     "They show that the chain runs; they are not comparable with the papers.**")  # fmt: skip
    lines += ["", "Published numbers live in `src/rsfm/paper_numbers.py` (source and protocol per number); see "
              "docs/paper-comparison.md.", ""]  # fmt: skip
    shown = ["row", "quantity", "benchmark", "metric", "paper_model", "our_model", "fraction", "init", "scale",
             "ours", "paper_value", "bound", "difference", "claim_holds", "status", "our_protocol", "paper_protocol",
             "paper_source"]  # fmt: skip
    for paper in (PAPER1, PAPER2):
        rows = table[table["paper"] == paper]
        lines += [f"## {paper}", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
        for _, row in rows.iterrows():
            lines.append("| " + " | ".join(_cell(row[c]) for c in shown) + " |")
        lines.append("")
    return "\n".join(lines)


def write(table: pd.DataFrame, csv: str | Path, md: str | Path) -> None:
    write_csv(table, csv)
    with atomic_write(md) as handle:
        handle.write(markdown(table))


def build(
    finetune_csv: str | Path | None, probes_csv: str | Path | None, sizes: Iterable[str], synthetic: Iterable[str],
    csv: str | Path, md: str | Path,
) -> pd.DataFrame:  # fmt: skip
    """Rule paper_comparison: read the tidy tables that exist in this run, write the csv and the markdown."""
    finetune = pd.read_csv(finetune_csv) if finetune_csv else None
    probes = pd.read_csv(probes_csv) if probes_csv else None
    table = comparison(finetune, probes, architecture_params(sizes), synthetic)
    write(table, csv, md)
    return table


__all__ = ["COLUMNS", "architecture_params", "build", "comparison", "markdown", "retention_at", "write"]
