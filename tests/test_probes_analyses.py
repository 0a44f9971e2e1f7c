"""k-NN and linear probes on separable synthetic features; redundancy measures on features with known values."""

import numpy as np
import pytest
import torch

from rsfm.errors import ConfigError
from rsfm.slimming import analyses, probes


def blobs(n_per_class=60, classes=4, dims=16, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dims)) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    features = centres[labels] + rng.normal(scale=spread, size=(len(labels), dims))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


def split(features, targets, at):
    return features[:at], targets[:at], features[at:], targets[at:]


@pytest.mark.parametrize("method", ["knn", "linear"])
def test_probes_separate_separable_classes(method):
    train, y_train, test, y_test = split(*blobs(), 160)
    assert probes.evaluate(method, train, y_train, test, y_test, multilabel=False) > 0.95


@pytest.mark.parametrize("method", ["knn", "linear"])
def test_probes_reach_high_macro_map_on_separable_multilabel_features(method):
    rng = np.random.default_rng(1)
    targets = (rng.random((300, 5)) < 0.3).astype(np.int64)
    features = (targets * 4.0 + rng.normal(scale=0.4, size=targets.shape)).astype(np.float32)
    features = np.concatenate([features, rng.normal(size=(300, 11))], axis=1).astype(np.float32)
    train, t_train, test, t_test = split(features, targets, 200)
    assert probes.evaluate(method, train, t_train, test, t_test, multilabel=True) > 0.9


def test_chance_level_on_random_labels():
    features, _ = blobs()
    labels = np.random.default_rng(2).integers(0, 4, len(features))
    train, y_train, test, y_test = split(features, labels, 160)
    assert probes.evaluate("knn", train, y_train, test, y_test, multilabel=False) < 0.5


def test_knn_vote_and_tie_break_by_similarity():
    train = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 2])
    # k = 4 around (1, 0.2): two votes each for 0 and 1; class 0's neighbours are the more similar ones
    assert probes.knn_classify(train, labels, np.array([[1, 0.2]], np.float32), k=4).tolist() == [0]
    assert probes.knn_classify(train, labels, np.array([[0.2, 1]], np.float32), k=4).tolist() == [1]
    # cosine, not Euclidean: scale does not matter
    assert probes.knn_classify(train, labels, np.array([[-50, 1]], np.float32), k=1).tolist() == [2]
    with pytest.raises(ConfigError, match="only 5 training samples"):
        probes.knn_neighbours(train, train, k=6)


def test_seeded_stratified_subsets():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    a, b = probes.subset(labels, 0.5, seed=0, multilabel=False), probes.subset(labels, 0.5, seed=0, multilabel=False)
    c = probes.subset(labels, 0.5, seed=1, multilabel=False)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(labels[a]).tolist() == [5, 10, 15]
    assert len(probes.subset(labels, 1.0, seed=5, multilabel=False)) == 60


def test_isotropic_gaussian_has_full_effective_dimension_and_low_correlation():
    x = np.random.default_rng(0).normal(size=(20000, 32))
    stats = analyses.redundancy(x)
    assert stats["effective_dim"] == pytest.approx(32, rel=0.03)
    assert stats["mean_abs_corr"] < 0.01
    assert abs(stats["evr_slope"]) < 0.1  # a flat spectrum


def test_low_rank_features_are_redundant():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(5000, 2))
    x = latent @ rng.normal(size=(2, 64)) + 1e-3 * rng.normal(size=(5000, 64))
    stats = analyses.redundancy(x)
    assert stats["effective_dim"] < 2.05 and stats["mean_abs_corr"] > 0.4
    ratios = analyses.explained_variance_ratio(x)
    assert ratios[:2].sum() > 0.999 and ratios[0] >= ratios[1] >= ratios[-1]


def test_power_law_spectrum_slope_and_known_effective_dimension():
    ranks = np.arange(1, 65)
    variances = ranks**-1.5
    x = np.random.default_rng(0).normal(size=(40000, 64)) * np.sqrt(variances)
    assert analyses.spectrum_slope(analyses.explained_variance_ratio(x)) == pytest.approx(-1.5, abs=0.1)
    expected = variances.sum() ** 2 / (variances**2).sum()
    assert analyses.effective_dimension(x) == pytest.approx(expected, rel=0.05)
    # a perfectly correlated pair: |r| = 1 for the one pair
    pair = np.stack([ranks, -2 * ranks], axis=1).astype(float)
    assert analyses.mean_abs_correlation(pair) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------- feature sweep
@pytest.fixture(scope="module")
def classification_sets(default_data):
    return default_data / "prepared"


