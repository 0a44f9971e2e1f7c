"""Paper 2's external RS foundation models (DOFA, Prithvi-EO, TerraMind) built by TerraTorch: random weights of the
real architectures at a small input, a checkpoint file in the layout the library writes, exact at s = 1, smaller at
s < 1, and the slim_features path on synthetic GEO-Bench tasks."""

import importlib.util
from pathlib import Path

import pytest
import torch

from rsfm.errors import ConfigError, DataError
from rsfm.models.accounting import model_flops
from rsfm.models.slim import slim_model, slimmed, width_report
from rsfm.slimming import foundation, run
from rsfm.slimming.encoders import load_encoder

# imported by the tests themselves (through rsfm.slimming.foundation), not at collection: its import has side effects
pytestmark = pytest.mark.skipif(importlib.util.find_spec("terratorch") is None, reason="terratorch is not installed")

S2 = {  # GEO-Bench band name -> TerraTorch band name
    "01 - Coastal aerosol": "COASTAL_AEROSOL", "02 - Blue": "BLUE", "03 - Green": "GREEN", "04 - Red": "RED",
    "05 - Vegetation Red Edge": "RED_EDGE_1", "06 - Vegetation Red Edge": "RED_EDGE_2",
    "07 - Vegetation Red Edge": "RED_EDGE_3", "08 - NIR": "NIR_BROAD", "08A - Vegetation Red Edge": "NIR_NARROW",
    "09 - Water vapour": "WATER_VAPOR", "11 - SWIR": "SWIR_1", "12 - SWIR": "SWIR_2",
}  # fmt: skip


def entry(family, arch, bands, depth=None, **extra):
    n = len(bands)
    shape = {"depth": depth} if depth else {}
    return {"source": "terratorch", "family": family, "arch": arch, "img_size": 32, **shape,
            "model_bands": [S2[b] for b in bands], "bands": {"geobench": list(bands)}, "scale": {"geobench": 10000},
            "mean": [0.1] * n, "std": [0.1] * n, **extra}  # fmt: skip


PRITHVI_BANDS = ["02 - Blue", "03 - Green", "04 - Red", "08A - Vegetation Red Edge", "11 - SWIR", "12 - SWIR"]
CASES = {
    "dofa": entry("dofa", "terratorch_dofa_small_patch16_224", ["04 - Red", "03 - Green", "02 - Blue", "08 - NIR"]),
    "prithvi_v2": entry("prithvi", "terratorch_prithvi_eo_v2_tiny_tl", PRITHVI_BANDS, 2, pool="cls"),
    "prithvi_v1": entry("prithvi", "terratorch_prithvi_eo_v1_100", PRITHVI_BANDS, 1),
    "terramind_tiny": entry("terramind", "terratorch_terramind_v1_tiny", list(S2)),
    "terramind_base": entry("terramind", "terratorch_terramind_v1_base", list(S2)),  # SwiGLU MLP
}


def library_model(case):
    """The architecture as TerraTorch builds it (random weights), with the state dict in its released layout: DOFA as
    torchgeo's model, Prithvi as the whole MAE (encoder. / decoder.), TerraMind as its own ViT (fc1 / fc3 MLPs)."""
    registry = foundation._registry()
    cfg = CASES[case]
    torch.manual_seed(0)
    if cfg["family"] == "dofa":
        model = registry.build(cfg["arch"], model_bands=cfg["model_bands"], img_size=32, num_classes=0)
        with torch.no_grad():  # as released: a trained fc_norm, not its initial identity
            model.dofa_model.fc_norm.weight.uniform_(0.5, 1.5)
        return model, model.dofa_model.state_dict()
    if cfg["family"] == "prithvi":
        mae = registry.build(cfg["arch"], bands=cfg["model_bands"], img_size=32, depth=cfg["depth"],
                                      num_frames=1, encoder_only=False)  # fmt: skip
        return mae.encoder, mae.state_dict()
    model = registry.build(cfg["arch"], modalities=["S2L2A"], img_size=32)
    return model, model.state_dict()


def library_output(case, model, images):
    out = model.forward_features(images) if CASES[case]["family"] == "prithvi" else model(images)
    tokens = out[-1]
    if CASES[case]["family"] == "dofa":
        return model.dofa_model.fc_norm(tokens[:, 1:].mean(1))
    prefix = int(CASES[case]["family"] != "terramind")  # TerraMind has no cls token
    return tokens[:, 0] if CASES[case].get("pool") == "cls" else tokens[:, prefix:].mean(1)


@pytest.fixture(scope="module")
def geobench_data(tmp_path_factory):
    """The default config's synthetic GEO-Bench tasks (13 Sentinel-2 bands), converted as the data stage does."""
    import yaml

    from rsfm.config import validate_config
    from rsfm.data import pipeline

    root = tmp_path_factory.mktemp("geobench")
    repo = Path(__file__).resolve().parents[1]
    config = validate_config(yaml.safe_load((repo / "config/config.yaml").read_text()),
                             repo / "workflow/schemas/config.schema.yaml")  # fmt: skip
    for name in ("geobench_m_eurosat", "geobench_m_bigearthnet"):
        cfg = config["data"]["datasets"][name]
        pipeline.synthesize(name, cfg, root / "raw" / name)
        pipeline.convert(name, cfg, root / "raw" / name, root / name, workers=1)
    return root


