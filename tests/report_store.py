"""A small hand-made results store for the report tests.

Two methods ("alpha", "beta"), two missing rates (0.5, 0.9), two samples, two
levels (10 m, 100 m), one dataset and mask kind. The all-levels masked MSE on
evaluation points of each (method, rate) is given by :data:`HEADLINE` per sample;
every other score is a fixed multiple of it, so that expected tables are easy to
write by hand.
"""

import numpy as np
import pandas as pd
import xarray as xr

from reconbench.benchmark.store import COLUMNS, ResultsStore

#: (method, missing rate) -> masked MSE on evaluation points of samples 0 and 1.
HEADLINE = {("alpha", 0.5): (1.0, 3.0), ("alpha", 0.9): (4.0, 6.0),
            ("beta", 0.5): (0.5, 1.5), ("beta", 0.9): (6.0, 8.0)}
#: (metric, point set) -> factor applied to the headline value.
FACTORS = {("mse", "evaluation"): 1.0, ("mse", "guidance"): 0.1, ("rmse", "evaluation"): 0.5,
           ("mse_paper", "evaluation"): 0.6, ("mse_paper", "guidance"): 0.05,
           ("mse_paper", "total"): 0.5}
#: Per-level factors: alpha is better near the surface, beta at depth.
DEPTHS = {"alpha": {10.0: 0.5, 100.0: 2.0}, "beta": {10.0: 1.5, 100.0: 1.0}}
#: (method) -> (seconds per field, peak MiB, fit seconds).
COST = {"alpha": (0.25, 300.0, 2.0), "beta": (0.002, 250.0, 5.0)}


#: Wavelength bins of the hand-made PSD scores and each method's score in them.
PSD_SCORES = {"alpha": {8: 0.3, 9: 0.7, 10: 0.95}, "beta": {8: 0.1, 9: 0.4, 10: 0.9}}


def hand_rows(ensemble: bool = False, spectral: bool = False) -> pd.DataFrame:
    """The rows of the store; with ``ensemble``, also the probabilistic rows of an ensemble
    (``spread``, ``crps``, ``spread_skill``, coverages and a 3-bin rank histogram); with
    ``spectral``, PSD scores (:data:`PSD_SCORES`) for the whole grid and a box "gulf" whose
    effective resolutions are twice the whole grid's."""
    factors = dict(FACTORS)
    if ensemble:
        factors.update({("spread", "evaluation"): 0.4, ("crps", "evaluation"): 0.3,
                        ("spread_skill", "evaluation"): 0.2, ("coverage_50", "evaluation"): 0.1,
                        ("coverage_90", "evaluation"): 0.15, ("rank_00", "evaluation"): 0.05,
                        ("rank_01", "evaluation"): 0.1, ("rank_02", "evaluation"): 0.05})
    records = []
    for (method, rate), values in HEADLINE.items():
        base = dict(method=method, missing_rate=rate, cell=f"{method}-{rate:g}")
        for sample, value in enumerate(values):
            for (metric, point_set), factor in factors.items():
                records.append(dict(base, sample=sample, depth=np.nan, point_set=point_set,
                                    metric=metric, value=value * factor))
                for depth, depth_factor in DEPTHS[method].items():
                    records.append(dict(base, sample=sample, depth=depth, point_set=point_set,
                                        metric=metric, value=value * factor * depth_factor))
        records.append(dict(base, sample=-1, depth=np.nan, point_set="spectral",
                            metric="effective_resolution_km", value=1000.0 * values[0]))
        if spectral:
            records.append(dict(base, sample=-1, depth=np.nan, point_set="spectral:gulf",
                                metric="effective_resolution_km", value=2000.0 * values[0]))
            for point_set in ("spectral", "spectral:gulf"):
                records += [dict(base, sample=-1, depth=np.nan, point_set=point_set,
                                 metric=f"psd_score_{k:02d}", value=score)
                            for k, score in PSD_SCORES[method].items()]
        for metric, value in zip(("seconds_per_field", "peak_rss_mb", "fit_seconds"),
                                 COST[method], strict=True):
            records.append(dict(base, sample=-1, depth=np.nan, point_set="cost", metric=metric,
                                value=value))
    rows = pd.DataFrame(records)
    return rows.assign(suite="hand", dataset="toy", split="test", method_name=rows["method"],
                       params="{}", fitted_params="{}", mask_kind="random", seed=0,
                       mask_fallbacks=0, time=np.where(rows["sample"] >= 0, "2000-01-16", ""))[
        COLUMNS]


def toy_truth() -> xr.DataArray:
    """A (depth, lat, lon) field on a 6 x 12 grid with a land block, NaN over land."""
    lat, lon, depth = np.linspace(-75, 75, 6), np.arange(15.0, 360, 30), np.array([10.0, 100.0])
    values = 25 * np.cos(np.deg2rad(lat))[None, :, None] - depth[:, None, None] / 20 \
        + 0 * lon[None, None, :]
    values[:, 2:4, 3:6] = np.nan
    return xr.DataArray(values, dims=("depth", "lat", "lon"),
                        coords={"depth": depth, "lat": lat, "lon": lon,
                                "time": np.datetime64("2000-01-16")},
                        attrs={"units": "degC"})


def write_store(root, ensemble: bool = False, spectral: bool = False) -> ResultsStore:
    """The hand-made store on disk, with the truth and every cell's first sample."""
    store = ResultsStore(root)
    rows = hand_rows(ensemble, spectral)
    truth = toy_truth()
    store.write_truth("toy", truth)
    rng = np.random.default_rng(0)
    for cell, cell_rows in rows.groupby("cell"):
        store.write_cell(cell, cell_rows)
        rate = cell_rows["missing_rate"].iloc[0]
        noise = rng.normal(0, 1 if cell.startswith("alpha") else 2, truth.shape)
        guidance = (rng.random(truth.shape) > rate).astype(np.int8)
        store.write_reconstruction(cell, xr.Dataset(
            {"reconstruction": truth + noise, "guidance": truth.copy(data=guidance)}))
    store.write_metadata({"suite": "hand", "git_commit": "0123456789abcdef", "seeds": [0],
                          "suite_toml": "[[methods]]\nname = 'beta'\n[[methods]]\n"
                                        "name = 'alpha'\n"})
    return store
