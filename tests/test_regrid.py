"""Regridding: bin averaging at coasts, nearest fill on finer targets, vertical interpolation."""

import numpy as np
import pytest

from reconbench.datasets.regrid import (
    HorizontalBinning,
    RegridWarning,
    VerticalInterpolator,
    target_depths,
)
from reconbench.errors import InputError


def coast(min_ocean_fraction=0.5):
    """Four 1° source cells at the equator (one target cell of 2°), 3 wet / 1 dry or 1 wet."""
    lat2, lon2 = np.meshgrid([-0.5, 0.5], [0.5, 1.5], indexing="ij")
    binning = HorizontalBinning(lat2.ravel(), lon2.ravel(), np.array([0.0]), np.array([1.0]),
                                min_ocean_fraction)
    values = np.array([[10.0, 12.0, 14.0, np.nan], [10.0, np.nan, np.nan, np.nan]])
    return binning, values


def test_coast_cell_mostly_ocean_averages_only_ocean_values():
    binning, values = coast()
    ocean = binning.ocean_mask(np.isfinite(values))
    assert ocean[:, 0, 0].tolist() == [True, False]
    assert binning.lost_ocean == 1  # the single wet cell of level 2 falls in target land
    out = binning(values[None])
    assert out[0, 0, 0, 0] == pytest.approx(12.0)  # no land value enters the mean


def test_min_ocean_fraction_zero_keeps_every_ocean_cell():
    binning, values = coast(min_ocean_fraction=0.0)
    assert binning.ocean_mask(np.isfinite(values))[:, 0, 0].tolist() == [True, True]
    assert binning.lost_ocean == 0
    assert binning(values[None])[0, 1, 0, 0] == pytest.approx(10.0)


def test_target_finer_than_source_copies_the_nearest_cell():
    lat2, lon2 = np.meshgrid([-45.0, 45.0], [90.0, 270.0], indexing="ij")
    binning = HorizontalBinning(lat2.ravel(), lon2.ravel(), np.arange(-85.0, 90, 10),
                                np.arange(5.0, 360, 10))
    assert binning.finer_than_source
    values = np.array([[1.0, 2.0, 3.0, np.nan]])
    ocean = binning.ocean_mask(np.isfinite(values))[0]
    out = binning(values[None])[0, 0]
    assert out[17, 9] == 3.0 and not ocean[17, 27] and np.isnan(out[17, 27])


def test_longitudes_bin_across_the_dateline():
    binning = HorizontalBinning(np.array([0.0, 0.0]), np.array([-0.4, 359.9]),
                                np.array([0.0]), np.array([0.0, 180.0]))
    assert binning(np.array([[[1.0, 3.0]]]))[0, 0, 0, 0] == 2.0  # both in the 0 °E cell


def test_vertical_interpolation_stops_at_the_sea_floor():
    interp = VerticalInterpolator(np.array([10.0, 20.0, 40.0]), np.array([0.0, 15.0, 30.0]))
    column = np.array([[[20.0, 20.0], [10.0, 10.0], [0.0, np.nan]]])  # (1 time, 3 lev, 2 pts)
    out = interp(column)
    np.testing.assert_allclose(out[0, :, 0], [20.0, 15.0, 5.0])
    assert out[0, 1, 1] == 15.0 and np.isnan(out[0, 2, 1])  # 30 m needs the dry 40 m level


def test_target_levels_below_the_source_are_dropped():
    with pytest.warns(RegridWarning, match="2 target levels"):
        kept = target_depths([5.0, 100.0, 2000.0, 3000.0], np.array([5.0, 1000.0]))
    assert kept.tolist() == [5.0, 100.0]
    with pytest.raises(InputError, match="ascending"):
        target_depths([10.0, 5.0], np.array([5.0, 1000.0]))
