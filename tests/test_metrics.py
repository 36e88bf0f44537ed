"""Metrics against values computed by hand on a 2-level, 2 x 3 grid."""

import numpy as np
import pytest

from reconbench.benchmark.metrics import score

LAT = np.array([0.0, 60.0])
DEPTH = np.array([5.0, 100.0])
OCEAN = np.array([[[1, 1, 1], [1, 1, 0]],
                  [[1, 1, 1], [0, 0, 0]]], dtype=bool)
ERROR = np.array([[[1, -2, 3], [4, 5, np.nan]],
                  [[2, 0, -1], [np.nan, np.nan, np.nan]]])
GUIDANCE = np.zeros((2, 2, 3), dtype=bool)
GUIDANCE[0, 0, 0] = GUIDANCE[0, 1, 1] = GUIDANCE[1, 0, 1] = True


@pytest.fixture(scope="module")
def rows():
    truth = np.full((1, 2, 2, 3), 10.0)
    truth[:, ~OCEAN] = np.nan
    return score(truth, truth + ERROR[None], GUIDANCE[None], OCEAN, DEPTH, LAT, 0.925)


def value(rows, point_set, metric, depth):
    sel = rows[(rows.point_set == point_set) & (rows.metric == metric)]
    sel = sel[sel.depth.isna()] if depth is None else sel[sel.depth == depth]
    assert len(sel) == 1
    return float(sel.value.iloc[0])


@pytest.mark.parametrize(("point_set", "metric", "depth", "expected"), [
    # evaluation points: level 5 m has errors -2, 3, 4; level 100 m has 2, -1
    ("evaluation", "mse", 5.0, 29 / 3),
    ("evaluation", "mse", 100.0, 5 / 2),
    ("evaluation", "mse", None, 34 / 5),
    ("evaluation", "rmse", 5.0, np.sqrt(29 / 3)),
    ("evaluation", "rmse", None, np.sqrt(34 / 5)),
    ("evaluation", "mae", 5.0, 3.0),
    ("evaluation", "mae", None, 12 / 5),
    ("evaluation", "bias", 5.0, 5 / 3),
    ("evaluation", "bias", None, 6 / 5),
    # cos-latitude weights 1 (0°N) and 0.5 (60°N): (4 + 9 + 0.5*16) / 2.5
    ("evaluation", "mse_area", 5.0, 21 / 2.5),
    ("evaluation", "mse_area", 100.0, 5 / 2),
    ("evaluation", "mse_area", None, 26 / 4.5),
    # paper style: sum over the points / all 6 cells; all levels = mean of levels
    ("evaluation", "mse_paper", 5.0, 29 / 6),
    ("evaluation", "mse_paper", 100.0, 5 / 6),
    ("evaluation", "mse_paper", None, (29 / 6 + 5 / 6) / 2),
    ("guidance", "mse", 5.0, 13.0),
    ("guidance", "mse", 100.0, 0.0),
    ("guidance", "mse", None, 26 / 3),
    ("guidance", "mse_paper", None, (26 / 6 + 0) / 2),
    ("ocean", "mse", None, (29 + 5 + 26) / 8),
    ("ocean", "n_points", 5.0, 5),
    ("ocean", "n_points", None, 8),
    ("evaluation", "n_points", 100.0, 2),
    ("total", "mse_paper", None, 0.925 * 34 / 12 + 0.075 * 26 / 12),
])
def test_hand_computed(rows, point_set, metric, depth, expected):
    assert value(rows, point_set, metric, depth) == pytest.approx(expected, rel=1e-12)


def test_paper_total_reproduces_published_combination():
    """total = 0.925 recon + 0.075 guidance, as RECONMOST.md's EN4 figures (0.633)."""
    # one level of 1 x 4 cells, all ocean; errors chosen so that the per-level
    # paper values are recon = 0.680 and guidance = 0.049 (sum / 4 cells)
    ocean = np.ones((1, 1, 4), dtype=bool)
    guidance = np.array([[[[True, False, False, False]]]])
    error = np.sqrt(np.array([0.049 * 4, 0.680 * 4, 0.0, 0.0]))[None, None, None]
    rows = score(np.zeros((1, 1, 1, 4)), error, guidance, ocean, np.array([5.0]),
                 np.array([0.0]), 0.925)
    assert value(rows, "evaluation", "mse_paper", None) == pytest.approx(0.680)
    assert value(rows, "guidance", "mse_paper", None) == pytest.approx(0.049)
    assert value(rows, "total", "mse_paper", None) == pytest.approx(0.633, abs=5e-4)


def test_values_outside_the_point_set_do_not_matter(rows):
    truth = np.full((1, 2, 2, 3), 10.0)
    recon = truth + ERROR[None]
    recon[0, 0, 0, 0] += 100.0  # a guidance point: evaluation scores unchanged
    other = score(truth, recon, GUIDANCE[None], OCEAN, DEPTH, LAT, 0.925)
    assert value(other, "evaluation", "mse", None) == value(rows, "evaluation", "mse", None)
    assert value(other, "guidance", "mse", None) != value(rows, "guidance", "mse", None)


def test_empty_point_set_gives_nan():
    ocean = np.ones((1, 1, 2), dtype=bool)
    guidance = np.ones((1, 1, 1, 2), dtype=bool)  # missing rate 0: no evaluation points
    rows = score(np.zeros((1, 1, 1, 2)), np.ones((1, 1, 1, 2)), guidance, ocean,
                 np.array([5.0]), np.array([0.0]), 0.0)
    assert np.isnan(value(rows, "evaluation", "mse", None))
    assert value(rows, "guidance", "mse", None) == 1.0
