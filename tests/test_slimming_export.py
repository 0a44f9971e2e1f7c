"""rsfm export-slim: the sweep's best width under a FLOPs budget, written as a timm model that a process without
rsfm loads with timm alone and whose features are the slimmed encoder's; the refusals name what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from rsfm.errors import ConfigError, DataError
from rsfm.models.accounting import model_flops
from rsfm.models.slim import slim_model
from rsfm.models.vit import create_encoder
from rsfm.slimming.encoders import file_sha256
from rsfm.slimming.export import choose, export_encoder
from rsfm.slimming.features import EncoderInput, embed

from .conftest import REPO

WIDTHS = (0.1, 0.25, 0.5, 1.0)
IMG, PATCH = 32, 8


def pretrained(folder, name="vit_tiny12x1", seed=0):
    """A pretraining run's export (random weights), as rule pretrain leaves it."""
    torch.manual_seed(seed)
    model = create_encoder(name, img_size=IMG, patch_size=PATCH)
    (folder / name).mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / name / "encoder.safetensors"))
    arch = {"model": name, "img_size": IMG, "patch_size": PATCH, "pretraining": {"method": "mae"}}
    (folder / name / "encoder.json").write_text(json.dumps(arch))
    return model.eval()


def sweep_rows(model, name, sha, retention):
    """Probe rows of the sweep's shape: measured FLOPs and parameters of each slimmed model, given retentions."""
    full = model_flops(model, IMG)
    rows = []
    for variant in ("first-all", "first-mlp"):
        for width in WIDTHS:
            slim = slim_model(model, width, parts=variant.split("-")[1])
            for dataset in ("geobench_m_eurosat", "geobench_m_bigearthnet"):
                for seed in (0, 1):
                    rows.append({
                        "encoder": name, "dataset": dataset, "variant": variant, "width": width,
                        "rel_flops": model_flops(slim, IMG) / full,
                        "params_m": sum(p.numel() for p in slim.parameters()) / 1e6, "probe": "knn", "seed": seed,
                        "retention": retention(variant, width) + 0.01 * seed, "weights_sha256": sha,
                    })  # fmt: skip
    return pd.DataFrame(rows)


def retention(variant, width):
    # the mlp ablation keeps more at a width than slimming all, and 0.25 beats 0.1 beats 0.5 (noisy probes)
    return {0.1: 0.9, 0.25: 0.95, 0.5: 0.85, 1.0: 1.0}[width] - (0.2 if variant == "first-all" else 0.0)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = pretrained(root / "pretrain")
    sha = file_sha256(root / "pretrain/vit_tiny12x1/encoder.safetensors")
    sweep = root / "probes.csv"
    sweep_rows(model, "vit_tiny12x1", sha, retention).to_csv(sweep, index=False)
    return root, model, sweep


def test_budget_picks_the_best_retention_among_what_timm_can_load(study):
    _, _, sweep = study
    probes = pd.read_csv(sweep)
    choice = choose(probes, "vit_tiny12x1", flops=0.95)
    assert (choice.variant, choice.width) == ("first-mlp", 0.25)  # best retention within budget; first-all never
    cheap = probes[(probes["variant"] == "first-mlp") & (probes["width"] == 0.1)]["rel_flops"].iloc[0]
    assert choose(probes, "vit_tiny12x1", flops=cheap).width == 0.1
    assert choose(probes, "vit_tiny12x1", width=1.0).rel_flops == 1.0
    assert set(choice.rows["dataset"]) == {"geobench_m_eurosat", "geobench_m_bigearthnet"}
    assert (choice.rows["seeds"] == 2).all()
    with pytest.raises(ConfigError, match=r"the cheapest, width 0.1 of the MLP only, costs 0\.\d+.*attention"):
        choose(probes, "vit_tiny12x1", flops=0.1)
    with pytest.raises(ConfigError, match=r"width 0.3 is not in the sweep of vit_tiny12x1; exportable widths: 0.1"):
        choose(probes, "vit_tiny12x1", width=0.3)
    with pytest.raises(ConfigError, match=r"add `parts: \[mlp\]` to slimming.ablations"):
        choose(probes[probes["variant"] == "first-all"], "vit_tiny12x1", flops=0.5)
    with pytest.raises(ConfigError, match="no rows of encoder 'vit_b12x1'; it holds: vit_tiny12x1"):
        choose(probes, "vit_b12x1", flops=0.5)


FRESH = textwrap.dedent("""
    import importlib.abc, sys

    class NoRsfm(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "rsfm":
                raise ImportError("rsfm must not be needed to load an exported model")

    sys.meta_path.insert(0, NoRsfm())
    import timm
    from safetensors.torch import load_file, save_file

    model = timm.create_model("local-dir:" + sys.argv[1], pretrained=True).eval()
    import torch
    with torch.no_grad():
        features = model(load_file(sys.argv[2])["images"])
    assert not [m for m in sys.modules if m.split(".")[0] == "rsfm"]
    save_file({"features": features.contiguous()}, sys.argv[3])
    print(type(model).__name__, sum(p.numel() for p in model.parameters()))
""")


