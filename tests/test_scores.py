"""Probabilistic scores against hand-computed cases, scoringrules and calibrated draws."""

import numpy as np
import pytest
import scoringrules
from scipy.stats import norm

from reconbench.benchmark.scores import Distribution, histogram_metrics, probabilistic_score

DEPTH = np.array([5.0, 50.0])


def value(rows, metric, depth):
    sel = rows[rows.metric == metric]
    sel = sel[sel.depth.isna()] if depth is None else sel[sel.depth == depth]
    assert len(sel) == 1
    return float(sel.value.iloc[0])


@pytest.fixture(scope="module")
def ensemble_rows():
    """One sample, two levels of 1 x 3 cells, 3 members; the last cell of level 50 m is
    a guidance point (not scored)."""
    truth = np.array([[[[0.5, 1.0, 4.0]], [[0.0, 2.0, 9.0]]]])
    members = np.array([[[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]],
                        [[[1.0, 2.0, 2.0]], [[1.0, 3.0, 0.0]]],
                        [[[2.0, 4.0, 3.0]], [[2.0, 5.0, 0.0]]]])[:, None]
    points = np.ones(truth.shape, dtype=bool)
    points[0, 1, 0, 2] = False
    dist = Distribution(members.mean(axis=0), members=members)
    return probabilistic_score(truth, dist, points, DEPTH)


# hand: fair CRPS = mean|x - y| - sum_ij |x_i - x_j| / (2 M (M - 1)), M = 3
# level 5 m: y=0.5, x=(0,1,2): 2.5/3 - 8/12; y=1, x=(0,2,4): 5/3 - 16/12; y=4, x=(1,2,3): 2 - 8/12
# level 50 m: y=0, x=(0,1,2): 1 - 8/12; y=2, x=(1,3,5): 5/3 - 16/12
CRPS_5 = [2.5 / 3 - 8 / 12, 5 / 3 - 16 / 12, 2 - 8 / 12]
CRPS_50 = [1 - 8 / 12, 5 / 3 - 16 / 12]


@pytest.mark.parametrize(("metric", "depth", "expected"), [
    ("crps", 5.0, np.mean(CRPS_5)),
    ("crps", 50.0, np.mean(CRPS_50)),
    ("crps", None, np.mean(CRPS_5 + CRPS_50)),
    # members' variances (ddof 1): 1, 4, 1 | 1, 4; errors of the mean: 0.5, 1, -2 | 1, 1
    ("spread", 5.0, np.sqrt(2.0)),
    ("spread", None, np.sqrt(11 / 5)),
    ("spread_skill", 5.0, np.sqrt(2.0 * 4 / 3) / np.sqrt(5.25 / 3)),
    ("spread_skill", None, np.sqrt(11 / 5 * 4 / 3) / np.sqrt(7.25 / 5)),
    # ranks (members below the truth): 1, 1, 3 | 0 or 1 (a tie at 0), 1
    ("rank_03", 5.0, 1 / 3),
    ("rank_01", 5.0, 2 / 3),
    ("rank_02", None, 0.0),
])
def test_ensemble_scores_by_hand(ensemble_rows, metric, depth, expected):
    assert value(ensemble_rows, metric, depth) == pytest.approx(expected, rel=1e-12)


def test_ensemble_ties_are_split_and_histogram_sums_to_one(ensemble_rows):
    assert value(ensemble_rows, "rank_00", 50.0) + value(ensemble_rows, "rank_01", 50.0) == 1.0
    assert histogram_metrics(ensemble_rows, "rank_") == [f"rank_{k:02d}" for k in range(4)]
    total = sum(value(ensemble_rows, m, None) for m in histogram_metrics(ensemble_rows, "rank_"))
    assert total == pytest.approx(1.0)
    assert not histogram_metrics(ensemble_rows, "pit_")


def test_gaussian_scores_by_hand():
    """y = μ with σ = 1: CRPS = 2 φ(0) − 1/√π; y = μ + 2 with σ = 2: z = 1."""
    truth = np.array([[[[0.0, 2.0]]]])
    dist = Distribution(np.zeros((1, 1, 1, 2)), variance=np.array([[[[1.0, 4.0]]]]))
    rows = probabilistic_score(truth, dist, np.ones(truth.shape, bool), DEPTH[:1])
    crps_1 = 2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi)
    crps_2 = 2 * (1 * (2 * norm.cdf(1) - 1) + 2 * norm.pdf(1) - 1 / np.sqrt(np.pi))
    assert value(rows, "crps", 5.0) == pytest.approx((crps_1 + crps_2) / 2, rel=1e-9)
    assert value(rows, "spread_skill", None) == pytest.approx(np.sqrt(2.5) / np.sqrt(2.0))
    # PIT 0.5 (bin 5) and Φ(1) = 0.841 (bin 8); only the first is inside the 50 % interval
    assert value(rows, "pit_05", None) == value(rows, "pit_08", None) == 0.5
    assert value(rows, "coverage_50", None) == 0.5
    assert value(rows, "coverage_90", None) == 1.0


