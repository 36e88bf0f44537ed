"""Mask kinds from real observing systems: positions (Argo index, EN4 profiles) and clouds."""

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from reconbench.datasets.grid import Grid, regular_axes
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.observed import Positions
from reconbench.errors import InputError

ARGO_HEADER = "# Title : Profile directory file of the Argo Global Data Assembly Center\n" \
              "file,date,latitude,longitude,ocean,profiler_type,institution,date_update\n"


@pytest.fixture(scope="module")
def grid():
    """10° grid, 3 levels (10, 500, 1500 m), land at 100-140 °E, shallow sea north of 50 °N."""
    lat, lon = regular_axes(10.0)
    depth = np.array([10.0, 500.0, 1500.0])
    ocean = np.ones((3, lat.size, lon.size), bool)
    ocean[:, :, (lon > 100) & (lon < 140)] = False
    ocean[2][lat > 50] = False
    return Grid(lat, lon, depth, ocean, name="test-10deg")


def write_argo_index(path, rows):
    lines = [f"aoml/1/profiles/R1_{i:03d}.nc,{date},{lat},{lon},A,845,AO,20200101000000"
             for i, (date, lat, lon) in enumerate(rows)]
    path.write_text(ARGO_HEADER + "\n".join(lines) + "\n")
    return path


def test_argo_positions_of_the_month_snapped_to_the_grid(tmp_path, grid):
    index = write_argo_index(tmp_path / "index.txt", [
        ("20000115120000", 0.3, -175.2),      # January 2000 -> cell (lat 0..10, lon 180..190)
        ("20000120000000", 62.0, 22.0),       # January 2000, north of 50 °N: 2 levels only
        ("20000215000000", -30.0, 30.0),      # February: not in January's mask
        ("20000101000000", 0.0, 120.0),       # on land, more than 1.5 cells from the ocean
        ("20000110000000", "", ""),           # no position: ignored
    ])
    spec = MaskSpec("positions", 0.5, 0, {"index": str(index), "max_depth": 1000.0})
    masks, fallbacks = spec.build_with_report(grid, 1, np.array(["2000-01-31"],
                                                                dtype="datetime64[ns]"))
    mask = masks[0]
    i, j = np.searchsorted(grid.lat, 5.0), np.searchsorted(grid.lon, 185.0)
    assert mask[:, i, j].tolist() == [True, True, False]  # down to max_depth = 1000 m
    assert mask[:, np.searchsorted(grid.lat, 65.0), 2].tolist() == [True, True, False]
    assert mask[:2].sum() == 4  # two profiles, two levels each
    assert fallbacks == 1  # the 1500 m level got the usual one random guidance point


def test_positions_respect_the_missing_rate_and_the_seed(tmp_path, grid):
    rng = np.random.default_rng(1)
    rows = [("20000110000000", la, lo) for la, lo in zip(rng.uniform(-60, 40, 300),
                                                         rng.uniform(150, 350, 300), strict=True)]
    index = write_argo_index(tmp_path / "index.txt", rows)
    times = np.array(["2000-01-15"], dtype="datetime64[ns]")
    spec = MaskSpec("positions", 0.95, 3, {"index": str(index), "max_depth": 2000.0})
    first = spec.build(grid, 1, times)
    assert 0 < first.sum() <= round(0.05 * grid.ocean.sum())
    assert np.array_equal(first, spec.build(grid, 1, times))
    other = MaskSpec("positions", 0.95, 4, {"index": str(index)}).build(grid, 1, times)
    assert not np.array_equal(first, other)


def test_en4_profile_file(tmp_path, grid):
    depth = np.array([[5.0, 400.0, np.nan], [5.0, 800.0, 1600.0]])
    xr.Dataset({"LATITUDE": ("N_PROF", [-5.0, 25.0]), "LONGITUDE": ("N_PROF", [205.0, 325.0]),
                "JULD": ("N_PROF", [18276.5, 18280.0]),  # days since 1950-01-01: Jan 2000
                "DEPH_CORR": (("N_PROF", "N_LEVELS"), depth)}).to_netcdf(tmp_path / "p.nc")
    spec = MaskSpec("positions", 0.5, 0, {"index": str(tmp_path / "p.nc")})
    mask = spec.build(grid, 1, np.array(["2000-01-15"], dtype="datetime64[ns]"))[0]
    columns = mask.sum(axis=0)
    assert columns[np.searchsorted(grid.lat, -5.0), np.searchsorted(grid.lon, 205.0)] == 1
    assert columns[np.searchsorted(grid.lat, 25.0), np.searchsorted(grid.lon, 325.0)] == 3


def test_positions_need_the_time(tmp_path, grid):
    index = write_argo_index(tmp_path / "index.txt", [("20000115120000", 0.3, 10.0)])
    with pytest.raises(InputError, match="needs the time"):
        MaskSpec("positions", 0.5, 0, {"index": str(index)}).build(grid, 1)
    with pytest.raises(InputError, match=r"unknown parameter\(s\) indx for mask kind "
                                         r"'positions'; accepted: index, max_depth, match; "
                                         r"did you mean 'index'\?"):
        MaskSpec("positions", 0.5, 0, {"indx": str(index)}).build(grid, 1)


def test_real_argo_index_sample(shared_data, grid):
    kind = Positions(str(shared_data / "argo_index_sample.txt"))
    assert len(kind.profiles) > 2600
    assert len(kind.month_profiles(np.datetime64("1998-03-15"))) == 3  # checked with awk
    spec = MaskSpec("positions", 0.5, 0, {"index": str(shared_data / "argo_index_sample.txt")})
    mask = spec.build(grid, 1, np.array(["1998-03-15"], dtype="datetime64[ns]"))[0]
    assert 1 <= mask[0].sum() <= 3


def test_clouds_are_correlated_reproducible_and_at_the_rate(grid):
    lat, lon = regular_axes(2.0)
    big = Grid(lat, lon, np.array([0.0]), np.ones((1, lat.size, lon.size), bool))
    spec = MaskSpec("clouds", 0.7, 5, {"scale_deg": 8.0})
    mask = spec.build(big, 2)
    assert mask[0].sum() == round(0.3 * big.ocean.sum())
    assert np.array_equal(mask, spec.build(big, 2)) and not np.array_equal(mask[0], mask[1])
    n_clusters = ndimage.label(mask[0, 0])[1]
    random = MaskSpec("random", 0.7, 5).build(big, 1)[0, 0]
    assert n_clusters < ndimage.label(random)[1] / 20  # a few large gaps, not salt and pepper
    assert not spec.build(grid, 1)[0][~grid.ocean].any()
