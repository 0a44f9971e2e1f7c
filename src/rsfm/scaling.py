"""Saturating scaling laws of the fine-tuning scores, with bootstrap bands: paper 1's first open question (what
size is optimal beyond the 2.4B it tested; where do returns diminish?), answered from the runs of the workflow.

The law, per benchmark, with ``x`` the encoder's parameters (or its pretraining compute) in units of the smallest
size's and ``f`` the share of the training data::

    S(x, f) = s_inf - a * x**-alpha - b * (f**-beta - 1)

At ``f = 1`` the data term vanishes, so ``s_inf`` is the score an unbounded encoder would reach on all of the data
and ``a * x**-alpha`` the gap a finite one leaves. A run set with one fraction fits the size term only. Bands are
percentiles of the refits on bootstrap resamples of the runs, each size keeping its number of runs (over seeds and
fractions); where every size has a single run, of the fit's residuals instead. Free of torch: scipy fits.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

AXES = {"params": "encoder parameters (M)", "compute": "pretraining compute (PFLOP)"}
MIN_SIZES = 3  # a saturating law has three parameters in size alone: two sizes fit any of them exactly


@dataclass(frozen=True)
class Settings:
    """The fit's settings (config ``scaling_law``)."""

    draws: int = 1000  # bootstrap resamples
    level: float = 0.95  # of the bands
    gain: float = 1.0  # score points per doubling of x below which returns count as diminished
    targets: tuple[float, ...] = (5000.0, 10000.0)  # parameters (M) to extrapolate to
    seed: int = 0

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Settings:
        config = dict(config or {})
        if "targets_m" in config:
            config["targets"] = tuple(float(t) for t in config.pop("targets_m"))
        return cls(**config)


@dataclass
class Fit:
    """One benchmark's law on one axis: its parameters with bands, or why there is none (``status`` != "fit")."""

    benchmark: str
    axis: str
    status: str  # fit, refused, failed
    reason: str = ""
    sizes: int = 0
    runs: int = 0
    terms: str = ""  # "size" or "size+data"
    x_ref: float = math.nan  # the smallest size's x: the unit of x in the law
    bootstrap: str = ""  # "runs" or "residuals": what was resampled
    draws: int = 0  # bootstrap refits that converged
    params: dict[str, float] = field(default_factory=dict)
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    diminishing_at: float = math.nan  # x beyond which a doubling gains less than Settings.gain
    diminishing_band: tuple[float, float] = (math.nan, math.nan)
    curves: np.ndarray | None = None  # bootstrap draws x fitted parameters, for bands of predictions

    def row(self) -> dict[str, Any]:
        """The fit as one row of the fits table."""
        out: dict[str, Any] = {k: v for k, v in asdict(self).items() if k not in ("params", "bands", "curves")}
        out.pop("diminishing_band")
        out["diminishing_lo"], out["diminishing_hi"] = self.diminishing_band
        for name in ("s_inf", "a", "alpha", "b", "beta"):
            out[name] = self.params.get(name, math.nan)
            out[f"{name}_lo"], out[f"{name}_hi"] = self.bands.get(name, (math.nan, math.nan))
        return out

    def predict(self, x: np.ndarray | float, fraction: float = 1.0) -> np.ndarray:
        """The law's score at ``x`` (axis units) and ``fraction``."""
        return _law(self.terms, self.x_ref, np.asarray(x, dtype=float), fraction, *self.params.values())

    def band(self, x: np.ndarray | float, level: float, fraction: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Percentile band of the bootstrap refits' predictions at ``x``."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if self.curves is None or not len(self.curves):
            return np.full(x.shape, np.nan), np.full(x.shape, np.nan)
        draws = np.stack([_law(self.terms, self.x_ref, x, fraction, *p) for p in self.curves])
        tail = 100 * (1 - level) / 2
        return np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)


NAMES = {"size": ("s_inf", "a", "alpha"), "size+data": ("s_inf", "a", "alpha", "b", "beta")}


def _law(terms: str, x_ref: float, x: np.ndarray, fraction: Any, s_inf: float, a: float, alpha: float,
         b: float = 0.0, beta: float = 1.0) -> np.ndarray:  # fmt: skip
    fraction = np.asarray(fraction, dtype=float)
    data = b * (fraction**-beta - 1) if terms == "size+data" else 0.0
    return s_inf - a * (x / x_ref) ** -alpha - data