@pytest.fixture(scope="module", params=sorted(CASES))
def loaded(request, tmp_path_factory):
    """(case, library model, our model loaded from the library's checkpoint file, its entry)."""
    case = request.param
    model, state = library_model(case)
    path = tmp_path_factory.mktemp(case) / f"{case}.pth"
    torch.save(state, path)  # read back with torch.load(weights_only=True) by our loader
    cfg = {**CASES[case], "path": str(path)}
    ours, _ = load_encoder(case, cfg)
    return case, model.eval(), ours, cfg


def test_the_library_checkpoint_loads_and_gives_the_library_output(loaded):
    case, model, ours, _ = loaded
    assert torch.get_float32_matmul_precision() == "highest"  # TerraTorch's import sets "medium": put back
    images = torch.randn(2, len(CASES[case]["model_bands"]), 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(images), library_output(case, model, images), rtol=0, atol=1e-6)


def test_full_width_is_exactly_the_original_and_narrower_is_smaller(loaded):
    case, _, ours, _ = loaded
    channels = len(CASES[case]["model_bands"])
    images = torch.randn(2, channels, 32, 32)
    with torch.no_grad():
        full = ours(images)
        assert torch.equal(slim_model(ours, 1.0)(images), full)
        with slimmed(ours, 1.0, lazy=True) as same:
            assert torch.equal(same(images), full)
        slim = slim_model(ours, 0.25)
        assert slim(images).shape == full.shape and not torch.equal(slim(images), full)
    report, slim_report = width_report(ours), width_report(slim)
    assert slim_report["head_dim"] == report["head_dim"] // 4 and slim_report["mlp_hidden"] == report["mlp_hidden"] // 4
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in ours.parameters())
    assert model_flops(slim, 32, channels) < model_flops(ours, 32, channels)


def test_every_block_is_slimmed(loaded):
    """Every transformer block's attention and MLP (none left at full width), the patch embedding left whole."""
    _, _, ours, _ = loaded
    from timm.layers import Attention, Mlp, SwiGLU

    attn = [m for m in ours.modules() if isinstance(m, Attention)]
    mlps = [m for m in ours.modules() if type(m) in (Mlp, SwiGLU)]
    blocks = [m for m in ours.modules() if type(m).__name__ == "Block"]
    assert len(attn) == len(mlps) == len(blocks) == CASES[loaded[0]].get("depth", 12)
    slim = slim_model(ours, 0.5)
    assert all(m.head_dim == attn[0].head_dim // 2 for m in slim.modules() if isinstance(m, Attention))
    before = {n: p for n, p in ours.named_parameters() if "embed" in n}
    after = dict(slim.named_parameters())
    assert before and all(torch.equal(after[n], p) for n, p in before.items())


def test_slim_features_on_synthetic_geobench(loaded, geobench_data, tmp_path):
    case, _, _, cfg = loaded
    study = {"encoders": {case: cfg}, "widths": [0.25, 1.0], "seeds": [0], "probes": ["knn"], "k": 3,
             "batch_size": 16, "input": {"missing_bands": "fill"}}  # fmt: skip
    for dataset in ("geobench_m_eurosat", "geobench_m_bigearthnet"):
        manifest = tmp_path / f"{dataset}.json"
        info = run.features(study, case, dataset, prepared=geobench_data / dataset, out_dir=tmp_path / dataset,
                            manifest=manifest)  # fmt: skip
        table = run.probe(study, manifest, tmp_path / f"{dataset}.csv")
        assert info["made"]["base"] == cfg["arch"] and len(table) == 2
        assert (table.loc[table.width == 0.25, "rel_flops"] < 1).all() and table["value"].notna().all()


def test_errors_name_the_fix(tmp_path):
    cfg = {**CASES["dofa"], "path": str(tmp_path / "absent.pth"), "url": "https://example.org/dofa.pth"}
    with pytest.raises(ConfigError, match=r"absent\.pth is missing\. Download it from https://example\.org/dofa\.pth"):
        load_encoder("dofa", cfg)
    with pytest.raises(ConfigError, match="family must be one of dofa, prithvi, terramind"):
        load_encoder("x", {**cfg, "family": "clay"})
    with pytest.raises(ConfigError, match="12 pretrained bands"):
        foundation.build("tm", {**CASES["terramind_tiny"], "model_bands": ["RED", "GREEN", "BLUE"]})
    _, state = library_model("prithvi_v2")
    state = {k: v for k, v in state.items() if "blocks.0.attn" not in k}
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(DataError, match=r"missing .*blocks\.0\.attn"):
        load_encoder("p", {**CASES["prithvi_v2"], "path": str(tmp_path / "partial.pth")})
