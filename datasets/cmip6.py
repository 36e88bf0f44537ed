"""CMIP6 ``thetao`` (Omon) source: several models and members in one training set.

Files are grouped into *runs* by (model, member, grid label), read from the
global attributes ``source_id``, ``variant_label`` (or ``member_id``) and
``grid_label``, else from the CMIP6 file name
``thetao_Omon_<model>_<experiment>_<member>_<grid>_<dates>.nc``. The files of a
run must share one native grid (curvilinear ``gn`` with 2-D latitude/longitude
such as ``nav_lat``/``nav_lon``, or regular ``gr``); different runs may differ.
Every run is regridded onto the common target (by default the EN4.2.2 grid and
levels, as in ReconMOST) and the runs are joined along time, each time step
carrying its ``model`` and ``member`` as coordinates.

The target ocean mask is the intersection of the runs' masks: a cell is ocean
only where every model has ocean there (a warning gives how many cells were
ocean in some models only), so every field is finite over the whole mask.
Target levels below the shallowest model's deepest level are dropped.

Splits: by years (``*_years``) and/or by member (``*_members``: lists of variant
labels such as ``["r2i1p1f1"]``), combined with "and".
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from reconbench.datasets.cf import (
    GriddedFiles,
    group_layouts,
    month_list,
    open_file,
    resolve_paths,
    split_selection,
    warn_regridding,
    year_range,
)
from reconbench.datasets.grid import Grid
from reconbench.datasets.regrid import RegridWarning, target_axes, target_depths
from reconbench.datasets.source import SPLITS, DatasetSource, register_source
from reconbench.errors import InputError

#: thetao_Omon_<model>_<experiment>_<member>_<grid>[_<dates>].nc
FILE_NAME = re.compile(r"^(?P<variable>[^_]+)_(?P<table>[^_]+)_(?P<model>[^_]+)"
                       r"_(?P<experiment>[^_]+)_(?P<member>[^_]+)_(?P<grid>[^_.]+)")


def run_key(path: Path) -> tuple[str, str, str]:
    """(model, member, grid label) of a CMIP6 file, from its attributes or its name."""
    ds = open_file(path)
    attrs = ds.attrs
    ds.close()
    parsed = FILE_NAME.match(path.name)
    parts = parsed.groupdict() if parsed else {}
    model = attrs.get("source_id") or parts.get("model")
    member = attrs.get("variant_label") or attrs.get("member_id") or parts.get("member")
    grid = attrs.get("grid_label") or parts.get("grid") or "gn"
    if not model or not member:
        raise InputError(f"{str(path)!r}: cannot tell its model and member; expected global "
                         f"attributes source_id and variant_label, or a CMIP6 file name "
                         f"thetao_Omon_MODEL_EXPERIMENT_MEMBER_GRID_DATES.nc")
    return str(model), str(member), str(grid)


@register_source("cmip6")
class CMIP6Source(DatasetSource):
    """CMIP6 Omon thetao of one or several models and members, on a common regular grid.

    Parameters
    ----------
    paths : files, globs or a list of them (see :func:`cf.resolve_paths`).
    variable : variable name or standard_name (default ``thetao``).
    grid : 'en4' (default), a resolution in degrees, or 'native' (one regular run).
    depths : 'en4' (default), None (the first run's levels) or a list of depths in m.
    min_ocean_fraction : ocean share of a target cell needed to call it ocean.
    train_years, val_years, test_years : [first, last] years or a year.
    train_months, val_months, test_months : lists of calendar months.
    train_members, val_members, test_members : lists of member labels.
    """

    def __init__(self, paths, variable: str = "thetao", grid="en4", depths="en4",
                 min_ocean_fraction: float = 0.5, train_years=None, val_years=None,
                 test_years=None, train_months=None, val_months=None, test_months=None,
                 train_members=None, val_members=None, test_members=None):
        self.paths, self.variable, self.grid_spec, self.depths = paths, variable, grid, depths
        self.min_ocean_fraction = float(min_ocean_fraction)
        self.train_years, self.val_years, self.test_years = train_years, val_years, test_years
        self.train_months, self.val_months, self.test_months = (train_months, val_months,
                                                                test_months)
        self.train_members, self.val_members, self.test_members = (train_members, val_members,
                                                                   test_members)
        self.runs = self._open_runs(resolve_paths(paths))
        self.grid = self._common_grid()
        model, member = self._labels()
        extra = {s: np.isin(member, getattr(self, f"{s}_members")) for s in SPLITS
                 if getattr(self, f"{s}_members") is not None}
        years = {s: year_range(getattr(self, f"{s}_years"), f"{s}_years") for s in SPLITS}
        months = {s: month_list(getattr(self, f"{s}_months"), f"{s}_months") for s in SPLITS}
        self._selection = split_selection(self.times, years, months, extra)
        self._cache: dict[str, xr.DataArray] = {}

    def get_params(self) -> dict:
        params = super().get_params()
        params["grid"] = self.grid_spec
        return params

    # -- runs and the common grid --------------------------------------------
    def _open_runs(self, paths: list[Path]) -> dict[tuple, GriddedFiles]:
        """One :class:`GriddedFiles` per (model, member, grid), each regridded to the target."""
        groups: dict[tuple, list[Path]] = {}
        for path in paths:
            groups.setdefault(run_key(path), []).append(path)
        layouts = {key: group_layouts(files, self.variable, None, f"CMIP6 run {'/'.join(key)}")
                   for key, files in sorted(groups.items())}
        first = next(iter(layouts.values()))[0]
        if len(layouts) > 1 and isinstance(self.grid_spec, str) and self.grid_spec == "native":
            raise InputError("several CMIP6 runs need a common target: set grid to 'en4' or a "
                             "resolution in degrees")
        lat, lon, _ = target_axes(self.grid_spec, first.lat, first.lon, first.curvilinear,
                                  first.extent, first.what)
        deepest = min(lays[0].depth[-1] for lays in layouts.values())
        depth = target_depths(self.depths, first.depth[first.depth <= deepest])
        runs = {}
        for key, lays in layouts.items():
            runs[key] = GriddedFiles(lays, lat, lon, depth, self.min_ocean_fraction)
            warn_regridding(runs[key], f"CMIP6 run {'/'.join(key)}")
        return runs

    def _common_grid(self) -> Grid:
        """The target grid with the intersection of the runs' ocean masks."""
        masks = np.stack([run.ocean for run in self.runs.values()])
        ocean = masks.all(axis=0)
        partial = int((masks.any(axis=0) & ~ocean).sum())
        if partial:
            warnings.warn(f"CMIP6: {partial} target cells are ocean in some runs but not all; "
                          f"they are land on the common grid", RegridWarning, stacklevel=3)
        run = next(iter(self.runs.values()))
        lat, lon, depth = run.horizontal.lat, run.horizontal.lon, run.depth
        label = self.grid_spec if isinstance(self.grid_spec, str) else f"{self.grid_spec:g}deg"
        return Grid(lat, lon, depth, ocean, name=f"cmip6-{label}-{depth.size}L")

    @property
    def times(self) -> np.ndarray:
        """(n_time,) datetime64 of all runs in order (repeated across runs)."""
        return np.concatenate([run.times for run in self.runs.values()])

    def _labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_time,) model and member of every time step."""
        model = np.concatenate([[key[0]] * run.times.size for key, run in self.runs.items()])
        member = np.concatenate([[key[1]] * run.times.size for key, run in self.runs.items()])
        return model, member

    # -- splits --------------------------------------------------------------
    def split_times(self, which: str) -> np.ndarray:
        """(n,) datetime64 stamps of split ``which`` without reading any data."""
        return self.times[self._selection[which]]

    def _load_split(self, which: str) -> xr.DataArray:
        if which in self._cache:
            return self._cache[which]
        selection = self._selection[which]
        if not selection.any():
            raise InputError(f"the {which} split of dataset {self.name!r} is empty; set "
                             f"{which}_years, {which}_months or {which}_members")
        parts, start = [], 0
        for run in self.runs.values():
            parts.append(run.read(selection[start:start + run.times.size]))
            start += run.times.size
        model, member = self._labels()
        field = self.grid.field(np.concatenate(parts), self.times[selection], name="thetao")
        field = field.assign_coords(model=("time", model[selection]),
                                    member=("time", member[selection]))
        self._cache[which] = field
        return field
