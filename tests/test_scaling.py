"""Scaling laws with bootstrap bands (rsfm.scaling, rule scaling_law): the fit recovers a known law from noisy runs,
refuses what it cannot fit, and the rule's tables and figure come out of a fine-tuning table and pretraining runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rsfm.errors import DataError
from rsfm.scaling import POINT_COLUMNS, Settings, build, diminishing_at, fit_law

PARAMS = {"vit_b12x1": 85.8, "vit_l12x4": 605.61, "vit_h12x4": 1305.32, "vit_g12x4": 2419.18}
TRUE = {"s_inf": 78.0, "a": 12.0, "alpha": 0.6, "b": 1.5, "beta": 0.4}  # a law of the shape the papers' curves have


def law(x, fraction, s_inf, a, alpha, b, beta, x_ref=85.8):
    return s_inf - a * (x / x_ref) ** -alpha - b * (fraction**-beta - 1)


def noisy_runs(fractions, seeds, noise=0.5, sizes=PARAMS, seed=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([
        {"size": size, "x": x, "fraction": f, "seed": s, "value": law(x, f, **TRUE) + rng.normal(0, noise)}
        for size, x in sizes.items() for f in fractions for s in seeds
    ])  # fmt: skip


def test_the_fit_recovers_a_known_law_within_its_bootstrap_band():
    # paper 1's plan: four sizes x six fractions, one seed; the bootstrap resamples each size's runs
    fit = fit_law(noisy_runs([0.01, 0.05, 0.1, 0.25, 0.5, 1.0], [0]), "dior_r", "params", Settings(draws=300))
    assert fit.status == "fit" and fit.terms == "size+data" and fit.bootstrap == "runs" and fit.draws > 250
    for name in ("s_inf", "alpha", "beta"):
        lo, hi = fit.bands[name]
        assert lo <= TRUE[name] <= hi, (name, fit.params[name], fit.bands[name])
    assert fit.bands["alpha"][1] - fit.bands["alpha"][0] < 0.6  # a band that says something
    # the extrapolation at 10B lies in its band, and the band holds the true law's score there
    lo, hi = fit.band(10000.0, 0.95)
    assert lo[0] <= float(fit.predict(10000.0)) <= hi[0] and lo[0] <= law(10000.0, 1.0, **TRUE) <= hi[0]


def test_noise_free_runs_give_the_law_back_exactly():
    fit = fit_law(noisy_runs([0.1, 0.5, 1.0], [0], noise=0.0), "potsdam", "params", Settings(draws=20))
    assert fit.params == pytest.approx(TRUE, rel=1e-3)


def test_a_size_only_law_bootstraps_over_seeds_and_one_seed_each_over_residuals():
    # over replicate studies (three seeds per size, all of the data) the 95% band holds the true exponent in most:
    # resampling 3 runs per size makes it a little narrow (27 of 30 measured, docs/open-questions.md); none is 0
    covered = 0
    for replicate in range(12):
        seeded = fit_law(noisy_runs([1.0], [0, 1, 2], noise=0.3, seed=replicate), "loveda", "params",
                         Settings(draws=100))  # fmt: skip
        assert seeded.status == "fit" and seeded.terms == "size" and seeded.bootstrap == "runs"
        covered += seeded.bands["alpha"][0] <= TRUE["alpha"] <= seeded.bands["alpha"][1]
    assert covered >= 8, covered
    single = fit_law(noisy_runs([1.0], [0], noise=0.3), "loveda", "params", Settings(draws=50))
    assert single.status == "fit" and single.bootstrap == "residuals" and single.runs == 4


def test_fewer_than_three_sizes_or_no_more_runs_than_parameters_are_refused_with_the_reason():
    two = {k: PARAMS[k] for k in ("vit_b12x1", "vit_l12x4")}
    fit = fit_law(noisy_runs([0.5, 1.0], [0, 1], sizes=two), "dior_r", "params", Settings(draws=20))
    assert fit.status == "refused" and "2 sizes have results (vit_b12x1, vit_l12x4)" in fit.reason and not fit.params
    three = {k: PARAMS[k] for k in ("vit_b12x1", "vit_l12x4", "vit_h12x4")}
    fit = fit_law(noisy_runs([1.0], [0], sizes=three), "dior_r", "params", Settings(draws=20))
    assert fit.status == "refused" and "3 runs for 3 parameters" in fit.reason


def test_returns_diminish_where_one_doubling_gains_less_than_the_set_gain():
    x = diminishing_at(85.8, 12.0, 0.6, 1.0)
    gain = 12.0 * (x / 85.8) ** -0.6 * (1 - 2**-0.6)
    assert gain == pytest.approx(1.0) and x > 85.8
    assert diminishing_at(85.8, 0.5, 0.6, 1.0) == 85.8  # already below at the smallest size


def write_pretraining(root, size, steps=20):
    folder = root / "pretrain" / size
    folder.mkdir(parents=True)
    run = {"model": size, "shard_dir": "", "out_dir": str(folder), "img_size": 32, "patch_size": 8,
           "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2, "global_batch": 8}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(run))
    log = pd.DataFrame({"step": range(steps), "loss": np.linspace(1.0, 0.5, steps), "images_per_s": 10.0})
    log.to_csv(folder / "metrics.csv", index=False)
    return folder / "metrics.csv"


def test_the_rule_writes_fits_and_points_from_a_finetuning_table_and_the_pretraining_runs(tmp_path):
    from rsfm.plots.scaling import draw
    from rsfm.pretrain.compute import flops_per_image

    sizes = {"vit_tiny12x1": 1.44, "vit_tiny12x4": 5.46, "vit_b12x1": 85.8}
    rows = []
    for size, params in sizes.items():
        for fraction in (0.25, 1.0):
            for seed in (0, 1):
                run = {"benchmark": "potsdam", "size": size, "params_m": params, "fraction": fraction, "seed": seed,
                       "metric": "mIoU"}  # fmt: skip
                score = law(params, fraction, **TRUE, x_ref=1.44) + 0.2 * seed
                rows += [{**run, "init": "pretrained", "split": "test", "value": score},
                         {**run, "init": "scratch", "split": "test", "value": 5.0},
                         {**run, "init": "pretrained", "split": "val", "value": 99.0}]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "metrics.csv", index=False)
    pretrain = {size: write_pretraining(tmp_path, size) for size in sizes}
    out = tmp_path / "out"
    settings = {"draws": 50, "targets_m": [5000]}
    build(tmp_path / "metrics.csv", pretrain, settings, out / "fits.csv", out / "points.csv")
    fits = pd.read_csv(out / "fits.csv")
    assert list(fits["axis"]) == ["params", "compute"] and set(fits["status"]) == {"fit"}
    assert (fits["runs"] == 12).all()  # pretrained runs on the headline split only: no scratch, no val rows
    points = pd.read_csv(out / "points.csv")
    assert list(points.columns) == POINT_COLUMNS
    runs = points[(points["kind"] == "run") & (points["axis"] == "compute")].set_index("at")
    # compute: forward + backward FLOPs of one image x steps x global batch
    expected = flops_per_image(pretrain["vit_b12x1"].parent / "run.json") * 20 * 8 / 1e15
    assert runs.loc["vit_b12x1", "x"].iloc[0] == pytest.approx(expected)
    target = points[(points["kind"] == "target") & (points["axis"] == "params")].iloc[0]
    assert target["at"] == "5B" and target["x"] == 5000 and target["extrapolated"]
    assert target["lo"] <= target["value"] <= target["hi"]
    draw(out / "fits.csv", out / "points.csv", out / "law.png")
    assert (out / "law.png").stat().st_size > 10_000
    (pretrain["vit_b12x1"].parent / "run.json").unlink()
    with pytest.raises(DataError, match=r"run\.json is missing.*rerun the pretraining of vit_b12x1"):
        build(tmp_path / "metrics.csv", pretrain, settings, out / "again.csv", out / "again_points.csv")
    assert not (out / "again.csv").exists()
