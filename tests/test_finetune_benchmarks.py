"""The benchmark table agrees with what else names the benchmarks: the config schema and the base mm configs."""

import pandas as pd
import pytest
import yaml
from mmengine.config import Config

from rsfm.finetune.benchmarks import BENCHMARKS, headline, server_benchmarks
from rsfm.finetune.export import server_evaluator
from rsfm.finetune.train import _split_of

from .conftest import REPO


def test_the_schema_offers_the_benchmarks_of_the_table():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    finetune = schema["properties"]["finetune"]["properties"]
    assert finetune["benchmarks"]["items"]["enum"] == list(BENCHMARKS)
    assert list(finetune["per_benchmark"]["properties"]) == list(BENCHMARKS)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_base_config_matches_toolbox_headline_split_and_server(name, tmp_path):
    benchmark = BENCHMARKS[name]
    cfg = Config.fromfile(str(REPO / f"config/finetune/{name}.py"), import_custom_modules=False)
    assert cfg.default_scope == benchmark.toolbox
    assert _split_of(cfg.test_dataloader) == benchmark.headline_split
    assert bool(cfg.get("submission")) == (benchmark.server is not None) == (name in server_benchmarks())
    if benchmark.server:
        assert server_evaluator(benchmark.server, tmp_path)["type"].startswith(f"{benchmark.toolbox}.")


def test_headline_keeps_each_benchmarks_own_metric_only():
    table = pd.DataFrame({
        "benchmark": ["dota_v2", "dota_v2", "potsdam", "potsdam", "elsewhere"],
        "metric": ["dota/mAP", "mIoU", "mIoU", "dota/mAP", "mIoU"],
    })  # fmt: skip
    assert headline(table).index.tolist() == [0, 2]
