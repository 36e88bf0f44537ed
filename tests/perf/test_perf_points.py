"""Cost of point observations: reading and gridding the shared Argo floats, the Argo OSE.

Targets (issue 12): reading and gridding the eight shared floats <= 5 s; the
argo-ose suite (climatology, linear, oi, kriging, dineof) <= 5 min on 2 cores.
"""

import os

import pytest

from reconbench.benchmark.runner import run_suite
from reconbench.benchmark.suite import load_suite, parse_suite
from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.points import read_observations
from reconbench.datasets.superobs import superobs

ATLAS_LEVELS = [10, 20, 30, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 700, 800,
                900, 1000]


def test_read_and_grid_the_shared_floats(benchmark, shared_data):
    import numpy as np

    lat, lon = regular_axes(2.0)
    depth = np.array(ATLAS_LEVELS, float)
    grid = Grid(lat, lon, depth, np.ones((depth.size, lat.size, lon.size), bool))
    files = sorted((shared_data / "argo_profiles").glob("*_prof.nc"))

    def read_and_grid():
        return superobs(read_observations(files), grid)

    result = benchmark.pedantic(read_and_grid, rounds=3)
    assert result.n_profiles > 500


@pytest.mark.slow
def test_argo_ose_suite(benchmark, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RECONBENCH_SHARED_DATA", str(shared_data))
    text = load_suite("argo-ose").source_text
    suite = parse_suite(text.replace('[[methods]]\nname = "nearest"\n\n', ""), "argo-ose")
    assert [m.name for m in suite.methods] == ["climatology", "linear", "oi", "kriging",
                                               "dineof"]
    runs = iter(range(10))
    benchmark.pedantic(lambda: run_suite(suite, tmp_path / f"run{next(runs)}", progress=False),
                       rounds=1)
    assert os.path.exists(tmp_path / "run0" / "results.parquet")
