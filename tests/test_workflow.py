"""The workflow through Snakemake itself: planning on both configs, config errors, and the default run end to end."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rsfm.finetune.run import run_dir
from rsfm.workflow import workflow_rules

from .checks import assert_dota_submission, assert_finetune_run, assert_loveda_submission, majority_class_miou
from .conftest import REPO, clone_worktree
from .workflow_dag import dag_jobs

SLIM_FIGURES = ("retention_vs_compute", "per_model", "knn_vs_linear", "ablations", "scaled_models", "redundancy_curves",
                "slimmable_vs_regular")  # fmt: skip
# the default config's pretraining runs: MAE per size, then slimmable MAE, MoCo v3 and slimmable MoCo v3 at 12x1
RUNS = ("vit_tiny12x1", "vit_tiny12x4", "vit_tiny12x1_slimmable", "vit_tiny12x1_moco", "vit_tiny12x1_moco_slimmable")
DATA_RUNS = ("vit_tiny12x1_data0.5",)  # pretrain.data_scaling: not probed by the slimming study


def snakemake(*args, cwd=REPO, check=True, repo=REPO):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """Rule -> job count from the table Snakemake prints for a dry run."""
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_default_plans_synthetic_data_stage(tmp_path):
    result = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config/config.yaml"))
    jobs = planned_jobs(result.stdout)
    n = 8  # datasets in config/config.yaml
    assert jobs["synthesize"] == n and jobs["convert"] == n and jobs["data_summary"] == 1
    assert jobs["tile"] == 4  # millionaid shards, dota_v2 and dior_r windows, potsdam crops
    assert "download" not in jobs and "extract" not in jobs
    assert jobs["pretrain"] == jobs["pretrain_loss_curve"] == len(RUNS) + len(DATA_RUNS)
    # sizes x benchmarks x (pretrained fractions + scratch), one seed; then width 0.5 on two benchmarks, one size;
    # then the encoder pretrained on half the images on Potsdam
    assert jobs["finetune"] == 2 * 4 * (2 + 1) + 2 + 1
    assert jobs["data_scaling_table"] == jobs["data_scaling_figure"] == 1
    assert jobs["finetune_submission"] == 2 * 2  # DOTA v2.0 and LoveDA test servers, per size
    assert jobs["finetune_table"] == jobs["finetune_vs_size"] == jobs["finetune_vs_fraction"] == 1
    assert jobs["scaling_law"] == jobs["scaling_law_figure"] == 1
    assert jobs["run_cost"] == jobs["paper_cost"] == jobs["cost_figure"] == 1
    assert jobs["slim_features"] == jobs["slim_probe"] == jobs["slim_redundancy"] == len(RUNS) * 2  # x datasets
    assert all(jobs[f"slim_{figure}"] == 1 for figure in SLIM_FIGURES)
    assert jobs["paper_comparison"] == 1


def test_paper_plan_as_documented_from_the_repository():
    # from the checkout itself, where config/config.yaml exists too: the paper config replaces it, never merges
    snakemake("-n", "--configfile", "config/paper.yaml", "--quiet", "rules")


def test_paper_plans_download_verify_extract_convert_tile_for_every_dataset(tmp_path):
    result = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(REPO / "config/paper.yaml"))
    jobs = planned_jobs(result.stdout)
    for rule in ("download", "verify", "extract", "convert"):
        assert jobs[rule] == 13, (rule, jobs)
    assert jobs["tile"] == 4 and "synthesize" not in jobs
    # the sizes, then slimmable MAE, MoCo v3 and slimmable MoCo v3 at B12x1, then B12x1 and L12x4 on 10% and 30%
    assert jobs["pretrain"] == 4 + 3 + 4
    # multi-node allocations: one task per node, GPUs as gres (see rules/common.smk); a job's block has no blank line
    # (a match may not run on into the next job's)
    plans = dict(
        re.findall(r"rule pretrain:\n(?:.+\n)*?\s+wildcards: run=([\w.]+)\n\s+resources: ([^\n]+)", result.stdout)
    )
    assert "nodes=8" in plans["vit_g12x4"] and "tasks=8" in plans["vit_g12x4"] and "gres=gpu:8" in plans["vit_g12x4"]
    assert "nodes=1" in plans["vit_b12x1"] and "nodes=2" in plans["vit_l12x4"]
    # every size x benchmark x data fraction; then 3 slimmed widths x 2 benchmarks x 2 sizes (finetune.slim); then
    # 2 pretraining shares x 2 benchmarks x 2 sizes (pretrain.data_scaling)
    assert jobs["finetune"] == 4 * 4 * 6 + 3 * 2 * 2 + 2 * 2 * 2
    runs = re.findall(r"rule finetune:\n(?:.+\n)*?\s+wildcards: ([^\n]+)\n\s+resources: ([^\n]+)", result.stdout)
    assert len(runs) == 116 and all("gres=gpu:8" in res for _, res in runs)
    fractions = {re.search(r"fraction=([0-9.]+)", wc).group(1) for wc, _ in runs}
    assert fractions == {"0.01", "0.05", "0.1", "0.25", "0.5", "1"}
    g_runs = [res for wc, res in runs if "size=vit_g12x4" in wc]
    assert all("nodes=2" in res and "tasks=2" in res for res in g_runs)
    assert jobs["slim_features"] == (4 + 3 + 7) * 4  # our 4 sizes, 3 B12x1 runs, 7 external encoders x 4 tasks
    assert jobs["paper_comparison"] == 1
    assert jobs["scaling_law"] == jobs["scaling_law_figure"] == 1  # the 4 sizes x 6 fractions of every benchmark
    assert jobs["run_cost"] == jobs["paper_cost"] == jobs["cost_figure"] == 1


def test_every_rule_reads_its_own_site_and_logs_and_benchmarks_in_the_one_environment(tmp_path):
    # no rule names itself in its resources (Snakemake hands their functions the rule's name, rules/common.smk): each
    # job still goes to its own rule's partition and account, and its benchmark lies beside its log
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"]["datasets"]["eurosat"]["source"] = "official"  # plans download, verify and extract too
    rules = workflow_rules(REPO / "Snakefile")
    for rule in rules:
        config["resources"]["rules"].setdefault(rule, {}).update(partition=f"p_{rule}", account=f"a_{rule}")
    (tmp_path / "sites.yaml").write_text(yaml.safe_dump(config))
    jobs = [job for job in dag_jobs(tmp_path / "sites.yaml", tmp_path / "run") if job["script"]]
    assert {job["rule"] for job in jobs} == {rule for rule in rules if not rule.startswith("all")}
    for job in jobs:
        rule, resources, (log,) = job["rule"], job["resources"], job["log"]
        assert (resources["slurm_partition"], resources["slurm_account"]) == (f"p_{rule}", f"a_{rule}"), rule
        assert log.startswith("logs/") and job["benchmark"] == f"logs/benchmarks/{log[5:-4]}.tsv", rule
        assert job["conda"] == "envs/rsfm.yaml", rule


def test_bad_config_keys_stop_before_any_job_all_named_at_once(tmp_path):

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"]["datasets"]["dota_v2"]["tiling"]["gapp"] = 200
    config["pretrain"]["per_size"] = {"vit_tiny12x4x": {"micro_batch": 2}}
    config["resources"]["rules"]["tilee"] = {"mem_mb": 8000}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "1", "--directory", str(tmp_path), "--configfile", str(tmp_path / "bad.yaml"),
                       check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "invalid configuration (3 problems)" in output
    assert "config key 'data.datasets.dota_v2.tiling.gapp' is not allowed" in output
    assert "'pretrain.per_size.vit_tiny12x4x' is not allowed; did you mean 'vit_tiny12x4'" in output
    assert "'resources.rules.tilee' is not allowed; did you mean 'tile'" in output
    assert not {"data", "results", "logs"} & {p.name for p in tmp_path.iterdir()}  # no job started


def planned_wildcards(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run plans."""
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n)*)", output, re.MULTILINE):
        found = re.search(r"^\s+wildcards: (.*)$", body, re.MULTILINE)
        jobs.append((rule, dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}))
    return jobs


