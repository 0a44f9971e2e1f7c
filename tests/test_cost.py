"""What a reproduction costs (rsfm.cost, rules run_cost, paper_cost, cost_figure): jobs' benchmark files summed per
stage and size with their GPU-hours, and the paper config's projection from its plan and the measured throughput."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from rsfm.config import validate_config
from rsfm.cost import build_projection, job_costs, read_throughput, run_cost
from rsfm.errors import DataError

from .conftest import REPO
from .test_workflow import snakemake

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
THROUGHPUT = REPO / "benchmarks/measured/pretrain_throughput.csv"
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def config_of(name: str) -> dict:
    return validate_config(yaml.safe_load((REPO / "config" / name).read_text()), SCHEMA, base_dir=REPO)


def write_benchmark(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t1\t1\t1\t1\t0\t0\t1\t{cpu}\n")


def test_jobs_are_summed_per_stage_and_size_with_the_gpus_their_allocations_hold(tmp_path):
    config = config_of("paper.yaml")  # B12x1 pretrains on 1 node x 8 GPUs, L12x4 on 2 x 8; fine-tuning 8 per job
    root = tmp_path / "logs/benchmarks"
    write_benchmark(root / "pretrain/vit_b12x1.tsv", 3600, 7200)
    write_benchmark(root / "pretrain/vit_l12x4.tsv", 1800, 100)
    write_benchmark(root / "finetune/dior_r/vit_l12x4/pretrained/f1_s0.tsv", 900, 50)
    write_benchmark(root / "finetune/dota_v2/vit_l12x4/pretrained/f1_s0.submission.tsv", 360, 10)
    write_benchmark(root / "data/tile/dota_v2.tsv", 60, 60)
    write_benchmark(root / "paper_comparison.tsv", 1, 1)
    jobs = job_costs(root, config).set_index("job")
    assert jobs.loc["vit_b12x1", ["stage", "size", "gpus", "gpu_h"]].tolist() == ["pretrain", "vit_b12x1", 8, 8.0]
    assert jobs.loc["vit_l12x4", "gpu_h"] == pytest.approx(0.5 * 16)
    assert jobs.loc["dior_r/vit_l12x4/pretrained/f1_s0", ["size", "gpus"]].tolist() == ["vit_l12x4", 8]
    assert jobs.loc["dota_v2/vit_l12x4/pretrained/f1_s0.submission", "gpus"] == 1  # an export holds one GPU
    assert jobs.loc["tile/dota_v2", ["stage", "gpus"]].tolist() == ["data", 0]
    assert jobs.loc["paper_comparison", "stage"] == "workflow"
    summary = run_cost(jobs.reset_index()).set_index(["stage", "size"])
    assert summary.loc[("finetune", "vit_l12x4"), "jobs"] == 2
    assert summary.loc[("finetune", "vit_l12x4"), "gpu_h"] == pytest.approx(900 * 8 / 3600 + 360 / 3600)
    assert summary.loc[("pretrain", "vit_b12x1"), ["wall_h", "cpu_h"]].tolist() == [1.0, 2.0]
    (root / "data/tile/broken.tsv").write_text("not a benchmark\n")
    with pytest.raises(DataError, match=r"broken\.tsv: not a Snakemake benchmark file"):
        job_costs(root, config)


@pytest.fixture(scope="module")
def paper_projection(tmp_path_factory):
    """The paper config's projection, written as rule paper_cost writes it (its FLOPs counts take seconds)."""
    path = tmp_path_factory.mktemp("plan") / "paper_projection.csv"
    build_projection(REPO / "config/paper.yaml", THROUGHPUT, SCHEMA, path, base_dir=REPO)
    return path