def test_sweep_caches_features_per_width_with_falling_flops(classification_sets, tmp_path):
    import torch

    from rsfm.models.vit import create_encoder
    from rsfm.slimming.features import EncoderInput, embed, load_split, sweep

    rgb = {"geobench": ["04 - Red", "03 - Green", "02 - Blue"]}
    spec = EncoderInput(img_size=32, bands=rgb)
    torch.manual_seed(0)
    model = create_encoder("vit_tiny12x4", img_size=32, patch_size=8)
    for name, multilabel in (("eurosat", False), ("geobench_m_bigearthnet", True)):
        splits = {s: load_split(classification_sets / name, s, spec) for s in ("train", "test")}
        assert splits["train"].images.shape[1:] == (3, 32, 32)
        assert splits["train"].targets.ndim == (2 if multilabel else 1)
        files = sweep(model, splits, [1.0, 0.5, 0.1], tmp_path / name, spec)
        data = [np.load(f) for f in files]
        assert [float(d["width"]) for d in data] == [1.0, 0.5, 0.1]
        assert data[0]["flops"] > data[1]["flops"] > data[2]["flops"] and data[0]["params"] > data[2]["params"]
        assert np.array_equal(data[0]["train_features"], embed(model, splits["train"].images, "mean"))
        assert data[2]["test_features"].shape == (len(splits["test"].targets), 96)  # the residual width stays
        score = probes.evaluate(
            "knn", data[1]["train_features"], data[1]["train_targets"], data[1]["test_features"],
            data[1]["test_targets"], multilabel=multilabel,
        )  # fmt: skip
        assert 0 <= score <= 1
        mtimes = [f.stat().st_mtime_ns for f in files]
        sweep(model, splits, [1.0, 0.5, 0.1], tmp_path / name, spec)  # cached: nothing recomputed
        assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_sweeps_of_one_encoder_share_flop_counts_across_selections(classification_sets, tmp_path, monkeypatch):
    import torch

    from rsfm.models import accounting
    from rsfm.models.slim import slim_model
    from rsfm.models.vit import create_encoder
    from rsfm.slimming.features import EncoderInput, load_split, sweep

    torch.manual_seed(0)
    model = create_encoder("vit_tiny12x1", img_size=32, patch_size=8)
    # the invariant the sharing rests on: the dims kept differ, their number (and so the FLOPs) does not
    for s in (0.5, 0.1):
        first, rand = (slim_model(model, s, selection=sel, seed=0) for sel in ("first", "random"))
        assert accounting.model_flops(first, 32) == accounting.model_flops(rand, 32)
    counted = []
    count = accounting.model_flops
    monkeypatch.setattr(accounting, "model_flops", lambda *a, **k: counted.append(a) or count(*a, **k))
    spec = EncoderInput(img_size=32)
    splits = {s: load_split(classification_sets / "eurosat", s, spec) for s in ("train", "test")}
    shared: dict = {}
    runs = {
        variant: [np.load(f) for f in sweep(model, splits, [1.0, 0.5, 0.1], tmp_path / variant, spec,
                                           selection=variant.split("-")[0], parts=variant.split("-")[1], flops=shared)]
        for variant in ("first-all", "random-all", "first-mlp")
    }  # fmt: skip
    assert len(counted) == 6  # three widths for parts=all, three for parts=mlp
    assert [int(d["flops"]) for d in runs["first-all"]] == [int(d["flops"]) for d in runs["random-all"]]
    assert int(runs["first-mlp"][1]["flops"]) > int(runs["first-all"][1]["flops"])  # attention kept whole
    assert not np.allclose(runs["first-all"][1]["test_features"], runs["random-all"][1]["test_features"])


def test_wrong_band_count_names_the_fix(classification_sets):
    from rsfm.slimming.features import EncoderInput, load_split

    with pytest.raises(ConfigError, match="set the encoder's bands for 'geobench'"):
        load_split(classification_sets / "geobench_m_bigearthnet", "test", EncoderInput(img_size=32))


def test_bands_a_dataset_lacks_stop_or_enter_as_zeros(classification_sets):
    # m-bigearthnet has 12 of the 13 Sentinel-2 bands (no B10): an SSL4EO-style 13-band encoder on it
    from rsfm.data.registry import SENTINEL2_BANDS as _S2
    from rsfm.slimming.features import EncoderInput, load_split

    bands = {"geobench": list(_S2)}
    mean, std = [0.1 * i for i in range(13)], [0.5] * 13
    spec = EncoderInput(img_size=16, bands=bands, mean=mean, std=std, scale={"geobench": 10000})
    with pytest.raises(ConfigError, match=r"expects bands \['10 - SWIR - Cirrus'\].*missing_bands: fill"):
        load_split(classification_sets / "geobench_m_bigearthnet", "test", spec)
    spec.missing_bands = "fill"
    filled = load_split(classification_sets / "geobench_m_bigearthnet", "test", spec).images
    assert filled.shape[1] == 13 and (filled[:, 10] == 0).all()
    twelve = [b for b in _S2 if not b.startswith("10")]
    present = EncoderInput(img_size=16, bands={"geobench": twelve}, mean=mean[:10] + mean[11:], std=[0.5] * 12,
                           scale={"geobench": 10000})  # fmt: skip
    reference = load_split(classification_sets / "geobench_m_bigearthnet", "test", present).images
    torch.testing.assert_close(filled[:, [i for i in range(13) if i != 10]], reference)