def test_crps_matches_scoringrules_and_a_direct_formula():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(2, 2, 5, 6))
    members = rng.normal(size=(6, 2, 2, 5, 6))
    points = rng.random(truth.shape) < 0.7
    rows = probabilistic_score(truth, Distribution(members.mean(0), members=members), points,
                               DEPTH)
    direct = (np.abs(members - truth).mean(0) - np.abs(members[:, None] - members[None]).sum(
        (0, 1)) / (2 * 6 * 5))
    reference = scoringrules.crps_ensemble(truth, np.moveaxis(members, 0, -1), estimator="fair")
    np.testing.assert_allclose(direct, reference, rtol=1e-12)
    sel = rows[(rows.metric == "crps") & rows.depth.notna()].sort_values(["sample", "depth"])
    expected = [reference[t, k][points[t, k]].mean() for t in range(2) for k in range(2)]
    np.testing.assert_allclose(sel.value, expected, rtol=1e-12)
    variance = rng.uniform(0.5, 2, truth.shape)
    rows = probabilistic_score(truth, Distribution(np.zeros_like(truth), variance=variance),
                               points, DEPTH)
    reference = scoringrules.crps_normal(truth, 0.0, np.sqrt(variance))
    pooled = rows[(rows.metric == "crps") & rows.depth.isna()].sort_values("sample").value
    np.testing.assert_allclose(pooled, [reference[t][points[t]].mean() for t in range(2)],
                               rtol=1e-12)


def calibrated(n_members: int, rng, shape=(2, 2, 60, 60)):
    """Truth and members drawn from the same Gaussian at each point (μ, σ vary)."""
    mu = rng.normal(10, 3, shape)
    sigma = rng.uniform(0.2, 2.0, shape)
    truth = mu + sigma * rng.standard_normal(shape)
    members = mu + sigma * rng.standard_normal((n_members, *shape))
    return truth, members, mu, sigma


# 14 400 points: a histogram share's sd is √(p (1 − p) / n) ≤ 0.0042, so 0.015 is > 3.5 sd
TOLERANCE = 0.015


@pytest.mark.parametrize("n_members", [4, 8])
def test_calibrated_ensemble_has_unit_spread_skill_and_flat_ranks(n_members):
    truth, members, _, _ = calibrated(n_members, np.random.default_rng(n_members))
    rows = probabilistic_score(truth, Distribution(members.mean(0), members=members),
                               np.ones(truth.shape, bool), DEPTH)
    pooled = rows[rows.depth.isna()].groupby("metric").value.mean()
    assert pooled["spread_skill"] == pytest.approx(1.0, abs=0.03)
    ranks = pooled[histogram_metrics(rows, "rank_")]
    assert len(ranks) == n_members + 1
    np.testing.assert_allclose(ranks, 1 / (n_members + 1), atol=TOLERANCE)
    assert pooled["coverage_50"] == pytest.approx(0.5, abs=TOLERANCE)
    assert pooled["coverage_90"] == pytest.approx(0.9, abs=TOLERANCE)


def test_calibrated_gaussian_is_flat_and_an_overconfident_one_is_not():
    truth, _, mu, sigma = calibrated(2, np.random.default_rng(3))
    points = np.ones(truth.shape, bool)
    rows = probabilistic_score(truth, Distribution(mu, variance=sigma ** 2), points, DEPTH)
    pooled = rows[rows.depth.isna()].groupby("metric").value.mean()
    assert pooled["spread_skill"] == pytest.approx(1.0, abs=0.03)
    np.testing.assert_allclose(pooled[histogram_metrics(rows, "pit_")], 0.1, atol=TOLERANCE)
    assert pooled["coverage_90"] == pytest.approx(0.9, abs=TOLERANCE)
    narrow = probabilistic_score(truth, Distribution(mu, variance=(sigma / 2) ** 2), points,
                                 DEPTH)
    pooled = narrow[narrow.depth.isna()].groupby("metric").value.mean()
    assert pooled["spread_skill"] == pytest.approx(0.5, abs=0.03)
    assert pooled["pit_00"] > 0.15 and pooled["pit_09"] > 0.15  # U-shaped
    assert pooled["coverage_90"] < 0.7
