"""The common grid every dataset is brought onto, and fields on it.

A :class:`Grid` is regular in latitude and longitude:

- ``lat``: (n_lat,) cell centres in degrees north, strictly ascending;
- ``lon``: (n_lon,) cell centres in degrees east, strictly ascending: in [0, 360)
  for a global grid; a regional grid keeps its box's frame (e.g. -5.5 .. 3.5 for a
  box across the prime meridian), spanning less than 360°;
- ``depth``: (n_depth,) level depths in metres, positive down, strictly ascending;
- ``ocean``: (n_depth, n_lat, n_lon) bool, True where the level is wet.

Fields are :class:`xarray.DataArray` objects with dims ``(time, depth, lat, lon)``,
float32, in degrees Celsius, NaN over land and below the sea floor. A surface-only
dataset has one depth level.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import xarray as xr

from reconbench.errors import InputError

FIELD_DIMS = ("time", "depth", "lat", "lon")

#: The 42 depth levels of the EN4.2.2 objective analyses, in metres.
EN4_DEPTHS = np.array(
    [
        5.0215898, 15.07854, 25.16046, 35.27829, 45.44776, 55.691494, 66.041985,
        76.54591, 87.27029, 98.31118, 109.806175, 121.9519, 135.02855, 149.43373,
        165.72845, 184.69746, 207.42545, 235.38617, 270.53412, 315.37408, 372.96545,
        446.80093, 540.5022, 657.32294, 799.5496, 967.99585, 1161.8059, 1378.661,
        1615.2905, 1868.0707, 2133.517, 2408.5835, 2690.7803, 2978.166, 3269.278,
        3563.0408, 3858.6763, 4155.628, 4453.502, 4752.021, 5050.9897, 5350.272,
    ]
)

#: The 16 levels of the built-in default: every second EN4 level from 5 m to 2134 m.
DEFAULT_DEPTHS = EN4_DEPTHS[0:31:2]


def regular_axes(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes and longitudes of a global regular grid.

    ``resolution`` in degrees must divide 180. Returns ``lat`` (180/res,) from
    -90 + res/2 up, and ``lon`` (360/res,) from res/2 up.
    """
    n_lat = 180.0 / resolution
    if resolution <= 0 or abs(n_lat - round(n_lat)) > 1e-9:
        raise InputError(f"grid resolution must divide 180 degrees, got {resolution!r}")
    n_lat = int(round(n_lat))
    lat = -90.0 + resolution * (np.arange(n_lat) + 0.5)
    lon = resolution * (np.arange(2 * n_lat) + 0.5)
    return lat, lon


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular latitude-longitude grid with depth levels and an ocean mask."""

    lat: np.ndarray
    lon: np.ndarray
    depth: np.ndarray
    ocean: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        lat, lon, depth = (np.asarray(a, dtype=np.float64)
                           for a in (self.lat, self.lon, self.depth))
        ocean = np.asarray(self.ocean, dtype=bool)
        for label, axis in (("lat", lat), ("lon", lon), ("depth", depth)):
            if axis.ndim != 1 or axis.size == 0:
                raise InputError(f"grid {label} must be a non-empty 1-D array, got shape "
                                 f"{axis.shape}")
            if axis.size > 1 and not np.all(np.diff(axis) > 0):
                raise InputError(f"grid {label} must be strictly ascending")
        if lat[0] < -90 or lat[-1] > 90:
            raise InputError("grid lat must lie in [-90, 90] degrees north")
        if lon[0] < -180 or lon[-1] >= 360 or lon[-1] - lon[0] >= 360:
            raise InputError("grid lon must lie in [0, 360) degrees east, or for a regional "
                             "grid span less than 360 degrees from at least -180")
        if depth[0] < 0:
            raise InputError("grid depth must be in metres, positive down")
        expected = (depth.size, lat.size, lon.size)
        if ocean.shape != expected:
            raise InputError(f"grid ocean mask must have shape (depth, lat, lon) = {expected}, "
                             f"got {ocean.shape}")
        if not ocean.any():
            raise InputError("grid has no ocean cell: the ocean mask is False everywhere "
                             "(expected finite values over the ocean, NaN only off it)")
        for name, value in (("lat", lat), ("lon", lon), ("depth", depth), ("ocean", ocean)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    # -- shape and weights -------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """(n_depth, n_lat, n_lon)."""
        return self.ocean.shape

    @property
    def area_weights(self) -> np.ndarray:
        """(n_lat, n_lon) cell-area weights proportional to cos(latitude), unitless."""
        w = np.cos(np.deg2rad(self.lat))[:, None]
        return np.broadcast_to(w, (self.lat.size, self.lon.size))

    @property
    def ocean_fraction(self) -> np.ndarray:
        """(n_depth,) fraction of each level's cells that are ocean (unweighted)."""
        return self.ocean.mean(axis=(1, 2))

    @property
    def key(self) -> str:
        """A short hash of the axes and the ocean mask, for caches and checkpoints."""
        h = hashlib.sha256()
        for a in (self.lat, self.lon, self.depth):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        h.update(np.packbits(self.ocean).tobytes())
        return h.hexdigest()[:16]

    def same_as(self, other: Grid) -> bool:
        """True when both grids have the same axes and ocean mask."""
        return self.key == other.key

    def __repr__(self) -> str:
        return (f"Grid({self.name or 'unnamed'}: {self.lat.size} lat x {self.lon.size} lon x "
                f"{self.depth.size} levels, {self.depth[0]:.0f}-{self.depth[-1]:.0f} m)")

    # -- fields --------------------------------------------------------------
    def coords(self, time) -> dict:
        """Coordinates of a field on this grid at the given times, with CF attributes."""
        return {
            "time": ("time", np.asarray(time), {"standard_name": "time", "axis": "T"}),
            "depth": ("depth", self.depth, {"standard_name": "depth", "units": "m",
                                            "positive": "down", "axis": "Z"}),
            "lat": ("lat", self.lat, {"standard_name": "latitude", "units": "degrees_north",
                                      "axis": "Y"}),
            "lon": ("lon", self.lon, {"standard_name": "longitude", "units": "degrees_east",
                                      "axis": "X"}),
        }

    def field(self, values: np.ndarray, time, name: str = "thetao",
              standard_name: str = "sea_water_potential_temperature") -> xr.DataArray:
        """Wrap a (time, depth, lat, lon) array in °C as a field; NaN is set off the ocean.

        ``standard_name`` is the CF standard name the field carries (a CF source passes
        its file's own, see :attr:`reconbench.datasets.cf.Layout.standard_name`)."""
        values = np.array(values, dtype=np.float32)
        expected = (np.asarray(time).size, *self.shape)
        if values.shape != expected:
            raise InputError(f"field values must have shape (time, depth, lat, lon) = {expected}, "
                             f"got {values.shape}")
        values[:, ~self.ocean] = np.nan
        return xr.DataArray(
            values, dims=FIELD_DIMS, coords=self.coords(time), name=name,
            attrs={"standard_name": standard_name, "units": "degC",
                   "long_name": "sea water temperature"},
        )

    def check_field(self, field: xr.DataArray, what: str = "field", gappy: bool = False) -> None:
        """Raise :class:`InputError` unless ``field`` is a field on this grid.

        Checks dims, shape, coordinates, and that every ocean cell is finite; for a
        ``gappy`` field (of a gappy source), that no value is infinite and that each
        time step has an observed ocean cell.
        """
        if tuple(field.dims) != FIELD_DIMS:
            raise InputError(f"{what} must have dims {FIELD_DIMS}, got {tuple(field.dims)}")
        if field.shape[1:] != self.shape:
            raise InputError(f"{what} has shape {field.shape[1:]} per time step; the grid "
                             f"{self!r} expects {self.shape}")
        for axis in ("lat", "lon", "depth"):
            if not np.allclose(field[axis].values, getattr(self, axis)):
                raise InputError(f"{what} {axis} coordinate differs from the grid's")
        values = field.values
        if gappy:
            self._check_gappy(values, what)
            return
        bad = ~np.isfinite(values) & self.ocean[None]
        if bad.any():
            t, k, i, j = np.argwhere(bad)[0]
            raise InputError(
                f"{what} has {int(bad.sum())} NaN or infinite values inside the ocean (first at "
                f"time index {t}, depth {self.depth[k]:g} m, lat {self.lat[i]:g}, "
                f"lon {self.lon[j]:g}); expected finite values over every ocean cell")

    def _check_gappy(self, values: np.ndarray, what: str) -> None:
        """The checks of :meth:`check_field` for a gappy field (time, depth, lat, lon)."""
        if np.isinf(values).any():
            t, k, i, j = np.argwhere(np.isinf(values))[0]
            raise InputError(f"{what} has infinite values (first at time index {t}, depth "
                             f"{self.depth[k]:g} m, lat {self.lat[i]:g}, lon {self.lon[j]:g}); "
                             f"expected finite values or NaN where not observed")
        observed = (np.isfinite(values) & self.ocean[None]).any(axis=(1, 2, 3))
        if not observed.all():
            raise InputError(f"{what} has no observed ocean cell at time index "
                             f"{int(np.flatnonzero(~observed)[0])}; a gappy field needs at least "
                             f"one observed cell per time step")

    def to_dataset(self) -> xr.Dataset:
        """The grid as a Dataset with an ``ocean`` mask variable (for NetCDF files)."""
        coords = self.coords([])
        coords.pop("time")
        return xr.Dataset({"ocean": (("depth", "lat", "lon"), self.ocean.astype(np.int8),
                                     {"long_name": "ocean mask (1 ocean, 0 land or sea floor)"})},
                          coords=coords, attrs={"grid_name": self.name})

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Grid:
        """Inverse of :meth:`to_dataset`."""
        return cls(ds["lat"].values, ds["lon"].values, ds["depth"].values,
                   ds["ocean"].values.astype(bool), name=str(ds.attrs.get("grid_name", "")))


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere, (..., 3), for latitudes and longitudes in degrees.

    Euclidean (chord) distance between such points is a monotone function of
    great-circle distance, so a KD-tree over them finds great-circle neighbours.
    """
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)
