"""The runner scores a method's uncertainty: a Gaussian method defined here (the monthly
climatology with the train split's variance about it) and a deterministic one side by side."""

import numpy as np
import pandas as pd
import pytest
import scoringrules

from reconbench.benchmark.runner import run_suite, sample_indices
from reconbench.benchmark.suite import parse_suite
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.errors import ReconbenchError
from reconbench.methods.climatology import Climatology
from reconbench.methods.registry import make_method, register_method

SUITE = """
name = "gauss"
samples = 3
seeds = [0]
missing_rates = [0.5]
[[datasets]]
name = "synthetic"
label = "tiny"
resolution = 10.0
train_years = 4
val_years = 1
test_years = 1
[[methods]]
name = "climatology"
[[methods]]
name = "climatology-gauss"
"""


@register_method("climatology-gauss")
class GaussianClimatology(Climatology):
    """The monthly climatology as the mean, the train split's variance about it as the
    Gaussian variance (a real, if uninformed, probabilistic reconstruction)."""

    uncertainty = "variance"

    def fit(self, train, grid):
        super().fit(train, grid)
        months = train["time"].dt.month.values
        anomaly = np.nan_to_num(train.values - self.climatology_[months - 1])  # 0 off the ocean
        self.variance_ = np.stack([anomaly[months == m].var(axis=0, ddof=1)
                                   for m in range(1, 13)]).astype(np.float32)
        return self

    def reconstruct_distribution(self, obs):
        mean = self.reconstruct(obs)
        months = obs["time"].dt.month.values
        return mean.to_dataset(name="mean").assign(
            variance=mean.copy(data=self.variance_[months - 1]))


@register_method("nan-ensemble")
class NaNEnsemble(Climatology):
    """An ensemble whose members are NaN (a test double for the error)."""

    uncertainty = "ensemble"

    def reconstruct_distribution(self, obs):
        mean = self.reconstruct(obs)
        members = mean.expand_dims(member=2).copy(data=np.full((2, *mean.shape), np.nan))
        return mean.to_dataset(name="mean").assign(members=members)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    store = run_suite(parse_suite(SUITE), tmp_path_factory.mktemp("r") / "gauss", progress=False)
    return pd.read_parquet(store.root / "results.parquet")


def test_only_the_method_with_uncertainty_gets_probabilistic_rows(rows):
    probabilistic = {"crps", "spread", "spread_skill", "coverage_50", "coverage_90"}
    by_method = rows.groupby("method").metric.agg(set)
    assert probabilistic <= by_method["climatology-gauss"]
    assert {f"pit_{k:02d}" for k in range(10)} <= by_method["climatology-gauss"]
    assert not (probabilistic & by_method["climatology"])  # no rows, not zeros
    assert not any(m.startswith(("pit_", "rank_")) for m in by_method["climatology"])
    # the mean is the reconstruction: the same MSE as the plain climatology
    mse = rows[(rows.metric == "mse") & (rows.point_set == "evaluation")].pivot_table(
        index=["sample", "depth"], columns="method", values="value", dropna=False)
    np.testing.assert_allclose(mse["climatology"], mse["climatology-gauss"])


def test_crps_rows_equal_scoringrules_on_the_same_points(rows):
    source = make_source("synthetic", resolution=10.0, train_years=4, val_years=1,
                         test_years=1)
    test = source.split("test")
    truth = test.isel(time=sample_indices(test["time"].values, 3)).values
    method = make_method("climatology-gauss").fit(source.split("train"), source.grid)
    guidance = MaskSpec("random", 0.5, 0).build(source.grid, 3)
    months = test["time"].dt.month.values[sample_indices(test["time"].values, 3)]
    mean = method.climatology_[months - 1]
    crps = scoringrules.crps_normal(truth, mean, np.sqrt(method.variance_[months - 1]))
    points = source.grid.ocean[None] & ~guidance
    got = rows[(rows.method == "climatology-gauss") & (rows.metric == "crps")
               & rows.depth.isna()].sort_values("sample").value
    np.testing.assert_allclose(got, [crps[t][points[t]].mean() for t in range(3)], rtol=1e-5)


def test_a_climatology_with_the_train_variance_is_roughly_calibrated(rows):
    pooled = rows[(rows.method == "climatology-gauss") & rows.depth.isna()
                  ].groupby("metric").value.mean()
    # test years differ from train years, so not exactly 1; a wrong variance (e.g. the
    # variance of the field instead of its anomaly) would be off by an order of magnitude
    assert 0.6 < pooled["spread_skill"] < 1.6
    assert 0.7 < pooled["coverage_90"] <= 1.0


def test_bad_uncertainty_stops_the_cell_with_one_line(tmp_path):
    suite = parse_suite(SUITE.replace('"climatology-gauss"', '"nan-ensemble"'))
    with pytest.raises(ReconbenchError, match="method 'nan-ensemble' returned NaN, infinite"):
        run_suite(suite, tmp_path / "r", progress=False)
