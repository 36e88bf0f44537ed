"""Performance benchmarks (pytest-benchmark): run only with ``--benchmark-only``.

``tox -e perf`` runs ``pytest tests/perf --benchmark-only --benchmark-autosave
--benchmark-compare``: each run is saved as JSON under ``.benchmarks/`` and
compared with the previous one (the first run has nothing to compare with and
only saves). A plain ``pytest`` skips everything in this folder.

Add a method's benchmark as a ``test_*.py`` file here using the ``fields``
fixture; slow ones should use ``benchmark.pedantic`` with few rounds.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr

from reconbench.benchmark.runner import observe
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import DatasetSource

MISSING_RATE = 0.925
SAMPLES = 4


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", default=False):
        return
    skip = pytest.mark.skip(reason="performance benchmark: run with --benchmark-only (tox -e perf)")
    for item in items:
        if "tests/perf/" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


@dataclass
class Fields:
    """A synthetic dataset at one resolution, its samples and their observations."""

    source: DatasetSource
    grid: Grid
    truth: xr.DataArray  # (SAMPLES, depth, lat, lon)
    guidance: np.ndarray  # (SAMPLES, depth, lat, lon) bool
    obs: xr.DataArray  # truth at the guidance points, NaN elsewhere
    missing_rate: float = MISSING_RATE

    @property
    def samples(self) -> int:
        return self.truth.sizes["time"]


_FIELDS: dict[float, Fields] = {}


@pytest.fixture
def fields(request) -> Fields:
    """``Fields`` at ``request.param`` degrees (parametrize indirectly), built once."""
    resolution = float(request.param)
    if resolution not in _FIELDS:
        source = make_source("synthetic", resolution=resolution, train_years=2, val_years=1,
                             test_years=1)
        truth = source.split("test").isel(time=slice(0, SAMPLES)).load()
        guidance = MaskSpec("random", MISSING_RATE, seed=0).build(source.grid, SAMPLES)
        _FIELDS[resolution] = Fields(source, source.grid, truth, guidance,
                                     observe(truth, guidance))
    return _FIELDS[resolution]
