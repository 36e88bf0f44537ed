"""Dataset sources: named providers of train / val / test fields on one grid.

A source is built from keyword parameters (the ``[[datasets]]`` tables of a suite
file) through the registry::

    @register_source("synthetic")
    class SyntheticOcean(DatasetSource): ...

    source = make_source("synthetic", resolution=4)
    train = source.split("train")        # DataArray (time, depth, lat, lon), °C
    clim = source.climatology()          # DataArray (month, depth, lat, lon), °C
"""

from __future__ import annotations

import abc
import inspect

import numpy as np
import xarray as xr

from reconbench.datasets.grid import Grid
from reconbench.errors import InputError
from reconbench.registry import Registry

SPLITS = ("train", "val", "test")


class DatasetSource(abc.ABC):
    """Base class of dataset sources.

    Subclasses set ``name`` and ``grid`` and implement :meth:`_load_split`.
    Parameters are keyword arguments of ``__init__`` and are reported by
    :meth:`get_params`, as in scikit-learn.

    A *gappy* source (``gappy = True``: satellite fields with clouds, sparse
    gridded products, or a complete source with gaps imposed by
    :mod:`reconbench.datasets.gaps`) may have NaN at ocean cells that were not
    observed at that time, in every split; its ``grid.ocean`` comes from a land
    mask, never from the data. A complete source has NaN only off the ocean.
    """

    name: str = ""
    grid: Grid
    gappy: bool = False
    #: Whether :meth:`read_months` reads only the months asked, cheaply (a memory map,
    #: the regridded cache), so that training can stream months rather than load the split.
    lazy_reads: bool = False

    def split(self, which: str) -> xr.DataArray:
        """The field of one split: DataArray (time, depth, lat, lon), float32, °C; NaN off the
        ocean and, for a gappy source, at ocean cells not observed at that time."""
        if which not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {which!r}")
        return self._load_split(which)

    @abc.abstractmethod
    def _load_split(self, which: str) -> xr.DataArray:
        """Return the field of split ``which`` (already checked to be valid)."""

    def split_times(self, which: str) -> np.ndarray:
        """(n,) time stamps of split ``which``; sources override it to avoid loading data."""
        return self.split(which)["time"].values

    def read_months(self, which: str, index: np.ndarray) -> np.ndarray:
        """Values (len(index), depth, lat, lon) float32 °C of the time steps ``index`` of
        split ``which``, equal to ``split(which).values[index]``; sources override it to
        read only those steps (the regridded cache is written through it)."""
        return self.split(which).isel(time=np.asarray(index)).values

    def field_attrs(self) -> dict:
        """Attributes this source sets on its split fields beyond the CF ones."""
        return {}

    def input_files(self) -> list:
        """The files the fields are read from (their sizes and times key the cache)."""
        return []

    def cache_fingerprint(self) -> dict:
        """What else, beyond parameters, grid and input files, makes the fields (e.g. a
        generator's version): part of the regridded cache's key."""
        return {}

    def climatology(self) -> xr.DataArray:
        """Monthly mean of the train split: DataArray (month, depth, lat, lon), °C.

        ``month`` runs 1..12; a month absent from the train split is NaN, and so is
        (for a gappy source) a cell never observed in that calendar month.
        """
        if getattr(self, "_climatology", None) is None:
            self._climatology = monthly_climatology(self.split("train"))
        return self._climatology

    def get_params(self) -> dict:
        """The constructor parameters of this source and their values."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}


def monthly_climatology(field: xr.DataArray) -> xr.DataArray:
    """Mean over time of each calendar month: (time, ...) -> (month = 1..12, ...).

    NaN values (gaps) are left out of the mean; a cell with no value in a month is NaN.
    A Dask-backed field (a split read from the regridded cache) is read
    ``block`` months at a time (:func:`streamed_monthly_climatology`).
    """
    if field.chunks is not None:
        return streamed_monthly_climatology(field)
    clim = field.groupby("time.month").mean("time", skipna=True)
    return clim.reindex(month=np.arange(1, 13)).astype(np.float32)


def streamed_monthly_climatology(field: xr.DataArray, block: int = 12) -> xr.DataArray:
    """:func:`monthly_climatology` reading ``block`` time steps at a time, with float64
    sums (so equal to the in-memory one to float32 rounding); memory: two float64
    arrays (12, ...) and one block."""
    months = field["time"].dt.month.values
    shape = (12, *field.shape[1:])
    sums, counts = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    for start in range(0, months.size, block):
        values = np.asarray(field[start:start + block].values)
        known = np.isfinite(values)
        for i, month in enumerate(months[start:start + block]):
            sums[month - 1] += np.where(known[i], values[i], 0.0)
            counts[month - 1] += known[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        clim = np.where(counts > 0, sums / counts, np.nan).astype(np.float32)
    dims = ("month", *field.dims[1:])
    coords = {d: field[d] for d in field.dims[1:] if d in field.coords}
    return xr.DataArray(clim, dims=dims, coords={"month": np.arange(1, 13), **coords},
                        name=field.name, attrs=field.attrs)


SOURCES = Registry("dataset", "datasets", DatasetSource, package="reconbench.datasets")

#: Class decorator registering a dataset source under a name.
register_source = SOURCES.register
#: Names of the registered dataset sources.
source_names = SOURCES.names
#: The class registered under a name; :class:`InputError` if there is none.
source_class = SOURCES.get
