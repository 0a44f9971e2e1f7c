"""The slimming study as the workflow runs it: encoders (ours and checkpoints on disk), sweeps, probes, redundancy,
tables and every figure."""

import json

import pandas as pd
import pytest
import timm
import torch

from rsfm.errors import ConfigError, DataError
from rsfm.plots.slimming import FIGURES, redundancy_curves
from rsfm.pretrain.engine import RunConfig, build_model, export_encoder
from rsfm.slimming import run
from rsfm.slimming.encoders import load_encoder


@pytest.fixture(scope="module")
def pretrain_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    runs = {"vit_tiny12x1": {}, "vit_tiny12x4": {}, "tiny_slimmable": {"slimmable": {"smallest": 0.25}}}
    for name, extra in runs.items():
        size = name if name.startswith("vit") else "vit_tiny12x1"
        cfg = RunConfig(size, "", str(root / name), img_size=32, patch_size=8, decoder_dim=32, decoder_depth=1,
                        **extra)  # fmt: skip
        (root / name).mkdir()
        export_encoder(build_model(cfg), cfg, 1, root / name)
    return root


def test_our_encoder_loads_strictly_with_its_input_size(pretrain_dir):
    model, spec = load_encoder("vit_tiny12x4", {"pool": "cls"}, pretrain_dir)
    assert spec.img_size == 32 and spec.pool == "cls"
    assert model.embed_dim == 96 and len(model.blocks[0].attns) == 4
    with pytest.raises(ConfigError, match="pretrain vit_tiny12x1 first"):
        load_encoder("vit_tiny12x1", {}, pretrain_dir / "elsewhere")


def small_vit(**kwargs):
    return timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0, img_size=32, **kwargs)


def test_external_checkpoints_in_mae_and_moco_layouts(tmp_path):
    torch.manual_seed(0)
    reference = small_vit()
    mae = tmp_path / "mae.pth"  # MAE's release: {"model": encoder weights}
    torch.save({"model": reference.state_dict()}, mae)
    entry = {"source": "file", "path": str(mae), "arch": "vit_small_patch16_224", "img_size": 32}
    model, spec = load_encoder("mae", entry)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images), reference.eval()(images)) and spec.img_size == 32

    moco = tmp_path / "moco.pth"  # MoCo v3: base and momentum encoders (+ projection heads) under state_dict
    state = {f"module.base_encoder.{k}": v for k, v in reference.state_dict().items()}
    state |= {f"module.momentum_encoder.{k}": torch.zeros_like(v) for k, v in reference.state_dict().items()}
    state["module.base_encoder.head.weight"] = torch.zeros(256, 384)
    torch.save({"state_dict": state, "epoch": 99}, moco)
    loaded, _ = load_encoder("moco", {**entry, "path": str(moco), "prefix": "module.base_encoder."})
    with torch.no_grad():
        assert torch.equal(loaded(images), reference(images))


def test_external_checkpoint_errors_say_what_to_do(tmp_path):
    entry = {"source": "file", "path": str(tmp_path / "none.pth"), "arch": "vit_small_patch16_224",
             "url": "https://example.org/w.pth"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"Download it from https://example.org/w.pth and save it as .*none.pth"):
        load_encoder("x", entry)
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": small_vit().state_dict()}, wrong)
    with pytest.raises(DataError, match="does not fit timm vit_base_patch16_224"):
        load_encoder("x", {**entry, "path": str(wrong), "arch": "vit_base_patch16_224", "img_size": 32})


STUDY = {
    "encoders": {"vit_tiny12x1": {}, "vit_tiny12x4": {}, "tiny_slimmable": {}},
    "widths": [0.1, 0.5, 1.0], "seeds": [0, 1], "probes": ["knn", "linear"], "k": 3,
    "ablations": {"selection": ["random"], "parts": ["mlp"]}, "batch_size": 32,
    "input": {"bands": {"geobench": ["04 - Red", "03 - Green", "02 - Blue"]}, "scale": {"geobench": 5000}},
}  # fmt: skip