def assert_one_encoders_chain(output: str, run: str) -> None:
    """The plan redoes exactly what ``run``'s encoder feeds: its pretraining, fine-tuning runs, slimming sweeps and
    probes, and the tables and figures over them; no job of another encoder."""
    jobs = planned_wildcards(output)
    others = [(rule, wc) for rule, wc in jobs if {wc.get(k, run) for k in ("run", "size", "encoder")} != {run}]
    assert not others, others
    counts = {rule: sum(r == rule for r, _ in jobs) for rule, _ in jobs}
    assert counts["pretrain"] == 1 and counts["finetune"] == 4 * 3 and counts["finetune_submission"] == 2, counts
    assert counts["slim_features"] == counts["slim_probe"] == counts["slim_redundancy"] == 2, counts
    assert counts["finetune_table"] == counts["slim_tables"] == 1
    assert not {"synthesize", "convert", "tile"} & set(counts)  # the data stays


def test_key_order_and_other_datasets_rerun_nothing(tmp_path):
    # Snakemake compares params by their text: the params are sorted, so a config written in another key order (as
    # yaml.safe_dump writes it) plans nothing, and neither does an edit of another dataset
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    (tmp_path / "first.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    args = ("--cores", "1", "--directory", str(tmp_path), "--configfile")
    snakemake("data/prepared/eurosat", *args, str(tmp_path / "first.yaml"))
    config["data"]["datasets"]["loveda"]["synthetic"]["seed"] = 9
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    again = snakemake("-n", "data/prepared/eurosat", *args, str(tmp_path / "second.yaml"))
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]


