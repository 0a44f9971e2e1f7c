"""The slimming study as the workflow runs it: encoders (ours and checkpoints on disk), sweeps, probes, redundancy,
tables and every figure."""

import hashlib
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from rsfm.errors import ConfigError, DataError
from rsfm.plots.slimming import FIGURES, redundancy_curves
from rsfm.pretrain.engine import RunConfig, build_model, export_encoder
from rsfm.slimming import features as features_module
from rsfm.slimming import run
from rsfm.slimming.encoders import load_encoder


def export(root, name, size="vit_tiny12x1", seed=0, **extra):
    """An encoder as the pretraining stage exports it (another ``seed``: other weights, as another training run)."""
    cfg = RunConfig(size, "", str(root / name), img_size=32, patch_size=8, decoder_dim=32, decoder_depth=1, seed=seed,
                    **extra)  # fmt: skip
    (root / name).mkdir(parents=True, exist_ok=True)
    export_encoder(build_model(cfg), cfg, 1, root / name)
    return root / name / "encoder.safetensors"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pretrain_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    runs = {"vit_tiny12x1": {}, "vit_tiny12x4": {}, "tiny_slimmable": {"slimmable": {"smallest": 0.25}}}
    for name, extra in runs.items():
        export(root, name, name if name.startswith("vit") else "vit_tiny12x1", **extra)
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