def _fit_once(terms: str, x_ref: float, x: np.ndarray, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares parameters of the law (scipy's trust-region fit within bounds); raises RuntimeError if the
    fit does not converge."""
    from scipy.optimize import curve_fit

    spread = max(float(np.ptp(y)), 1.0)
    # s_inf within a score's range (or just above the best run), exponents within what a scaling law can mean
    lower = [0.0, 0.0, 1e-3, 0.0, 1e-3][: len(NAMES[terms])]
    upper = [max(100.0, float(y.max()) + 1.0), 1e4, 3.0, 1e4, 3.0][: len(NAMES[terms])]
    p0 = [min(float(y.max()) + spread / 2, upper[0] - 1e-6), spread, 0.5, spread / 2, 0.5][: len(NAMES[terms])]

    def model(xf: np.ndarray, *p: float) -> np.ndarray:
        return _law(terms, x_ref, xf[0], xf[1], *p)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # covariance warnings: the bands come from the bootstrap, not from it
        params, _ = curve_fit(model, np.stack([x, f]), y, p0=p0, bounds=(lower, upper), maxfev=20000)
    return params


def fit_law(points: pd.DataFrame, benchmark: str, axis: str, settings: Settings) -> Fit:
    """The law of ``points`` (columns size, x, fraction, value: one row per run, value in %) with bootstrap bands,
    or a Fit that says why not: fewer than three sizes, no more runs than parameters, or no convergence."""
    sizes = points["size"].nunique()
    fit = Fit(benchmark, axis, "refused", sizes=sizes, runs=len(points))
    if sizes < MIN_SIZES:
        names = ", ".join(sorted(points["size"].unique())) or "none"
        fit.reason = (
            f"{sizes} sizes have results ({names}): a saturating law has {MIN_SIZES} parameters in size, so it "
            f"needs {MIN_SIZES} sizes; through fewer it passes exactly and extrapolates nothing"
        )
        return fit
    fit.terms = "size+data" if points["fraction"].nunique() > 1 else "size"
    names = NAMES[fit.terms]
    if len(points) <= len(names):
        fit.reason = (f"{len(points)} runs for {len(names)} parameters: the law would pass through every run and "
                      "its band would mean nothing; add seeds or fractions")  # fmt: skip
        return fit
    x, f, y = (points[c].to_numpy(dtype=float) for c in ("x", "fraction", "value"))
    fit.x_ref = float(x.min())
    try:
        best = _fit_once(fit.terms, fit.x_ref, x, f, y)
    except RuntimeError as error:
        fit.status, fit.reason = "failed", f"the least-squares fit did not converge: {error}"
        return fit
    fit.status, fit.params = "fit", dict(zip(names, map(float, best), strict=True))
    rng = np.random.default_rng(settings.seed)
    groups = [np.flatnonzero(points["size"].to_numpy() == s) for s in points["size"].unique()]
    by_runs = all(len(g) > 1 for g in groups)
    fit.bootstrap = "runs" if by_runs else "residuals"
    fitted = _law(fit.terms, fit.x_ref, x, f, *best)
    residuals = y - fitted
    draws = []
    for _ in range(settings.draws):
        if by_runs:
            pick = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
            sample = (x[pick], f[pick], y[pick])
        else:
            sample = (x, f, fitted + rng.choice(residuals, size=len(y)))
        try:
            draws.append(_fit_once(fit.terms, fit.x_ref, *sample))
        except RuntimeError:
            continue  # a resample the law cannot fit: left out, and the count of draws says how many were kept
    fit.curves, fit.draws = np.array(draws), len(draws)
    tail = 100 * (1 - settings.level) / 2
    for index, name in enumerate(names):
        values = fit.curves[:, index] if draws else np.array([math.nan])
        fit.bands[name] = (float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail)))
    fit.diminishing_at = diminishing_at(fit.x_ref, *best[1:3], settings.gain)
    if draws:
        ends = np.array([diminishing_at(fit.x_ref, p[1], p[2], settings.gain) for p in fit.curves])
        fit.diminishing_band = (float(np.percentile(ends, tail)), float(np.percentile(ends, 100 - tail)))
    return fit


def diminishing_at(x_ref: float, a: float, alpha: float, gain: float) -> float:
    """The x from which one doubling gains less than ``gain`` points: the gain of a doubling at x is
    a (x / x_ref)^-alpha (1 - 2^-alpha); the smallest size's x where it is already below."""
    first = a * (1 - 2.0**-alpha)
    if first <= gain:
        return x_ref
    return float(x_ref * (first / gain) ** (1 / alpha))


def runs_of(table: pd.DataFrame) -> pd.DataFrame:
    """The headline rows of pretrained encoders on each benchmark's headline split: what the laws fit."""
    from rsfm.finetune.benchmarks import headline_scores

    rows = headline_scores(table)
    return rows[rows["init"] == "pretrained"]


def fit_benchmarks(runs: pd.DataFrame, compute: dict[str, float], settings: Settings) -> list[Fit]:
    """Every benchmark's law on each axis from ``runs`` (runs_of), ``compute``: each size's pretraining FLOPs
    (sizes without are left out of that axis)."""
    fits = []
    for benchmark in sorted(runs["benchmark"].unique()):
        rows = runs[runs["benchmark"] == benchmark]
        for axis in AXES:
            points = rows.assign(x=_axis(rows, axis, compute)).dropna(subset=["x"])
            fits.append(fit_law(points[["size", "x", "fraction", "value"]], benchmark, axis, settings))
    return fits


def _axis(rows: pd.DataFrame, axis: str, compute: dict[str, float]) -> pd.Series:
    return rows["params_m"].astype(float) if axis == "params" else rows["size"].map(compute).astype(float) / 1e15


POINT_COLUMNS = ["benchmark", "axis", "kind", "at", "x", "value", "lo", "hi", "extrapolated"]


def points_table(fits: list[Fit], runs: pd.DataFrame, compute: dict[str, float], settings: Settings,
                 grid: int = 60) -> pd.DataFrame:  # fmt: skip
    """What the figure draws, as a tidy table: each run on all of the data (kind ``run``), and for each fitted law
    its score and band at each size that ran (``size``), at the extrapolation targets (``target``; on the compute
    axis a target costs what the largest size cost per parameter) and along a log grid (``curve``)."""
    out = []
    full = runs[runs["fraction"] == 1.0]
    for fit in fits:
        rows = full[full["benchmark"] == fit.benchmark]
        rows = rows.assign(x=_axis(rows, fit.axis, compute)).dropna(subset=["x"])
        out += [{"benchmark": fit.benchmark, "axis": fit.axis, "kind": "run", "at": r["size"], "x": r["x"],
                 "value": r["value"]} for _, r in rows.iterrows()]  # fmt: skip
        if fit.status != "fit":
            continue
        sizes = rows.drop_duplicates("size").set_index("size")["x"].to_dict()
        largest = max(sizes, key=sizes.get)
        per_param = sizes[largest] / float(rows.loc[rows["size"] == largest, "params_m"].iloc[0])
        targets = {f"{t / 1000:g}B": t * per_param for t in settings.targets}
        end = max([*sizes.values(), *targets.values()])
        curve = [("", x) for x in np.geomspace(min(sizes.values()) / 1.2, end * 1.2, grid)]
        for kind, named in (("size", list(sizes.items())), ("target", list(targets.items())), ("curve", curve)):
            xs = np.array([x for _, x in named], dtype=float)
            lo, hi = fit.band(xs, settings.level)
            for (label, x), value, low, high in zip(named, fit.predict(xs), lo, hi, strict=True):
                out.append({"benchmark": fit.benchmark, "axis": fit.axis, "kind": kind, "at": label, "x": x,
                            "value": value, "lo": low, "hi": high, "extrapolated": x > sizes[largest]})  # fmt: skip
    return pd.DataFrame(out, columns=POINT_COLUMNS)


def pretraining_compute(metrics_csvs: dict[str, str | Path]) -> dict[str, float]:
    """Each size's pretraining FLOPs from its training log and the run.json the same job wrote beside it."""
    from rsfm.errors import DataError
    from rsfm.pretrain.compute import training_flops

    out = {}
    for size, metrics_csv in metrics_csvs.items():
        run_json = Path(metrics_csv).parent / "run.json"
        if not run_json.is_file():
            raise DataError(f"{run_json} is missing (the pretraining job writes it beside {metrics_csv}): rerun "
                            f"the pretraining of {size}")  # fmt: skip
        out[size] = training_flops(run_json, metrics_csv)
    return out


def build(table_csv: str | Path, pretrain_metrics: dict[str, str | Path], config: dict[str, Any] | None,
          fits_csv: str | Path, points_csv: str | Path) -> list[Fit]:  # fmt: skip
    """Rule scaling_law: fit every benchmark's law on both axes, write the fits and the figure's points."""
    from rsfm.io import write_csv

    settings = Settings.from_config(config)
    runs = runs_of(pd.read_csv(table_csv))
    compute = pretraining_compute(pretrain_metrics)
    fits = fit_benchmarks(runs, compute, settings)
    table = pd.DataFrame([{**fit.row(), "level": settings.level, "gain": settings.gain} for fit in fits])
    points = points_table(fits, runs, compute, settings)  # both tables made before either is written
    write_csv(table, fits_csv)
    write_csv(points, points_csv)
    return fits


__all__ = [
    "AXES", "MIN_SIZES", "POINT_COLUMNS", "Fit", "Settings", "build", "diminishing_at", "fit_benchmarks", "fit_law",
    "points_table", "pretraining_compute", "runs_of",
]  # fmt: skip
