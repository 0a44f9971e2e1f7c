"""Dense tasks on post-hoc slimmed encoders (rsfm.dense_slimming): the backbone slims the loaded encoder to a width
and trains, resumes and counts FLOPs as that smaller model; init slim<w> runs are planned and validated; retention is
a run's headline score over its width-1 run's."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml

from rsfm.errors import ConfigError, DataError
from rsfm.finetune.backbone import ParallelViTDet
from rsfm.finetune.configs import parse_init, slim_init
from rsfm.models.slim import slim_model

from .conftest import REPO
from .test_finetune_backbone import exported  # noqa: F401  (the module's fixture: a tiny 12x4 export)


def test_slimmed_backbone_holds_the_slimmed_weights_and_resumes(exported):  # noqa: F811
    full = ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(exported), window_size=4)
    half = ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(exported), window_size=4,
                          width=0.5)  # fmt: skip
    assert half.load_report["slimmed"] == {"width": 0.5, "head_dim": 16, "mlp_hidden": 192}
    attn = half.blocks[3].attns[1].attn
    assert attn.qkv.weight.shape == (3 * 3 * 16, 96) and attn.proj.weight.shape == (96, 48)
    # paper 2's rule on the loaded weights: the same blocks as slimming the unslimmed backbone's
    expected = slim_model(full.blocks, 0.5)
    for (name, ours), (_, theirs) in zip(half.blocks.state_dict().items(), expected.state_dict().items(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=name)
    images = torch.randn(2, 3, 64, 64)
    out = half(images)
    assert out[-1].shape == (2, 96, 8, 8) and torch.isfinite(out[-1]).all()
    out[-1].sum().backward()
    assert attn.qkv.weight.grad is not None  # the slimmed weights train
    # a resumed or tested run builds the same slimmed model and loads its checkpoint strictly
    again = ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, pretrained=str(exported), window_size=4,
                           width=0.5)  # fmt: skip
    again.load_state_dict(half.state_dict(), strict=True)
    with pytest.raises(ConfigError, match="give pretrained"):
        ParallelViTDet("vit_tiny12x4", img_size=64, patch_size=8, width=0.5)


def test_backbone_flops_fall_with_the_width():
    from rsfm.dense_slimming import backbone_flops

    backbone = {"type": "ParallelViTDet", "arch": "vit_tiny12x1", "img_size": 128, "patch_size": 8,
                "window_size": 4, "pretrained": "unused.safetensors"}  # fmt: skip
    full, half, tenth = (backbone_flops(backbone, w) for w in (1.0, 0.5, 0.1))
    assert full > half > tenth > 0 and 0.45 < half / full < 0.55  # patch embedding and norms are not slimmed


def test_init_names_and_planned_slim_runs():
    from rsfm.config import validate_config
    from rsfm.finetune.run import planned_runs

    assert parse_init("slim0.5").width == 0.5 and parse_init("slim0.5").pretrained
    assert parse_init("scratch") == parse_init("scratch") and not parse_init("scratch").pretrained
    assert slim_init(0.25) == "slim0.25"
    for bad in ("slim1", "slim0", "slimx", "tuned"):
        with pytest.raises(ConfigError, match="unknown encoder init"):
            parse_init(bad)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    slim = config["finetune"]["slim"]
    runs = [run for run in planned_runs(config["finetune"]) if run[2].startswith("slim")]
    assert runs == [(b, s, "slim0.5", 1.0, 0) for b in slim["benchmarks"] for s in slim["sizes"]]
    config["finetune"]["slim"] = {"widths": [0.5], "benchmarks": ["dota_v3"], "sizes": ["vit_b12x1"]}
    config["finetune"]["fractions"] = [0.5]
    schema = REPO / "workflow/schemas/config.schema.yaml"
    with pytest.raises(ConfigError) as error:
        validate_config(config, schema)
    message = str(error.value)
    assert "'finetune.slim.benchmarks': 'dota_v3' is not in finetune.benchmarks" in message
    assert "'finetune.slim.sizes': 'vit_b12x1' is not in finetune.sizes" in message
    assert "add 1 to finetune.fractions" in message


def tidy(rows):
    base = {"params_m": 1.0, "fraction": 1.0, "split": "test"}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_retention_is_the_slimmed_score_over_the_full_one_per_seed():
    from rsfm.dense_slimming import dense_retention

    table = tidy([
        {"benchmark": "dior_r", "size": "s", "init": "pretrained", "seed": 0, "metric": "dota/mAP", "value": 40.0},
        {"benchmark": "dior_r", "size": "s", "init": "pretrained", "seed": 1, "metric": "dota/mAP", "value": 50.0},
        {"benchmark": "dior_r", "size": "s", "init": "slim0.5", "seed": 0, "metric": "dota/mAP", "value": 30.0},
        {"benchmark": "dior_r", "size": "s", "init": "slim0.5", "seed": 1, "metric": "dota/mAP", "value": 45.0},
        {"benchmark": "dior_r", "size": "s", "init": "scratch", "seed": 0, "metric": "dota/mAP", "value": 5.0},
        {"benchmark": "dior_r", "size": "s", "init": "slim0.5", "seed": 0, "metric": "dota/mAP", "value": 1.0,
         "split": "val"},  # not the headline split
        {"benchmark": "potsdam", "size": "s", "init": "pretrained", "seed": 0, "metric": "mIoU", "value": 60.0},
        {"benchmark": "potsdam", "size": "s", "init": "slim0.5", "seed": 0, "metric": "mIoU", "value": 48.0},
        {"benchmark": "potsdam", "size": "s", "init": "slim0.5", "seed": 0, "metric": "aAcc", "value": 99.0},
        # pretrained on half the images (pretrain.data_scaling): width 1, but not the reference
        {"benchmark": "potsdam", "size": "s", "init": "data0.5", "seed": 0, "metric": "mIoU", "value": 24.0},
    ])  # fmt: skip
    flops = {(b, "s", w): w for b in ("dior_r", "potsdam") for w in (1.0, 0.5)}
    dense = dense_retention(table, flops)
    half = dense[dense["width"] == 0.5].set_index(["benchmark", "seed"])["retention"]
    assert half.to_dict() == {("dior_r", 0): 0.75, ("dior_r", 1): 0.9, ("potsdam", 0): 0.8}
    assert set(dense["task"]) == {"rotated detection", "semantic segmentation"}
    assert (dense[dense["width"] == 1.0]["retention"] == 1.0).all() and len(dense) == 3 * 2
    with pytest.raises(DataError, match="no pretrained run on all the data"):
        dense_retention(table[table["init"] != "pretrained"], flops)


def test_figure_draws_dense_retention_beside_classification(tmp_path):
    from rsfm.plots.dense_slimming import draw

    dense = pd.DataFrame({
        "benchmark": ["dior_r", "dior_r", "potsdam", "potsdam"],
        "task": ["rotated detection"] * 2 + ["semantic segmentation"] * 2,
        "size": "vit_tiny12x1", "width": [0.5, 1.0] * 2, "rel_flops": [0.5, 1.0] * 2, "seed": 0,
        "metric": "m", "split": "test", "value": [1, 2, 3, 4], "reference": [2, 2, 4, 4],
        "retention": [0.5, 1.0, 0.75, 1.0],
    })  # fmt: skip
    probes = pd.DataFrame({"encoder": "vit_tiny12x1", "variant": "first-all", "probe": "knn",
                           "width": [0.5, 1.0], "rel_flops": [0.5, 1.0], "retention": [0.9, 1.0]})  # fmt: skip
    dense.to_csv(tmp_path / "dense.csv", index=False)
    probes.to_csv(tmp_path / "probes.csv", index=False)
    draw(tmp_path / "dense.csv", tmp_path / "probes.csv", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000