def dvc(*args, cwd: Path, package: Path | None = None, env: dict[str, str] | None = None) -> str:
    """dvc in ``cwd`` with this environment's snakemake first on PATH (the stages call it) and the package of the
    clone ``package`` (default: ``cwd``), plus ``env``."""
    env = {
        **os.environ, **(env or {}), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str((package or cwd) / "src"), "DVC_NO_ANALYTICS": "1",
    }  # fmt: skip
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=3600,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.mark.slow
def test_default_workflow_end_to_end(tmp_path):
    """`dvc repro` on a fresh clone runs the default workflow end to end through Snakemake (one stage per phase);
    a second `dvc repro` does nothing; a figure-only parameter reruns the figures stage alone, and inside it only
    the one rule that reads it; a forced figure rule reruns alone; the report bundles every figure and table."""
    clone = clone_worktree(tmp_path / "clone")
    started = time.monotonic()
    first = dvc("repro", cwd=clone)
    timings = {"dvc repro, fresh clone": time.monotonic() - started}
    ran = stages_run(first)
    assert ran[0] == "data" and ran[-1] == "figures", first[-3000:]
    stages = ["data", "pretrain@vit_tiny12x1", "pretrain@vit_tiny12x4", *(f"pretrain_run@{r}" for r in RUNS[2:]),
              "pretrain_data@vit_tiny12x1-0.5", "finetune", "slimming", "figures"]  # fmt: skip
    assert sorted(ran) == sorted(stages)
    tmp_path = clone  # the results below are the clone's
    args = ("--cores", "2", "--directory", str(clone), "--configfile", str(clone / "config/config.yaml"))
    summary = pd.read_csv(tmp_path / "results/data/summary.csv", keep_default_na=False)
    totals = summary[summary["class"] == "*"].set_index(["dataset", "split", "unit"])["count"]
    assert totals["dota_v2", "train", "windows"] > 0 and totals["dota_v2", "train", "objects"] > 0
    assert totals["potsdam", "train", "crops"] == 3 * 9  # three 1200 x 1200 tiles, 512 crops every 384 px
    assert totals["millionaid", "train", "images"] == 96
    assert totals["eurosat", "train", "images"] > 0
    assert (tmp_path / "results/figures/data_samples.png").stat().st_size > 10_000
    # every configured class of the detection sets is present in the windows
    dota_classes = summary[(summary["dataset"] == "dota_v2") & (summary["class"] != "*")]["class"]
    assert len(set(dota_classes)) >= 5
    for size in ("vit_tiny12x1", "vit_tiny12x4"):  # two pretrained encoders, losses clearly falling
        metrics = pd.read_csv(tmp_path / f"results/pretrain/{size}/metrics.csv")
        quarter = len(metrics) // 4
        late = metrics["loss"].iloc[-quarter:].mean()
        assert late < 0.85 * metrics["loss"].iloc[:quarter].mean() and late < 0.75 * metrics["loss"].iloc[0]
        assert np.isfinite(metrics["grad_norm"]).all() and np.isfinite(metrics["images_per_s"]).all()
        assert (tmp_path / f"results/pretrain/{size}/encoder.safetensors").stat().st_size > 100_000
        assert (tmp_path / f"results/figures/pretrain_loss_{size}.png").is_file()
    table = pd.read_csv(tmp_path / "results/finetune/metrics.csv")
    headline = table[table["metric"].isin(["dota/mAP", "mIoU"])]
    # sizes x benchmarks x (2 fractions + scratch), and the two runs of a slimmed encoder (finetune.slim)
    # and the run from the encoder pretrained on half the images (pretrain.data_scaling)
    assert len(headline) == 2 * 4 * 3 + 2 + 1
    assert set(headline["benchmark"]) == {"dota_v2", "dior_r", "potsdam", "loveda"}
    assert headline.groupby("init").size().to_dict() == {"pretrained": 16, "scratch": 8, "slim0.5": 2, "data0.5": 1}
    for figure in ("finetune_vs_size", "finetune_vs_fraction"):
        assert (tmp_path / f"results/figures/{figure}.png").stat().st_size > 10_000
    for size in ("vit_tiny12x1", "vit_tiny12x4"):  # every run as rule finetune leaves it, and both server exports
        for benchmark in ("dota_v2", "dior_r", "potsdam", "loveda"):
            for fraction in (0.5, 1.0):
                folder = run_dir(benchmark, size, "pretrained", fraction, 0, root=tmp_path / "results/finetune")
                assert_finetune_run(folder, benchmark, size, fraction, 0, iterations=12)
            scratch = run_dir(benchmark, size, "scratch", 1.0, 0, root=tmp_path / "results/finetune")
            assert_finetune_run(scratch, benchmark, size, 1.0, 0, iterations=12)
            assert json.loads((scratch / "run.json").read_text())["encoder_sha256"] is None
        for benchmark in ("potsdam", "loveda"):  # pretrained and scratch segmenters beat the best constant map
            for init in ("pretrained", "scratch"):
                folder = run_dir(benchmark, size, init, 1.0, 0, root=tmp_path / "results/finetune")
                score = next(r["value"] for r in json.loads((folder / "metrics.json").read_text())["rows"]
                             if r["metric"] == "mIoU")  # fmt: skip
                assert score > majority_class_miou(folder / "config.py"), (benchmark, size, init, score)
        for benchmark, check in (("dota_v2", assert_dota_submission), ("loveda", assert_loveda_submission)):
            check(run_dir(benchmark, size, "pretrained", 1.0, 0, root=tmp_path / "results/finetune") / "submission.zip")
    assert not list((tmp_path / "results/finetune").rglob(".submission-*"))  # scratch removed
    probes = pd.read_csv(tmp_path / "results/slimming/probes.csv")
    assert len(probes["width"].unique()) >= 8 and set(probes["encoder"]) == set(RUNS)
    slimmable = pd.read_csv(tmp_path / "results/pretrain/vit_tiny12x1_slimmable/metrics.csv")
    quarter = len(slimmable) // 4  # the sandwich rule trains as the plain MAE does (full width's loss logged)
    assert slimmable["loss"].iloc[-quarter:].mean() < 0.85 * slimmable["loss"].iloc[:quarter].mean()
    for run in RUNS[3:]:  # MoCo v3: InfoNCE over the 8 keys of a step starts near 2 x 2T ln 8 and stays finite
        loss = pd.read_csv(tmp_path / f"results/pretrain/{run}/metrics.csv")["loss"]
        assert loss.iloc[0] == pytest.approx(4 * 0.2 * np.log(8), rel=0.2) and np.isfinite(loss).all(), run
    pairs = probes.groupby(["method", "training"])["encoder"].unique()
    assert {(m, t) for m, t in pairs.index} == {("mae", "regular"), ("mae", "slimmable"), ("moco", "regular"),
                                                 ("moco", "slimmable")}  # fmt: skip
    for figure in SLIM_FIGURES:
        assert (tmp_path / f"results/figures/slim_{figure}.png").stat().st_size > 10_000
    # the deployable export: the best MLP width within 60% of the FLOPs, a timm model (rsfm.slimming.export)
    exported = tmp_path / "results/slimming/export/vit_tiny12x1/flops0.6"
    record = json.loads((exported / "export.json").read_text())
    assert record["variant"] == "first-mlp" and record["rel_flops"] <= 0.6 and record["max_feature_difference"] < 1e-4
    import timm

    model = timm.create_model(f"local-dir:{exported}", pretrained=True)
    assert sum(p.numel() for p in model.parameters()) == record["params"]
    # the scaling law is refused on the default's two sizes, and the table and figure say why (rsfm.scaling)
    fits = pd.read_csv(tmp_path / "results/finetune/scaling_law.csv")
    assert len(fits) == 4 * 2 and set(fits["status"]) == {"refused"}
    assert fits["reason"].str.startswith("2 sizes have results (vit_tiny12x1, vit_tiny12x4)").all()
    assert (tmp_path / "results/figures/scaling_law.png").stat().st_size > 10_000
    # dense tasks on post-hoc slimmed encoders: width 0.5 fine-tuned beside width 1 (rsfm.dense_slimming)
    dense = pd.read_csv(tmp_path / "results/finetune/slim_dense.csv")
    assert sorted(zip(dense["benchmark"], dense["width"], strict=True)) == [(b, w) for b in ("dior_r", "potsdam")
                                                                            for w in (0.5, 1.0)]  # fmt: skip
    half = dense[dense["width"] == 0.5]
    assert half["rel_flops"].between(0.4, 0.6).all()
    # retention is the score over width 1's, undefined where that scored 0 (the default's 12-iteration detectors)
    assert (np.isfinite(half["retention"]) == (half["reference"] > 0)).all()
    assert np.isfinite(half.loc[half["benchmark"] == "potsdam", "retention"]).all()
    slimmed_run = run_dir("dior_r", "vit_tiny12x1", "slim0.5", 1.0, 0, root=tmp_path / "results/finetune")
    assert "width=0.5" in (slimmed_run / "config.py").read_text()
    assert (tmp_path / "results/figures/slim_dense.png").stat().st_size > 10_000
    # pretraining-data scaling: half the images for the full run's 180 steps, fine-tuned beside the full encoder
    shared = json.loads((tmp_path / "results/pretrain/vit_tiny12x1_data0.5/encoder.json").read_text())["pretraining"]
    assert (shared["images"], shared["steps"], shared["budget"]) == (48, 180, "steps")
    scaled = pd.read_csv(tmp_path / "results/finetune/data_scaling.csv").set_index("data_fraction")
    assert scaled["pretrain_images"].to_dict() == {0.5: 48, 1.0: 96} and set(scaled["pretrain_steps"]) == {180}
    assert set(scaled["benchmark"]) == {"potsdam"} and np.isfinite(scaled["value"]).all()
    assert (tmp_path / "results/figures/data_scaling.png").stat().st_size > 10_000
    # what the run cost: every job done before it (figures may still be drawing), CPU-hours only (no job holds a GPU);
    # the paper run's projection
    jobs = pd.read_csv(tmp_path / "results/cost/jobs.csv")
    assert len(jobs) >= 90 and (jobs["gpu_h"] == 0).all() and jobs["wall_s"].gt(0).all()
    assert {"data", "pretrain", "finetune", "slimming"} <= set(jobs["stage"])
    assert set(jobs.loc[jobs["stage"] == "pretrain", "size"]) == {*RUNS, *DATA_RUNS}
    projected = pd.read_csv(tmp_path / "results/cost/paper_projection.csv")
    assert projected.loc[projected["stage"] == "pretrain", "gpu_h"].gt(0).all() and len(projected) == 11 + 4
    assert (tmp_path / "results/figures/cost.png").stat().st_size > 10_000
    # ours vs paper renders on the default, its toy rows labelled as such (rsfm.comparison)
    comparison = pd.read_csv(tmp_path / "results/paper_comparison.csv")
    assert set(comparison[comparison["quantity"] == "finetune"]["scale"].dropna()) == {"toy"}
    assert "not comparable with the papers" in (tmp_path / "results/paper_comparison.md").read_text()
    again = snakemake("-n", *args, repo=clone)
    assert "Nothing to be done" in again.stdout + again.stderr
    # what reruns after an edit (dry runs): a retrained encoder -> its chain; one size's pretraining settings -> that
    # size's chain; probe seeds -> the probes and what reads them, no sweep, no training
    retrain = snakemake("-n", "--forcerun", "results/pretrain/vit_tiny12x4/encoder.safetensors", *args, repo=clone)
    assert_one_encoders_chain(retrain.stdout, "vit_tiny12x4")
    edited = yaml.safe_load((clone / "config/config.yaml").read_text())
    edited["pretrain"]["per_size"] = {"vit_tiny12x4": {"micro_batch": 2}}
    (clone / "edited.yaml").write_text(yaml.safe_dump(edited))
    resized = snakemake("-n", *args[:-1], str(clone / "edited.yaml"), repo=clone)
    assert_one_encoders_chain(resized.stdout, "vit_tiny12x4")
    edited = yaml.safe_load((clone / "config/config.yaml").read_text())
    edited["slimming"]["seeds"] = [0, 1]
    (clone / "edited.yaml").write_text(yaml.safe_dump(edited))
    reseeded = planned_jobs(snakemake("-n", *args[:-1], str(clone / "edited.yaml"), repo=clone).stdout)
    assert reseeded["slim_probe"] == len(RUNS) * 2 and not {"pretrain", "finetune", "slim_features"} & set(reseeded)
    for name in ("finetune", "slimming"):
        assert json.loads((clone / f"results/metrics/{name}.json").read_text())
    assert json.loads((clone / "results/metrics/pretrain_vit_tiny12x1.json").read_text())["steps"] == 180

    started = time.monotonic()
    second = dvc("repro", cwd=clone)
    timings["dvc repro, nothing to do"] = time.monotonic() - started
    assert stages_run(second) == [] and "Data and pipelines are up to date" in second, second[-3000:]

    # a parameter only one figure reads: DVC reruns the figures stage alone, Snakemake inside it that one rule
    config = clone / "config/config.yaml"
    config.write_text(config.read_text().replace("samples_per_dataset: 2", "samples_per_dataset: 3"))
    started = time.monotonic()
    third = dvc("repro", cwd=clone)
    timings["dvc repro, summary.samples_per_dataset changed"] = time.monotonic() - started
    assert stages_run(third) == ["figures"], third[-3000:]
    assert planned_jobs(third) == {"data_samples": 1, "all_figures": 1, "total": 2}, third[-3000:]
    assert "Data and pipelines are up to date" in dvc("status", cwd=clone)

    started = time.monotonic()
    forced = snakemake("--forcerun", "finetune_vs_size", *args, repo=clone)
    timings["snakemake --forcerun finetune_vs_size"] = time.monotonic() - started
    assert planned_jobs(forced.stdout + forced.stderr) == {"finetune_vs_size": 1, "all": 1, "total": 2}

    started = time.monotonic()
    made = snakemake("--report", str(clone / "report.html"), *args, repo=clone)
    assert "(ERROR/" not in made.stdout + made.stderr  # a caption docutils could not render
    timings["snakemake --report"] = time.monotonic() - started
    report = (clone / "report.html").read_text(errors="replace")
    for caption in sorted((REPO / "workflow/report").glob("*.rst")):
        first_words = " ".join(caption.read_text().split()[:6])
        assert first_words in report, caption.name
    print("\n".join(f"{what}: {seconds:.0f} s" for what, seconds in timings.items()))


