"""Reading and writing fields as NetCDF files.

:func:`read_training` and :func:`read_observations` are what ``reconbench
reconstruct`` reads its files with: the CF reader of the ``netcdf`` dataset of
suites (:mod:`reconbench.datasets.cf`), with the same checks of every time step.
:func:`write_field` writes a field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from reconbench.datasets.cf import GriddedFiles, build_target, group_layouts
from reconbench.datasets.grid import FIELD_DIMS, Grid
from reconbench.errors import InputError


def read_training(path: str | Path, variable: str | None, units: str | None = None
                  ) -> tuple[xr.DataArray, Grid]:
    """The training file of ``reconbench reconstruct`` through the CF reader of suites.

    Returns the field (time, depth, lat, lon) °C on the file's own grid (sorted axes)
    and that grid, whose ocean is where the file is finite at every time step; every
    time step is checked (:func:`~reconbench.datasets.cf.scan_files`), a gap inside
    the ocean included. ``units`` overrides the file's units.
    """
    layouts = group_layouts([Path(path)], variable, units, f"training file {str(path)!r}")
    lat, lon, depth, _ = build_target("native", None, layouts[0])
    files = GriddedFiles(layouts, lat, lon, depth, 0.5)
    grid = Grid(lat, lon, depth, files.ocean, name=Path(path).stem)
    values = files.read(np.ones(files.times.size, bool))
    return grid.field(values, files.times, name=layouts[0].variable,
                      standard_name=layouts[0].standard_name), grid


def read_observations(path: str | Path, variable: str | None, units: str | None, grid: Grid
                      ) -> tuple[xr.DataArray, tuple[str, ...]]:
    """Observations (time, depth, lat, lon) °C on ``grid`` (NaN = not observed), through
    the CF reader, every time step checked but gaps allowed; and the file's dims in its
    own order, named time, depth, lat, lon (a file without depth has none)."""
    layout = group_layouts([Path(path)], variable, units, f"observation file {str(path)!r}")[0]
    lat, lon, depth, _ = build_target("native", None, layout)
    if (depth.size, lat.size, lon.size) != grid.shape or not (
            np.allclose(lat, grid.lat) and np.allclose(lon, grid.lon)
            and np.allclose(depth, grid.depth)):
        raise InputError(f"observations {str(path)!r} have shape {(depth.size, lat.size, lon.size)}"
                         f" (depth, lat, lon) per time step but the training file has "
                         f"{grid.shape} (or other coordinate values); expected the same grid")
    files = GriddedFiles([layout], lat, lon, depth, 0.5, ocean=grid.ocean)
    obs = grid.field(files.read(np.ones(files.times.size, bool)), files.times,
                     name=layout.variable, standard_name=layout.standard_name)
    names = dict(zip(layout.dims, FIELD_DIMS, strict=True))
    file_dims = tuple(names[d] for d in layout.file_dims)
    return obs, file_dims if "time" in file_dims else ("time", *file_dims)


def write_field(field: xr.DataArray, path: str | Path) -> None:
    """Write a field to NetCDF (float32, NaN as the fill value)."""
    encoding = {field.name or "thetao": {"dtype": "float32", "_FillValue": np.float32(np.nan)}}
    field.to_dataset(name=field.name or "thetao").to_netcdf(path, encoding=encoding)
