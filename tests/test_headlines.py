"""Headline JSONs for DVC from the tidy tables."""

import json

import pandas as pd
import pytest

from rsfm import headlines


def test_pretrain_metrics_final_loss_is_the_mean_of_the_last_tenth(tmp_path):
    steps = range(0, 100, 5)
    pd.DataFrame({"step": steps, "loss": [2.0 - s / 100 for s in steps], "images_per_s": 10.0}).to_csv(
        tmp_path / "m.csv", index=False
    )
    out = headlines.pretrain_metrics(tmp_path / "m.csv")
    assert out["steps"] == 96 and out["loss_first"] == 2.0
    assert out["loss_final"] == pytest.approx((2.0 - 0.90 + 2.0 - 0.95) / 2) and out["images_per_s"] == 10.0


def test_finetune_metrics_headline_per_benchmark_size_fraction_mean_over_seeds(tmp_path):
    rows = [
        ("dota_v2", "b", 0.5, 0, "dota/mAP", 10.0), ("dota_v2", "b", 0.5, 1, "dota/mAP", 20.0),
        ("dota_v2", "b", 0.5, 0, "dota/AP50.plane", 99.0), ("loveda", "b", 1.0, 0, "mIoU", 40.0),
        ("loveda", "b", 1.0, 0, "mF1", 1.0),
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=["benchmark", "size", "fraction", "seed", "metric", "value"])
    table.to_csv(tmp_path / "t.csv", index=False)
    out = headlines.finetune_metrics(tmp_path / "t.csv")
    assert out == {
        "dota_v2": {"metric": "dota/mAP", "b": {"fraction_0.5": 15.0}},
        "loveda": {"metric": "mIoU", "b": {"fraction_1": 40.0}},
    }
    table["init"] = "pretrained"
    scratch = table.iloc[[3]].assign(init="scratch", value=5.0)
    pd.concat([table, scratch]).to_csv(tmp_path / "t.csv", index=False)
    out = headlines.finetune_metrics(tmp_path / "t.csv")
    assert out["loveda"]["b"] == {"fraction_1": 40.0, "scratch_fraction_1": 5.0}  # never averaged together


def test_slimming_metrics_main_knn_retention_per_width_and_valid_json(tmp_path):
    columns = ["encoder", "dataset", "variant", "probe", "width", "seed", "retention", "rel_flops"]
    rows = [
        ("e", "d", "first-all", "knn", 0.5, 0, 0.8, 0.3), ("e", "d", "first-all", "knn", 0.5, 1, 0.6, 0.3),
        ("e", "d", "first-all", "linear", 0.5, 0, 0.1, 0.3), ("e", "d", "last-all", "knn", 0.5, 0, 0.2, 0.3),
        ("e", "d", "first-all", "knn", 1.0, 0, float("nan"), 1.0),
    ]  # fmt: skip
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "p.csv", index=False)
    out = headlines.slimming_metrics(tmp_path / "p.csv")
    assert out["e"]["d"]["width_0.5"] == {"retention": pytest.approx(0.7), "rel_flops": 0.3}
    headlines.write_json(out, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["e"]["d"]["width_1"]["retention"] is None  # NaN: null