@pytest.mark.slow
def test_manual_download_stops_with_instructions_then_continues(tmp_path):
    """The official path (download -> verify -> extract -> convert -> tile) for a registration-only dataset."""
    import shutil

    from rsfm.data.synthetic import write_potsdam_like

    config = {
        "data": {
            "root": "data",
            "workers": 1,
            "datasets": {
                "potsdam": {
                    "source": "official",
                    "splits": {"train": ["2_10"], "test": ["2_13"]},
                    "crop": {"size": 512, "stride": 384},
                }
            },
        }
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ("--cores", "1", "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"))
    failed = snakemake("data/tiles/potsdam", *args, check=False)  # targets first: --configfile takes several
    assert failed.returncode != 0
    archives = tmp_path / "data/raw/potsdam/archives"
    log = (tmp_path / "logs/data/download/potsdam.log").read_text()
    assert f"{archives.resolve() / '2_Ortho_RGB.zip'}" in log and "data request form" in log
    assert not (tmp_path / "data/raw/potsdam/archives.json").exists()

    # the user fetches the release and puts the archives where the message said
    write_potsdam_like(tmp_path / "release", {"train": ["2_10", "2_13"]}, tile_size=900, seed=0)
    for folder in ("2_Ortho_RGB", "5_Labels_all", "5_Labels_all_noBoundary"):
        shutil.make_archive(str(archives / folder), "zip", tmp_path / "release", folder)
    snakemake("data/tiles/potsdam", *args)
    index = pd.read_csv(tmp_path / "data/tiles/potsdam/index.csv")
    assert index.groupby("split").size().to_dict() == {
        "test": 1,
        "train": 9,
    }  # train crops at x, y in (0, 384, 388); test whole


def test_planning_imports_no_deep_learning_library(tmp_path):
    # Snakemake parses the Snakefile at every start, twice inside every cluster job: torch, timm or DeepSpeed
    # imported there costs seconds per job (rsfm.slimming.export once cost 6 of a dry run's 11 s); mmengine's Config
    # alone (no torch) is how rsfm.config checks the fine-tuning options
    probe = (
        "import sys\nfrom snakemake.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('IMPORTED', sorted(m for m in ('torch', 'timm', 'deepspeed') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(REPO / "config/config.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert "Job stats" in result.stdout + result.stderr, result.stderr[-3000:]
    assert "IMPORTED []" in result.stdout, result.stdout[-2000:]