def test_the_paper_projection_uses_measured_rates_where_measured_and_the_closest_mfu_elsewhere(paper_projection):
    from rsfm.pretrain.compute import flops_per_image
    from rsfm.pretrain.run import run_config

    config = config_of("paper.yaml")
    throughput = read_throughput(THROUGHPUT)
    table = pd.read_csv(paper_projection).set_index(["stage", "size"])
    b, g = table.loc[("pretrain", "vit_b12x1")], table.loc[("pretrain", "vit_g12x4")]
    seen = 400 * (1_000_848 // 4096) * 4096  # 400 epochs of Million-AID, each of whole global batches (drop_last)
    assert b["images"] == seen
    assert b["images_per_s_per_gpu"] == 2885 and b["basis"].startswith("measured")  # the table's batch-256 row
    assert b["gpu_h"] == pytest.approx(seen / 2885 / 3600) and b["wall_h"] == pytest.approx(b["gpu_h"] / 8)
    # a share of the images at the full run's steps costs what the full run costs (pretrain.data_scaling)
    assert table.loc[("pretrain", "vit_b12x1_data0.1"), "images"] == seen
    l_row = throughput[(throughput["model"] == "vit_l12x4") & (throughput["batch_per_gpu"] == 256)].iloc[0]
    expected = l_row["mfu"] * l_row["peak_tflops"] * 1e12 / flops_per_image(run_config(config["pretrain"], "vit_g12x4",
                                                                                       "", ""))  # fmt: skip
    assert g["images_per_s_per_gpu"] == pytest.approx(expected) and "vit_l12x4" in g["basis"]
    assert g["gpu_h"] > table.loc[("pretrain", "vit_l12x4"), "gpu_h"] > b["gpu_h"]
    moco = table.loc[("pretrain", "vit_b12x1_moco")]  # MoCo's two full views: not MAE's measured rate
    assert moco["basis"].startswith("projected") and moco["images_per_s_per_gpu"] < 2885
    assert "lower bound" in table.loc[("pretrain", "vit_b12x1_slimmable"), "basis"]
    ft = table.loc[("finetune", "vit_g12x4")]
    assert ft["jobs"] == 24 and ft["gpu_h"] == 24 * 48 * 16 and ft["basis"].startswith("upper bound")
    # B12x1's fine-tuning: 24 of its own, 6 slimmed (3 widths x 2 benchmarks), 4 from shares (2 x 2 benchmarks)
    assert table.loc[("finetune", "vit_b12x1"), "jobs"] == 24 + 6 + 4


def test_the_projection_runs_alone_from_the_paper_plan(tmp_path):
    # what a user asks before anything runs: only the plan and the throughput table are read
    snakemake("results/cost/paper_projection.csv", "--cores", "1", "--directory", str(tmp_path), "--configfile",
              str(REPO / "config/paper.yaml"))  # fmt: skip
    table = pd.read_csv(tmp_path / "results/cost/paper_projection.csv")
    assert set(table["stage"]) == {"pretrain", "finetune"} and len(table) == 7 + 4 + 4
    assert table["gpu_h"].notna().all()


def test_a_throughput_table_without_its_columns_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("model,images_per_s\nvit_b12x1,10\n")
    with pytest.raises(DataError, match="missing columns"):
        build_projection(REPO / "config/paper.yaml", tmp_path / "t.csv", SCHEMA, tmp_path / "out.csv", base_dir=REPO)
    assert not (tmp_path / "out.csv").exists()


def test_the_figure_draws_both_costs(tmp_path, paper_projection):
    from rsfm.plots.cost import draw

    root = tmp_path / "logs/benchmarks"
    write_benchmark(root / "pretrain/vit_tiny12x1.tsv", 70, 30)
    write_benchmark(root / "finetune/potsdam/vit_tiny12x1/pretrained/f1_s0.tsv", 20, 15)
    run_cost(job_costs(root, config_of("config.yaml"))).to_csv(tmp_path / "run.csv", index=False)
    draw(tmp_path / "run.csv", paper_projection, tmp_path / "cost.png")
    assert (tmp_path / "cost.png").stat().st_size > 10_000