@pytest.fixture(scope="module")
def study(default_data, pretrain_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    tables = {"probes": [], "redundancy": [], "spectra": []}
    for encoder in STUDY["encoders"]:
        for dataset in ("eurosat", "geobench_m_bigearthnet"):
            manifest = out / f"{encoder}_{dataset}.json"
            run.features(STUDY, encoder, dataset, prepared=default_data / "prepared" / dataset,
                         out_dir=out / encoder / dataset, manifest=manifest, pretrain_dir=pretrain_dir)  # fmt: skip
            tables["probes"].append(out / f"{encoder}_{dataset}_probes.csv")
            run.probe(STUDY, manifest, tables["probes"][-1])
            tables["redundancy"].append(out / f"{encoder}_{dataset}_redundancy.csv")
            tables["spectra"].append(out / f"{encoder}_{dataset}_spectra.csv")
            run.redundancy(STUDY, manifest, tables["redundancy"][-1], tables["spectra"][-1])
    for name, files in tables.items():
        run.concat(files, out / f"{name}.csv")
    return out


def test_study_tables(study):
    manifest = json.loads((study / "vit_tiny12x4_eurosat.json").read_text())
    assert list(manifest["variants"]) == ["first-all", "random-all", "first-mlp"]
    probes = pd.read_csv(study / "probes.csv")
    assert list(probes.columns) == run.PROBE_COLUMNS
    assert len(probes) == 3 * 2 * 3 * ((2 + 2) + 2 + 2)  # encoders x datasets x widths x (knn+linear main, knn x2)
    made = probes.groupby("encoder")[["base", "method", "training"]].first()
    assert made.loc["tiny_slimmable"].tolist() == ["vit_tiny12x1", "mae", "slimmable"]
    assert made.loc["vit_tiny12x4"].tolist() == ["vit_tiny12x4", "mae", "regular"]
    full = probes[probes["width"] == 1.0]
    assert (full["retention"] == 1.0).all() and (full["rel_flops"] == 1.0).all()
    main = probes[(probes["variant"] == "first-all") & (probes["probe"] == "knn")]
    assert main.groupby("width")["rel_flops"].mean().is_monotonic_increasing
    assert set(probes[probes["variant"] != "first-all"]["probe"]) == {"knn"}
    assert set(probes["metric"]) == {"accuracy", "mAP"} and probes["value"].between(0, 1).all()
    knn = main.groupby(["encoder", "dataset", "width"])["value"].nunique()
    assert (knn == 1).all()  # the whole training set: k-NN agrees across seeds
    redundancy = pd.read_csv(study / "redundancy.csv")
    assert set(redundancy["measure"]) == {"mean_abs_corr", "evr_slope", "effective_dim", "dims"}
    spectra = pd.read_csv(study / "spectra.csv")
    assert (spectra["ratio"] > 1e-12).all()
    assert spectra.groupby(["encoder", "dataset", "width"])["ratio"].sum().max() <= 1 + 1e-9


def test_every_figure_draws_from_the_tables(study, tmp_path):
    for name, draw in FIGURES.items():
        draw(study / "probes.csv", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name
    redundancy_curves(study / "redundancy.csv", study / "spectra.csv", tmp_path / "redundancy.png")
    assert (tmp_path / "redundancy.png").stat().st_size > 10_000


def test_widths_without_the_reference_are_refused(default_data, pretrain_dir, tmp_path):
    config = {**STUDY, "widths": [0.5], "ablations": {}}
    manifest = tmp_path / "m.json"
    run.features(config, "vit_tiny12x1", "eurosat", prepared=default_data / "prepared/eurosat", out_dir=tmp_path,
                 manifest=manifest, pretrain_dir=pretrain_dir)  # fmt: skip
    with pytest.raises(ConfigError, match=r"must include 1\.0"):
        run.probe(config, manifest, tmp_path / "p.csv")
