"""Pretraining-data scaling (rsfm.data_scaling): encoders pretrained on nested shares of the images are fine-tuned as
init data<f> runs, planned and validated from the two sections; the table puts each score beside the images and
steps its encoder saw; the figure draws it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from rsfm.errors import ConfigError, DataError
from rsfm.finetune.configs import data_init, parse_init

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_init_names_and_planned_runs():
    from rsfm.finetune.run import planned_runs

    assert parse_init("data0.1").data_fraction == 0.1 and parse_init("data0.1").pretrained
    assert parse_init("data0.1").width == 1.0 and parse_init("slim0.5").data_fraction == 1.0
    assert data_init(0.3) == "data0.3"
    for bad in ("data1", "data0", "datax", "data-0.5"):
        with pytest.raises(ConfigError, match="unknown encoder init"):
            parse_init(bad)
    config = default_config()
    scaling = config["pretrain"]["data_scaling"]
    runs = [run for run in planned_runs(config["finetune"], scaling) if run[2].startswith("data")]
    assert runs == [("potsdam", "vit_tiny12x1", "data0.5", 1.0, 0)]
    assert not [run for run in planned_runs(config["finetune"]) if run[2].startswith("data")]  # no pretrain section
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    planned = [run for run in planned_runs(paper["finetune"], paper["pretrain"]["data_scaling"])
               if run[2].startswith("data")]  # fmt: skip
    assert len(planned) == 2 * 2 * 2  # dior_r, potsdam x B12x1, L12x4 x 10%, 30%


def test_bad_data_scaling_plans_are_named():
    from rsfm.config import validate_config

    config = default_config()
    config["pretrain"]["data_scaling"] = {"sizes": ["vit_b12x1"], "fractions": [0.5]}
    config["pretrain"]["runs"]["vit_tiny12x1_data0.5"] = {"size": "vit_tiny12x1"}
    config["finetune"]["data_scaling"] = {"benchmarks": ["dota_v3"]}
    config["finetune"]["fractions"] = [0.5]
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    message = str(error.value)
    assert "'pretrain.data_scaling.sizes': 'vit_b12x1' is not in pretrain.sizes" in message
    assert "'finetune.data_scaling.benchmarks': 'dota_v3' is not in finetune.benchmarks" in message
    assert "'pretrain.data_scaling.sizes': ['vit_b12x1'] are not in finetune.sizes" in message
    assert "add 1 to finetune.fractions" in message
    config = default_config()
    config["pretrain"]["data_scaling"]["fractions"] = [1.0]  # the size's own run: not a share
    config["pretrain"]["data_scaling"]["budget"] = "flops"
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert "data_scaling.fractions" in str(error.value) and "data_scaling.budget" in str(error.value)
    config = default_config()
    config["pretrain"]["runs"]["vit_tiny12x1_data0.5"] = {"size": "vit_tiny12x1", "data_fraction": 0.5}
    config["pretrain"]["data_scaling"]["sizes"] = []
    assert validate_config(config, SCHEMA)  # a named run may take a share of its own


def tidy(rows):
    base = {"params_m": 1.0, "fraction": 1.0, "split": "test", "benchmark": "potsdam", "metric": "mIoU"}
    return pd.DataFrame([{**base, **row} for row in rows])


def encoder(steps):
    return {"model": "s", "pretraining": {"method": "mae", "steps": steps}}


def test_table_puts_each_score_beside_its_pretraining_images_and_steps(tmp_path):
    from rsfm.data_scaling import data_scaling_table, write_table

    table = tidy([
        {"size": "s", "init": "pretrained", "seed": 0, "value": 40.0},
        {"size": "s", "init": "data0.5", "seed": 0, "value": 35.0},
        {"size": "s", "init": "data0.1", "seed": 0, "value": 20.0},
        {"size": "s", "init": "pretrained", "seed": 0, "value": 10.0, "fraction": 0.5},  # not all the training data
        {"size": "s", "init": "scratch", "seed": 0, "value": 5.0},
        {"size": "s", "init": "slim0.5", "seed": 0, "value": 30.0},
        {"size": "s", "init": "data0.5", "seed": 0, "value": 90.0, "metric": "aAcc"},  # not the headline
        {"size": "t", "init": "pretrained", "seed": 0, "value": 50.0},  # not a size of the study
        {"size": "s", "init": "pretrained", "seed": 0, "value": 60.0, "benchmark": "loveda"},  # nor a benchmark
    ])  # fmt: skip
    scaling = {"sizes": ["s"], "fractions": [0.1, 0.5], "budget": "steps"}
    encoders = {"s": encoder(180), "s_data0.5": encoder(180), "s_data0.1": encoder(180)}
    rows = data_scaling_table(table, scaling, ["potsdam"], encoders, images=96)
    assert rows[["data_fraction", "pretrain_images", "value"]].values.tolist() == [[0.1, 10, 20.0], [0.5, 48, 35.0],
                                                                                  [1.0, 96, 40.0]]  # fmt: skip
    assert set(rows["budget"]) == {"steps"} and set(rows["pretrain_steps"]) == {180}
    assert set(rows["task"]) == {"semantic segmentation"}
    with pytest.raises(DataError, match=r"s_data0.1.*run rule pretrain"):
        data_scaling_table(table, scaling, ["potsdam"], {"s": encoder(1), "s_data0.5": encoder(1)}, images=96)
    # the rule's reading of files: encoder.json per run folder, the image count from the shards' index
    arch_files = []
    for run, arch in encoders.items():
        (tmp_path / run).mkdir()
        (tmp_path / run / "encoder.json").write_text(json.dumps(arch))
        arch_files.append(tmp_path / run / "encoder.json")
    (tmp_path / "shards").mkdir()
    pd.DataFrame({"key": range(96), "shard": 0}).to_csv(tmp_path / "shards/index.csv", index=False)
    table.to_csv(tmp_path / "metrics.csv", index=False)
    written = write_table(tmp_path / "metrics.csv", scaling, ["potsdam"], arch_files, tmp_path / "shards",
                          tmp_path / "data_scaling.csv")  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "data_scaling.csv"), written, check_dtype=False)

    from rsfm.plots.data_scaling import draw

    draw(tmp_path / "data_scaling.csv", tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 10_000