class RunsCode:
    """Pickles as a call of os.system: what a hostile checkpoint holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_checkpoints_load_as_plain_tensors_or_safetensors(tmp_path, monkeypatch):
    torch.manual_seed(0)
    reference = small_vit().eval()
    calls = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or load(*a, **k))
    plain = tmp_path / "plain.pth"
    torch.save(reference.state_dict(), plain)
    entry = {"source": "file", "path": str(plain), "arch": "vit_small_patch16_224", "img_size": 32}
    images = torch.randn(2, 3, 32, 32)
    model, _ = load_encoder("plain", entry)
    assert [call["weights_only"] for call in calls] == [True]  # unpickles tensors and containers only
    tensors = tmp_path / "encoder.safetensors"
    safetensors.torch.save_file({f"backbone.{k}": v for k, v in reference.state_dict().items()}, tensors)
    from_safetensors, _ = load_encoder("st", {**entry, "path": str(tensors), "sha256": sha256(tensors)})
    assert len(calls) == 1  # safetensors: no pickle at all
    with torch.no_grad():
        assert torch.equal(model(images), reference(images)) and torch.equal(
            from_safetensors(images), reference(images)
        )


def test_a_checkpoint_whose_pickle_runs_code_is_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    hostile = tmp_path / "hostile.pth"
    torch.save({"model": small_vit().state_dict(), "args": RunsCode(marker)}, hostile)
    entry = {"source": "file", "path": str(hostile), "arch": "vit_small_patch16_224", "img_size": 32}
    with pytest.raises(
        DataError, match=r"(?s)hostile\.pth is refused.*posix\.system.*safetensors\.torch\.save_file"
    ) as error:
        load_encoder("hostile", entry)
    assert not marker.exists()  # the payload did not run
    assert str(tmp_path / "hostile.safetensors") in str(error.value)  # where the converted file goes


def test_a_wrong_sha256_stops_before_the_checkpoint_is_read(tmp_path, monkeypatch):
    checkpoint = tmp_path / "w.pth"
    torch.save({"model": small_vit().state_dict()}, checkpoint)
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: calls.append(a))
    wrong = "0" * 64
    entry = {"source": "file", "path": str(checkpoint), "arch": "vit_small_patch16_224", "img_size": 32,
             "sha256": wrong, "url": "https://example.org/w.pth"}  # fmt: skip
    found = sha256(checkpoint)
    with pytest.raises(DataError, match=rf"w\.pth has sha256 {found}, but the config expects {wrong}.*"
                                        rf"https://example\.org/w\.pth.*sha256 to {found}"):  # fmt: skip
        load_encoder("w", entry)
    safetensors.torch.save_file(small_vit().state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(DataError, match="but the config expects"):
        load_encoder("w", {**entry, "path": str(tmp_path / "w.safetensors")})
    assert calls == []  # neither loader touched a file whose hash is wrong


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


def test_study_tables(study, pretrain_dir):
    manifest = json.loads((study / "vit_tiny12x4_eurosat.json").read_text())
    assert list(manifest["variants"]) == ["first-all", "random-all", "first-mlp"]
    probes = pd.read_csv(study / "probes.csv")
    assert list(probes.columns) == run.PROBE_COLUMNS
    # encoders x datasets x widths x (main: k-NN once, linear per seed; two ablations: k-NN once each)
    assert len(probes) == 3 * 2 * 3 * ((1 + 2) + 1 + 1)
    made = probes.groupby("encoder")[["base", "method", "training"]].first()
    assert made.loc["tiny_slimmable"].tolist() == ["vit_tiny12x1", "mae", "slimmable"]
    assert made.loc["vit_tiny12x4"].tolist() == ["vit_tiny12x4", "mae", "regular"]
    full = probes[probes["width"] == 1.0]
    assert (full["retention"] == 1.0).all() and (full["rel_flops"] == 1.0).all()
    main = probes[(probes["variant"] == "first-all") & (probes["probe"] == "knn")]
    assert main.groupby("width")["rel_flops"].mean().is_monotonic_increasing
    assert set(probes[probes["variant"] != "first-all"]["probe"]) == {"knn"}
    assert set(probes["metric"]) == {"accuracy", "mAP"} and probes["value"].between(0, 1).all()
    knn = probes[probes["probe"] == "knn"].groupby(["encoder", "dataset", "variant", "width"])["seed"].agg(list)
    assert (knn.map(tuple) == (0,)).all()  # the whole training set: k-NN is deterministic, one row, not one per seed
    linear = probes[probes["probe"] == "linear"].groupby(["encoder", "dataset", "width"])["seed"].agg(sorted)
    assert (linear.map(tuple) == (0, 1)).all()
    redundancy = pd.read_csv(study / "redundancy.csv")
    assert set(redundancy["measure"]) == {"mean_abs_corr", "evr_slope", "effective_dim", "dims"}
    hashes = probes.groupby("encoder")["weights_sha256"].unique()
    assert {e: list(h) for e, h in hashes.items()} == {e: [sha256(pretrain_dir / e / "encoder.safetensors")]
                                                       for e in STUDY["encoders"]}  # fmt: skip
    assert manifest["weights_sha256"] == hashes["vit_tiny12x4"][0]
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


# ------------------------------------------------------------------------------------ cached features, keyed by content
SMALL = {"encoders": {"enc": {}}, "widths": [0.5, 1.0], "seeds": [0], "probes": ["knn"], "k": 3, "batch_size": 16}


@pytest.fixture
def forwards(monkeypatch):
    """The batch sizes of every real (not meta-device) encoder forward: what computing features costs."""
    calls = []
    forward = VisionTransformer.forward_features

    def spy(self, x, **kwargs):
        if x.device.type != "meta":
            calls.append(len(x))
        return forward(self, x, **kwargs)

    monkeypatch.setattr(VisionTransformer, "forward_features", spy)
    return calls


def features_of(config, default_data, root, dataset="eurosat"):
    manifest = root / "features.json"
    info = run.features(config, "enc", dataset, prepared=default_data / "prepared" / dataset, out_dir=root / "f",
                        manifest=manifest, pretrain_dir=root / "pretrain")  # fmt: skip
    files = info["variants"]["first-all"]
    return info, {f: np.load(f)["test_features"] for f in files}, {f: os.stat(f).st_mtime_ns for f in files}


def test_features_are_reused_only_for_the_same_encoder_weights(default_data, tmp_path, forwards):
    weights = export(tmp_path / "pretrain", "enc", seed=0)
    info, before, mtimes = features_of(SMALL, default_data, tmp_path)
    first = sha256(weights)
    assert forwards and info["weights_sha256"] == first
    forwards.clear()
    _, _, same = features_of(SMALL, default_data, tmp_path)
    assert forwards == [] and same == mtimes  # identical inputs: every file reused, nothing embedded
    export(tmp_path / "pretrain", "enc", seed=1)  # retrained: same path, other weights
    info, after, _ = features_of(SMALL, default_data, tmp_path)
    assert forwards and info["weights_sha256"] == sha256(weights) != first
    assert all(not np.allclose(before[f], after[f]) for f in before)  # the new encoder's features, not the old ones


def test_features_are_recomputed_when_the_images_change_under_the_same_names(default_data, tmp_path, forwards):
    """A set regenerated (or downloaded again) with other pixels but the same file names and labels: the index is
    unchanged, the images are not, so the cached features must not be reused."""
    import pandas as pd
    from PIL import Image

    data = tmp_path / "data"
    for stage in ("raw", "prepared"):
        shutil.copytree(default_data / stage / "eurosat", data / stage / "eurosat", symlinks=True)
    export(tmp_path / "pretrain", "enc", seed=0)
    _, before, _ = features_of(SMALL, data, tmp_path)
    prepared = data / "prepared/eurosat"
    meta = json.loads((prepared / "meta.json").read_text())
    image = prepared / meta["image_root"] / pd.read_csv(prepared / "test.csv")["path"].iloc[0]
    with Image.open(image) as original:
        flipped = original.transpose(Image.Transpose.ROTATE_90)
    flipped.save(image)  # same name and label, other pixels
    forwards.clear()
    _, after, _ = features_of(SMALL, data, tmp_path)
    assert forwards and all(not np.array_equal(before[f][0], after[f][0]) for f in before)
    image.unlink()
    with pytest.raises(DataError, match=r"is missing: rerun the data stage for eurosat"):
        features_of(SMALL, data, tmp_path)


def test_features_are_recomputed_when_the_input_settings_change(default_data, tmp_path, forwards):
    export(tmp_path / "pretrain", "enc", seed=0)
    _, mean_pooled, _ = features_of(SMALL, default_data, tmp_path)
    forwards.clear()
    _, _, _ = features_of({**SMALL, "batch_size": 7}, default_data, tmp_path)
    assert forwards == []  # the batch size changes features by rounding only: not part of the key
    cls = {**SMALL, "input": {"pool": "cls"}}
    _, cls_pooled, _ = features_of(cls, default_data, tmp_path)
    assert forwards and all(not np.allclose(mean_pooled[f], cls_pooled[f]) for f in mean_pooled)
    forwards.clear()
    _, scaled, _ = features_of({**cls, "input": {"pool": "cls", "mean": [0.2, 0.2, 0.2]}}, default_data, tmp_path)
    assert forwards and all(not np.allclose(scaled[f], cls_pooled[f]) for f in scaled)


def test_a_feature_file_without_its_key_is_recomputed(default_data, tmp_path, forwards):
    export(tmp_path / "pretrain", "enc", seed=0)
    info, computed, _ = features_of(SMALL, default_data, tmp_path)
    old = info["variants"]["first-all"][0]
    with np.load(old) as data:  # as an earlier version wrote it: no key, and features of some other model
        arrays = {k: data[k] for k in data.files if k not in ("key", "key_parts")}
    arrays["test_features"] = np.zeros_like(arrays["test_features"])
    np.savez(old, **arrays)
    forwards.clear()
    info, again, _ = features_of(SMALL, default_data, tmp_path)
    assert forwards and np.array_equal(again[old], computed[old])
    assert str(np.load(old)["key"]) == info["keys"]["first-all"][0]


def test_probes_refuse_feature_files_the_manifest_does_not_list(default_data, tmp_path):
    export(tmp_path / "pretrain", "enc", seed=0)
    info, _, _ = features_of(SMALL, default_data, tmp_path)
    half, full = info["variants"]["first-all"]
    run.probe(SMALL, tmp_path / "features.json", tmp_path / "probes.csv")
    shutil.copy(full, half)  # replaced behind the manifest's back (e.g. by a run of another encoder or setting)
    with pytest.raises(DataError, match=rf"{half} does not hold the features the manifest lists.*rerun slim_features"):
        run.probe(SMALL, tmp_path / "features.json", tmp_path / "probes.csv")
    with pytest.raises(DataError, match="does not hold"):
        run.redundancy(SMALL, tmp_path / "features.json", tmp_path / "r.csv", tmp_path / "s.csv")
    manifest = json.loads((tmp_path / "features.json").read_text())
    del manifest["keys"]  # an older run's manifest
    (tmp_path / "features.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="lists no keys"):
        run.probe(SMALL, tmp_path / "features.json", tmp_path / "probes.csv")


def test_a_split_is_decoded_once_and_streamed_in_batches(default_data, tmp_path, monkeypatch):
    # memory must follow a batch, not the split: the first batch is embedded before the rest is decoded, and every
    # image is decoded once for all widths and variants
    export(tmp_path / "pretrain", "enc", seed=0)
    events = []
    read, forward = features_module._read_pixels, VisionTransformer.forward_features

    def embed(self, x, **kwargs):
        events.append("embed" if x.device.type != "meta" else "count")
        return forward(self, x, **kwargs)

    monkeypatch.setattr(features_module, "_read_pixels", lambda *a: events.append("read") or read(*a))
    monkeypatch.setattr(VisionTransformer, "forward_features", embed)
    config = {**SMALL, "ablations": {"selection": ["random"], "parts": ["mlp"]}}
    features_of(config, default_data, tmp_path)
    sizes = [len(pd.read_csv(default_data / "prepared/eurosat" / f"{split}.csv")) for split in ("train", "test")]
    assert events.count("read") == sum(sizes) and sizes[0] > 2 * SMALL["batch_size"]
    events = [e for e in events if e != "count"]  # FLOP counts run on the meta device
    assert events.index("embed") == SMALL["batch_size"]  # one batch read, then embedded at every width
    assert events.count("embed") == 6 * sum(-(-n // SMALL["batch_size"]) for n in sizes)  # 3 variants x 2 widths


def test_external_safetensors_encoder_study_records_its_hash(default_data, tmp_path):
    torch.manual_seed(0)
    tensors = tmp_path / "vit_tiny.safetensors"
    reference = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32)
    safetensors.torch.save_file(reference.state_dict(), tensors)
    config = {**SMALL, "encoders": {"ext": {"source": "file", "path": str(tensors), "arch": "vit_tiny_patch16_224",
                                            "img_size": 32, "sha256": sha256(tensors)}}}  # fmt: skip
    run.features(config, "ext", "eurosat", prepared=default_data / "prepared/eurosat", out_dir=tmp_path / "f",
                 manifest=tmp_path / "m.json")  # fmt: skip
    table = run.probe(config, tmp_path / "m.json", tmp_path / "probes.csv")
    assert set(pd.read_csv(tmp_path / "probes.csv")["weights_sha256"]) == {sha256(tensors)} and len(table) == 2