def test_exported_model_loads_in_timm_alone_with_the_slimmed_features(study, tmp_path):
    root, model, sweep = study
    out = tmp_path / "vit_tiny12x1/flops0.95"
    cfg = {"encoders": {"vit_tiny12x1": {}}}
    choice = export_encoder(cfg, "vit_tiny12x1", [sweep], out, flops=0.95, pretrain_dir=root / "pretrain")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "export.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "vit_base_patch16_224" and config["model_args"]["embed_dim"] == 96
    assert int(config["model_args"]["embed_dim"] * config["model_args"]["mlp_ratio"]) == 96  # 384 x 0.25 kept

    images = torch.randn(3, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    save_file({"images": images}, str(tmp_path / "images.safetensors"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: only the environment's own packages
    loaded = subprocess.run(
        [sys.executable, "-c", FRESH, str(out), *(str(tmp_path / f"{f}.safetensors") for f in ("images", "out"))],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    kind, params = loaded.stdout.split()
    assert kind == "VisionTransformer"
    slimmed = slim_model(model, choice.width, parts="mlp")
    expected = torch.from_numpy(embed(slimmed, images, EncoderInput(img_size=IMG).pool))  # as the sweep pools
    torch.testing.assert_close(load_file(str(tmp_path / "out.safetensors"))["features"], expected)
    assert int(params) == sum(p.numel() for p in slimmed.parameters())  # a smaller model, not a padded one

    card = (out / "README.md").read_text()
    assert f"| FLOPs, relative to the full encoder | {choice.rel_flops:.3f} |" in card
    assert str(sweep) in card and choice.weights_sha256 in card
    record = json.loads((out / "export.json").read_text())
    assert record["width"] == 0.25 and record["variant"] == "first-mlp" and record["params"] == int(params)


def test_refusals_leave_nothing_behind(study, tmp_path):
    root, _, sweep = study
    pretrained(root / "pretrain", "vit_tiny12x4")
    parallel = root / "parallel.csv"
    sha4 = file_sha256(root / "pretrain/vit_tiny12x4/encoder.safetensors")
    rows = pd.read_csv(sweep).assign(encoder="vit_tiny12x4", weights_sha256=sha4)
    rows.to_csv(parallel, index=False)
    cfg = {"encoders": {"vit_tiny12x1": {}, "vit_tiny12x4": {}}}
    with pytest.raises(ConfigError, match=r"4 parallel branches.*one branch per block"):
        export_encoder(cfg, "vit_tiny12x4", [parallel], tmp_path / "a", flops=0.95, pretrain_dir=root / "pretrain")
    retrained = tmp_path / "pretrain"
    pretrained(retrained, seed=1)  # other weights than the sweep measured
    with pytest.raises(DataError, match=r"not those the sweep measured.*rerun the slimming sweep"):
        export_encoder(cfg, "vit_tiny12x1", [sweep], tmp_path / "b", flops=0.95, pretrain_dir=retrained)
    with pytest.raises(ConfigError, match="run the slimming sweep first"):
        export_encoder(cfg, "vit_tiny12x1", [tmp_path / "none.csv"], tmp_path / "c", width=0.5)
    assert not {"a", "b", "c"} & {p.name for p in tmp_path.iterdir()}


def test_command_line_names_the_problem(study, tmp_path, capsys):
    from rsfm.cli import main

    root, _, sweep = study
    config = REPO / "config/config.yaml"  # its slimming.encoders.vit_tiny12x1, our weights (--pretrain-dir)
    common = ["export-slim", "--encoder", "vit_tiny12x1", "--config", str(config), "--sweep", str(sweep),
              "--pretrain-dir", str(root / "pretrain"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main([*common, "--flops", "0.1"]) == 1
    assert "no exportable width of vit_tiny12x1 fits 0.1 of its FLOPs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main([*common, "--width", "0.5"]) == 0
    assert "at width 0.5 (first-mlp)" in capsys.readouterr().out
    assert (tmp_path / "out/model.safetensors").is_file()


def test_config_names_an_export_the_sweep_cannot_make():
    import yaml

    from rsfm.config import validate_config

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["slimming"]["ablations"] = {}
    config["slimming"]["export"].append({"encoder": "vit_b12x1", "width": 0.5})
    with pytest.raises(ConfigError) as error:
        validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
    assert "add `parts: [mlp]` to slimming.ablations" in str(error.value)
    assert "'slimming.export': 'vit_b12x1' is not in slimming.encoders" in str(error.value)
