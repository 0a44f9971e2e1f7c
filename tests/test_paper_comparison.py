"""Ours vs paper: the published numbers (rsfm.paper_numbers), the comparison table (rsfm.comparison) and the figures'
reference marks, on small synthetic tables."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from rsfm import comparison as cmp
from rsfm.paper_numbers import PAPER1, PAPER2, PAPER_NUMBERS, cohort_of, parameter_count
from rsfm.plots import finetune as finetune_plots
from rsfm.plots import slimming as slimming_plots
from rsfm.sizes import SIZES, paper_size

from .conftest import REPO
from .workflow_dag import dag_jobs

PARAMS = {"vit_b12x1": 85.8, "vit_l12x4": 605.61, "vit_h12x4": 1305.32, "vit_g12x4": 2419.18, "vit_tiny12x1": 1.44}


def finetune_rows(benchmark, size, metric, values, fraction=1.0, **extra):
    return [{"benchmark": benchmark, "size": size, "params_m": PARAMS.get(size, 1.0), "fraction": fraction,
             "seed": seed, "split": "test", "metric": metric, "value": value, **extra}
            for seed, value in enumerate(values)]  # fmt: skip


def probe_rows(encoder, group, base, flops, retention, dataset="geobench_m_eurosat", training="regular", seeds=(0,)):
    return [{"encoder": encoder, "group": group, "base": base, "method": "mae", "training": training,
             "dataset": dataset, "variant": "first-all", "width": f, "rel_flops": f, "params_m": 1.0, "probe": "knn",
             "seed": seed, "metric": "accuracy", "value": r, "retention": r, "weights_sha256": "x"}
            for seed in seeds for f, r in zip(flops, retention, strict=True)]  # fmt: skip


def paper_row(table, key):
    number = next(n for n in PAPER_NUMBERS if n.key == key)
    rows = table[(table["row"] == "paper") & (table["paper_value"] == number.value)
                 & (table["quantity"] == number.quantity)
                 & (table["metric"].fillna("") == (number.metric or ""))]  # fmt: skip
    assert len(rows) == 1, key
    return rows.iloc[0]


def test_every_paper_number_has_a_source_a_protocol_and_a_unique_key():
    assert len({n.key for n in PAPER_NUMBERS}) == len(PAPER_NUMBERS)
    assert all(n.source and n.protocol and n.paper in (PAPER1, PAPER2) for n in PAPER_NUMBERS)
    g = {(n.benchmark, n.metric): n.value for n in PAPER_NUMBERS if n.model == "ViT-G12X4" and n.benchmark}
    assert g == {("dior_r", "dota/mAP"): 73.60, ("potsdam", "OA"): 92.58, ("potsdam", "mF1"): 92.12,
                 ("loveda", "mIoU"): 54.4}  # fmt: skip
    # the size mapping lives with the sizes; the counts with the paper's numbers
    assert paper_size("ViT-G12X4") == "vit_g12x4" and SIZES["vit_g12x4"].paper_params == 2400.0
    assert SIZES["vit_l12x4"].paper_params == parameter_count("ViT-L12X4") == 605.26
    assert SIZES["vit_tiny12x4"].paper_params is None and paper_size("ViT-X") is None
    assert cohort_of("RS (ours)") == cohort_of("RS") == "RS" and cohort_of("external") is None


def test_table_has_the_columns_and_every_paper_number_once_unproduced_ones_say_so():
    table = cmp.comparison(None, None, PARAMS)
    assert list(table.columns) == cmp.COLUMNS
    papers = table[table["row"] == "paper"]
    assert len(papers) == len(PAPER_NUMBERS)
    for number in PAPER_NUMBERS:
        paper_row(table, number.key)
    scores = papers[papers["quantity"] != "parameters"]
    assert (scores["status"] == cmp.NOT_RUN).all() and scores["ours"].isna().all()
    assert set(table["paper_protocol"].dropna()) == {n.protocol for n in PAPER_NUMBERS}


def test_parameter_counts_compare_on_any_config_and_toy_sizes_are_labelled():
    table = cmp.comparison(None, None, PARAMS)
    g = paper_row(table, "params_vit-g12x4")
    assert g["status"] == cmp.COMPARED and g["scale"] == "architecture" and g["our_model"] == "vit_g12x4"
    assert g["difference"] == pytest.approx(2419.18 - 2400.0)
    tiny = table[table["our_model"] == "vit_tiny12x1"].iloc[0]
    assert tiny["row"] == "ours" and tiny["scale"] == "toy" and tiny["status"] == cmp.TOY


def test_architecture_params_counts_the_paper_sizes_too():
    counts = cmp.architecture_params(["vit_tiny12x1"])
    assert set(counts) == {"vit_tiny12x1", "vit_b12x1", "vit_l12x4", "vit_h12x4", "vit_g12x4"}
    assert counts["vit_b12x1"] == pytest.approx(85.8, abs=0.1) and counts["vit_g12x4"] == pytest.approx(2419.2, 0.1)


def test_a_reproduced_score_lands_beside_its_paper_row_with_the_difference():
    finetune = pd.DataFrame(
        finetune_rows("dior_r", "vit_g12x4", "dota/mAP", [70.0, 72.0])
        + finetune_rows("dior_r", "vit_g12x4", "dota/mAP", [50.0], fraction=0.1)
        + finetune_rows("dior_r", "vit_g12x4", "other", [1.0])  # a metric neither paper nor headline: left out
        + finetune_rows("potsdam", "vit_g12x4", "OA", [90.0])
    )
    table = cmp.comparison(finetune, None, PARAMS, synthetic={"potsdam"})
    dior = paper_row(table, "dior_r_map_vit-g12x4")
    assert dior["status"] == cmp.COMPARED and dior["scale"] == "paper" and dior["n"] == 2
    assert dior["ours"] == pytest.approx(71.0) and dior["difference"] == pytest.approx(71.0 - 73.60)
    assert "mean of seed(s) 0, 1" in dior["our_protocol"] and "real data" in dior["our_protocol"]
    # the fraction the paper reports no number for is ours alone; synthetic Potsdam data is toy, not compared
    tenth = table[(table["fraction"] == 0.1)].iloc[0]
    assert tenth["row"] == "ours" and tenth["status"] == cmp.NO_PAPER and math.isnan(tenth["paper_value"])
    assert paper_row(table, "potsdam_oa_vit-g12x4")["status"] == cmp.NOT_RUN
    toy = table[(table["benchmark"] == "potsdam") & (table["row"] == "ours")].iloc[0]
    assert toy["scale"] == "toy" and toy["ours"] == 90.0 and "synthetic data" in toy["our_protocol"]
    assert "other" not in set(table["metric"])


def test_scratch_rows_stand_apart_and_a_missing_init_is_pretrained():
    finetune = pd.DataFrame(
        finetune_rows("loveda", "vit_g12x4", "mIoU", [50.0], init="pretrained")
        + finetune_rows("loveda", "vit_g12x4", "mIoU", [20.0], init="scratch")
        + finetune_rows("loveda", "vit_g12x4", "mIoU", [40.0], init="slim0.5")
        + finetune_rows("loveda", "vit_g12x4", "mIoU", [45.0], init="data0.1")
    )
    finetune.loc[len(finetune)] = {**finetune.iloc[0].to_dict(), "seed": 1, "value": 52.0, "init": np.nan}
    table = cmp.comparison(finetune, None, PARAMS)
    loveda = paper_row(table, "loveda_miou_vit-g12x4")
    assert loveda["ours"] == pytest.approx(51.0) and loveda["init"] == "pretrained"  # never averaged with scratch
    scratch = table[table["init"] == "scratch"]
    assert len(scratch) == 1 and scratch.iloc[0]["row"] == "ours" and scratch.iloc[0]["status"] == cmp.SCRATCH
    assert scratch.iloc[0]["ours"] == 20.0 and math.isnan(scratch.iloc[0]["difference"])
    slimmed = table[table["init"] == "slim0.5"]  # a post-hoc slimmed encoder: beside it too, never averaged in
    assert len(slimmed) == 1 and slimmed.iloc[0]["status"] == cmp.SLIMMED and slimmed.iloc[0]["ours"] == 40.0
    shared = table[table["init"] == "data0.1"]  # pretrained on a tenth of the images: beside, never averaged in
    assert len(shared) == 1 and shared.iloc[0]["status"] == cmp.DATA_SHARE and shared.iloc[0]["ours"] == 45.0
    # a table from before the init column: every row is pretrained
    plain = cmp.comparison(finetune.drop(columns="init").iloc[[0]], None, PARAMS)
    assert paper_row(plain, "loveda_miou_vit-g12x4")["ours"] == 50.0 and "scratch" not in set(plain["init"])


def test_retention_at_one_percent_interpolates_in_log_flops_and_never_extrapolates():
    probes = pd.DataFrame(
        probe_rows("a", "RS", "vit_small_patch16_224", [0.005, 0.02, 1.0], [0.5, 0.8, 1.0])
        + probe_rows("b", "RS", "vit_small_patch16_224", [0.01, 0.1, 1.0], [0.7, 0.9, 1.0])
        + probe_rows("c", "RS", "vit_small_patch16_224", [0.03, 0.5, 1.0], [0.6, 0.9, 1.0])
    )
    at = cmp.retention_at(probes).set_index("encoder")
    assert at.loc["a", "retention"] == pytest.approx(0.65)  # halfway between 0.005 and 0.02 in log FLOPs
    assert at.loc["b", "retention"] == pytest.approx(0.7) and at.loc["b", "at_rel_flops"] == 0.01
    assert at.loc["c", "retention"] == pytest.approx(0.6) and at.loc["c", "at_rel_flops"] == 0.03


def test_retention_rows_compare_rs_and_imagenet_and_their_ratio():
    flops = [0.005, 0.02, 1.0]
    probes = pd.DataFrame(
        probe_rows("rs_a", "RS", "vit_small_patch16_224", flops, [0.8, 0.9, 1.0], seeds=(0, 1))
        + probe_rows("rs_b", "RS", "vit_small_patch16_224", flops, [0.7, 0.8, 1.0], seeds=(0, 1))
        + probe_rows("rs_slim", "RS", "vit_small_patch16_224", flops, [0.1, 0.1, 1.0], training="slimmable")
        + probe_rows("imnet", "ImageNet", "vit_base_patch16_224", flops, [0.05, 0.15, 1.0])
        + probe_rows("tiny", "RS (ours)", "vit_tiny12x1", flops, [0.9, 0.95, 1.0], dataset="toy_set")
    )
    table = cmp.comparison(None, probes, PARAMS, synthetic={"toy_set"})
    rs = paper_row(table, "rs_retention_1pct")
    assert rs["our_model"] == "rs_b" and rs["ours"] == pytest.approx(75.0)  # the lowest RS encoder decides
    assert rs["claim_holds"] and rs["difference"] == pytest.approx(4.0) and "interpolated" in rs["our_protocol"]
    imnet = table[(table["row"] == "paper") & (table["paper_value"] == 10.0)].iloc[0]
    assert imnet["ours"] == pytest.approx(10.0) and not imnet["claim_holds"]  # 10% is not under 10%
    ratio = table[(table["quantity"] == "retention_ratio") & (table["row"] == "paper")].iloc[0]
    assert ratio["ours"] == pytest.approx(7.5) and ratio["status"] == cmp.COMPARED
    toy = table[(table["paper"] == PAPER2) & (table["row"] == "ours")]
    assert list(toy["our_model"]) == ["tiny"] and (toy["scale"] == "toy").all() and (toy["status"] == cmp.TOY).all()
    assert "rs_slim" not in set(table["our_model"])


def test_markdown_says_which_rows_are_toy_and_writes_atomically(tmp_path):
    finetune = pd.DataFrame(finetune_rows("loveda", "vit_tiny12x1", "mIoU", [12.0]))
    table = cmp.comparison(finetune, None, PARAMS, synthetic={"loveda"})
    cmp.write(table, tmp_path / "c.csv", tmp_path / "c.md")
    text = (tmp_path / "c.md").read_text()
    assert text.startswith("# Ours vs paper") and "not comparable with the papers" in text
    assert f"## {PAPER1}" in text and f"## {PAPER2}" in text and text.count(cmp.NOT_RUN) >= 4
    back = pd.read_csv(tmp_path / "c.csv")
    assert list(back.columns) == cmp.COLUMNS and len(back) == len(table)


# -------------------------------------------------------------------------------- the figures' reference marks
@pytest.fixture
def kept_figures(monkeypatch):
    """The figures the plot functions draw, kept open (instead of saved) so that their artists can be read."""
    figures = []
    for module in (finetune_plots, slimming_plots):
        monkeypatch.setattr(module, "save_figure", lambda fig, path: figures.append(fig))
    yield figures
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_finetune_figures_draw_the_papers_scores_at_its_parameter_counts(tmp_path, kept_figures):
    rows = []
    for size in ("vit_tiny12x1", "vit_tiny12x4"):
        for fraction in (0.5, 1.0):
            rows += finetune_rows("dior_r", size, "dota/mAP", [10.0], fraction=fraction)
            rows += finetune_rows("potsdam", size, "mIoU", [20.0], fraction=fraction)
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    finetune_plots.metric_vs_size(tmp_path / "metrics.csv", tmp_path / "size.png")
    finetune_plots.metric_vs_fraction(tmp_path / "metrics.csv", tmp_path / "fraction.png")
    (size_fig, fraction_fig) = kept_figures
    for fig, x in ((size_fig, 2400.0), (fraction_fig, 100.0)):
        dior, potsdam = fig.axes[:2]
        assert any("paper" in label for label in legend_labels(dior))
        marks = [c for c in dior.collections if "paper" in c.get_label()]
        assert len(marks) == 1 and marks[0].get_offsets().tolist() == [[x, 73.6]]
        assert dior.get_xlim()[1] > x  # the paper's point is inside the axis
        # the paper has no Potsdam mIoU: nothing on the axis, its OA and mF1 named in the title
        assert not [c for c in potsdam.collections if "paper" in c.get_label()]
        assert "OA 92.58" in potsdam.get_title() and "mF1 92.12" in potsdam.get_title()


def test_retention_figure_draws_paper_2s_bounds_at_one_percent(tmp_path, kept_figures):
    flops = [0.03, 0.5, 1.0]
    probes = pd.DataFrame(probe_rows("tiny", "RS (ours)", "vit_tiny12x1", flops, [0.9, 0.95, 1.0], seeds=(0, 1)))
    probes.to_csv(tmp_path / "probes.csv", index=False)
    slimming_plots.retention_vs_compute(tmp_path / "probes.csv", tmp_path / "r.png")
    (ax,) = kept_figures[0].axes
    labels = legend_labels(ax)
    assert "paper: RS > 71% at 1% FLOPs" in labels and "paper: ImageNet < 10% at 1% FLOPs" in labels
    marks = sorted(c.get_offsets().tolist()[0][1] for c in ax.collections if c.get_label().startswith("paper"))
    assert marks == pytest.approx([0.10, 0.71]) and ax.get_xlim()[0] < 0.01


# ------------------------------------------------------------------------------------------------------- planning
@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_the_workflow_plans_the_comparison_from_the_tables_of_the_run(configfile, tmp_path):
    planned = dag_jobs(REPO / configfile, tmp_path)
    (job,) = [job for job in planned if job["rule"] == "paper_comparison"]
    assert job["input"] == ["results/finetune/metrics.csv", "results/slimming/probes.csv"]
    assert job["output"] == ["results/paper_comparison.csv", "results/paper_comparison.md"]
    for target in ("all", "all_figures"):  # the default target, and the phase dvc.yaml's figures stage runs
        (phase,) = [j for j in planned if j["rule"] == target]
        assert set(job["output"]) <= set(phase["input"]), target


def test_the_report_opens_with_the_comparison():
    # Snakemake's report menu lists categories sorted by name (localeCompare): ours must sort before every other
    rules = "\n".join(path.read_text() for path in sorted((REPO / "rules").glob("*.smk")))
    (ours,) = re.findall(r'^COMPARISON_CATEGORY = "([^"]+)"', rules, re.MULTILINE)
    others = set(re.findall(r'category="([^"]+)"', rules)) | set(re.findall(r'^BEYOND_CATEGORY = "([^"]+)"', rules,
                                                                             re.MULTILINE))  # fmt: skip
    assert {"Data", "Pretraining", "Fine-tuning", "Slimming", "Open questions beyond the papers"} <= others
    assert all(ours.casefold() < other.casefold() for other in others)
    assert rules.count("category=COMPARISON_CATEGORY") == 2  # the csv and the markdown


def test_finetune_figures_draw_scratch_runs_beside_the_pretrained_ones_never_averaged_in(tmp_path, kept_figures):
    rows = []
    for size in ("vit_tiny12x1", "vit_tiny12x4"):
        for fraction in (0.5, 1.0):
            rows += finetune_rows("dior_r", size, "dota/mAP", [40.0], fraction=fraction)
        rows += [{**row, "init": "scratch"} for row in finetune_rows("dior_r", size, "dota/mAP", [4.0])]
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    finetune_plots.metric_vs_size(tmp_path / "metrics.csv", tmp_path / "size.png")
    finetune_plots.metric_vs_fraction(tmp_path / "metrics.csv", tmp_path / "fraction.png")
    size_ax, fraction_ax = (fig.axes[0] for fig in kept_figures)
    for ax in (size_ax, fraction_ax):
        assert finetune_plots.SCRATCH_LABEL in legend_labels(ax)
    ours, scratch = (line for line in size_ax.get_lines() if line.get_label() in ("ours", finetune_plots.SCRATCH_LABEL))
    assert set(ours.get_ydata()) == {40.0} and set(scratch.get_ydata()) == {4.0}  # two lines, no mean of both
    hollow = [c for c in fraction_ax.collections if len(c.get_offsets()) == 2 and c.get_offsets()[:, 1].max() == 4.0]
    assert hollow and (hollow[0].get_offsets()[:, 0] == 100.0).all()
