"""The built-in synthetic ocean: a seeded, physically shaped temperature field.

The field is a sum of simple components, one function each, on a regular grid
whose coasts come from a real land mask (:mod:`reconbench.datasets.landmask`):

- a mean state: sea surface temperature (SST) falling from about 28 °C at the
  equator to the freezing point (-1.8 °C) at the poles, with a warm pool, cold
  tongues, eastern-boundary upwelling and sharp western-boundary-current fronts
  (Gulf Stream, Kuroshio, ...), above a thermocline whose depth varies with
  latitude and basin (shallow in the east of the equatorial oceans, deep in the
  western subtropical gyres) and a background main thermocline and abyss;
- a seasonal cycle of opposite phase in the two hemispheres, small at the
  equator, confined to the upper ~100 m;
- an ENSO-like mode: a damped oscillator (AR(2)) index with a 3-7 year period
  that warms the eastern equatorial Pacific and tilts the thermocline (deeper in
  the east, shallower in the west during El Niño);
- mesoscale eddies: Gaussian random fields with a steep spectrum, AR(1) in time,
  strongest near the fronts and in the Southern Ocean, decaying with depth;
- small white noise.

Everything is determined by the parameters (seed included). The whole series is
generated once and cached as a memory-mappable ``.npy`` file in
``cache_dir()/synthetic/``; splits are slices of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import ndimage
from tqdm import tqdm

from reconbench.datasets.grid import DEFAULT_DEPTHS, Grid, regular_axes
from reconbench.datasets.landmask import cache_dir, surface_ocean
from reconbench.datasets.source import DatasetSource, register_source
from reconbench.errors import InputError
from reconbench.files import temporary_beside

#: Bump whenever the generated numbers change, so stale cache files are not reused.
GENERATOR_VERSION = 1

FREEZING = -1.8  # °C, sea-water freezing point (surface temperature near the poles)
KM_PER_DEG = 111.2  # km per degree of latitude
MONTHS_PER_CHUNK = 12  # generation works one year at a time to bound memory


@register_source("synthetic")
class SyntheticOcean(DatasetSource):
    """A synthetic global ocean on a regular grid, monthly from ``start_year``.

    Parameters
    ----------
    resolution : grid spacing in degrees (must divide 180); 2 gives 90 x 180 cells.
    depths : level depths in metres, ascending; default ``DEFAULT_DEPTHS``
        (16 EN4 levels, 5-2134 m). ``EN4_DEPTHS`` gives the paper's 42 levels.
    seed : seeds the sea-floor roughness, ENSO index, eddies and noise.
    start_year, train_years, val_years, test_years : the series covers
        ``train_years + val_years + test_years`` years from January of
        ``start_year``; train comes first, then val, then test.
    """

    lazy_reads = True  # months are read from the memory-mapped series

    def __init__(self, resolution: float = 2.0, depths=None, seed: int = 0,
                 start_year: int = 1950, train_years: int = 40, val_years: int = 5,
                 test_years: int = 10):
        self.resolution = float(resolution)
        self.depths = [float(d) for d in (DEFAULT_DEPTHS if depths is None else depths)]
        self.seed = int(seed)
        self.start_year = int(start_year)
        self.train_years = int(train_years)
        self.val_years = int(val_years)
        self.test_years = int(test_years)
        for label in ("train_years", "val_years", "test_years"):
            if getattr(self, label) < 1:
                raise InputError(f"synthetic dataset parameter {label} must be >= 1, "
                                 f"got {getattr(self, label)}")
        self.grid = build_grid(self.resolution, np.asarray(self.depths), self.seed)
        self._series: np.ndarray | None = None

    # -- time axis and splits -----------------------------------------------
    @property
    def n_months(self) -> int:
        """Number of months in the whole series (all splits)."""
        return 12 * (self.train_years + self.val_years + self.test_years)

    def times(self) -> np.ndarray:
        """(n_months,) datetime64 mid-month time stamps of the whole series."""
        months = np.datetime64(f"{self.start_year:04d}-01", "M") + np.arange(self.n_months + 1)
        edges = months.astype("datetime64[s]")
        return edges[:-1] + (edges[1:] - edges[:-1]) // 2

    def split_slice(self, which: str) -> slice:
        """Month indices of split ``which`` within the whole series."""
        train, val = 12 * self.train_years, 12 * self.val_years
        return {"train": slice(0, train), "val": slice(train, train + val),
                "test": slice(train + val, self.n_months)}[which]

    def _load_split(self, which: str) -> xr.DataArray:
        part = self.split_slice(which)
        return self.grid.field(self.series()[part], self.times()[part])

    def split_times(self, which: str) -> np.ndarray:
        return self.times()[self.split_slice(which)]

    def read_months(self, which: str, index: np.ndarray) -> np.ndarray:
        """Months ``index`` of split ``which``, read from the series file with plain reads
        (not through the memory map, whose pages would stay resident)."""
        offset = self.series().offset  # bytes before the data in the .npy file
        month_bytes = 4 * int(np.prod(self.grid.shape))
        first = self.split_slice(which).start
        out = np.empty((len(index), *self.grid.shape), np.float32)
        with open(self.cache_path, "rb") as fh:
            for i, m in enumerate(np.asarray(index)):
                fh.seek(offset + (first + int(m)) * month_bytes)
                out[i] = np.fromfile(fh, np.float32, month_bytes // 4).reshape(self.grid.shape)
        out[:, ~self.grid.ocean] = np.nan
        return out

    def cache_fingerprint(self) -> dict:
        return {"generator_version": GENERATOR_VERSION}

    def __getstate__(self) -> dict:
        """Pickled without the memory map (a Dask task gets the parameters, not the data)."""
        return dict(self.__dict__, _series=None)

    # -- the cached series -----------------------------------------------------
    @property
    def cache_path(self) -> Path:
        """``cache_dir()/synthetic/<hash of the parameters and GENERATOR_VERSION>.npy``."""
        params = dict(self.get_params(), version=GENERATOR_VERSION)
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:20]
        return cache_dir() / "synthetic" / f"{key}.npy"

    def series(self) -> np.ndarray:
        """The whole series: read-only memory map (n_months, depth, lat, lon), float32, °C.

        Generated and written to :attr:`cache_path` on first use.
        """
        if self._series is None:
            path = self.cache_path
            if not path.exists():
                _write_series(path, self.grid, self.n_months, self.seed)
            self._series = np.load(path, mmap_mode="r")
        return self._series


# -- grid and sea floor ---------------------------------------------------------
def build_grid(resolution: float, depths: np.ndarray, seed: int) -> Grid:
    """The synthetic grid: real coastlines, a synthetic sea floor cutting deep levels."""
    lat, lon = regular_axes(resolution)
    surface = surface_ocean(lat, lon)
    floor = sea_floor(surface, lat, lon, _rngs(seed)["floor"])
    ocean = surface[None] & (depths[:, None, None] < floor[None])
    return Grid(lat, lon, depths, ocean,
                name=f"synthetic-{resolution:g}deg-{depths.size}L")


def sea_floor(surface: np.ndarray, lat: np.ndarray, lon: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """Sea-floor depth in metres, (n_lat, n_lon); 0 on land.

    Shelf (~100 m) at the coast, a continental slope whose width varies along
    the coast, an abyssal plain near 4800 m, mid-basin ridges, and smooth seeded
    roughness (std ~400 m). Narrow seas are shallow because no cell is far from land.
    """
    res = abs(lat[1] - lat[0])
    # distance to the nearest land cell, periodic in longitude, in km
    tiled = np.tile(surface, (1, 3))
    cells = ndimage.distance_transform_edt(tiled)[:, lon.size:2 * lon.size]
    coast_km = np.maximum(cells - 0.5, 0.0) * res * KM_PER_DEG
    shelf_width = np.exp(0.6 * smooth_random_field(rng, lat, lon, scale_deg=8.0))
    slope = 1.0 - np.exp(-(coast_km / (300.0 * shelf_width)) ** 2)
    ridge = 1800.0 * np.exp(-((basin_position(surface) - 0.5) / 0.07) ** 2)
    ridge[surface.all(axis=1)] = 0.0  # no mid-basin ridge where there is no basin
    roughness = 400.0 * smooth_random_field(rng, lat, lon, scale_deg=6.0)
    floor = 100.0 + (4700.0 - ridge + roughness) * slope
    return np.where(surface, np.clip(floor, 50.0, 6000.0), 0.0)


def smooth_random_field(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray,
                        scale_deg: float) -> np.ndarray:
    """A smooth Gaussian random field, (n_lat, n_lon), std ~1, correlation ~``scale_deg``."""
    res = abs(lat[1] - lat[0])
    field = ndimage.gaussian_filter(rng.standard_normal((lat.size, lon.size)),
                                    sigma=scale_deg / res, mode=("nearest", "wrap"))
    return field / field.std()


def zonal_distance_to_land(surface: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of cells to the nearest land to the west and to the east, (n_lat, n_lon) each.

    Periodic in longitude; ``inf`` on latitude rows without land.
    """
    n_lon = surface.shape[1]
    idx = np.arange(2 * n_lon)

    def cells_since_land(ocean: np.ndarray) -> np.ndarray:
        land2 = np.tile(~ocean, (1, 2))
        last_land = np.maximum.accumulate(np.where(land2, idx, -1), axis=1)
        return (idx - last_land)[:, n_lon:].astype(np.float64)

    west = cells_since_land(surface)
    east = cells_since_land(surface[:, ::-1])[:, ::-1]
    no_land = surface.all(axis=1)
    west[no_land], east[no_land] = np.inf, np.inf
    return west, east


def basin_position(surface: np.ndarray) -> np.ndarray:
    """Relative zonal position in the basin, (n_lat, n_lon): 0 at the west coast, 1 at the east.

    0.5 on rows without land (the Southern Ocean).
    """
    west, east = zonal_distance_to_land(surface)
    with np.errstate(invalid="ignore"):
        pos = west / (west + east)
    return np.where(np.isfinite(pos), pos, 0.5)


# -- the mean state -------------------------------------------------------------
@dataclass(frozen=True)
class MeanState:
    """Time-independent ingredients of the field on one grid.

    All 2-D arrays are (n_lat, n_lon); ``background`` is (n_depth, n_lat, 1).
    """

    sst: np.ndarray  # mean SST, °C
    thermocline: np.ndarray  # thermocline depth, m
    background: np.ndarray  # temperature the column tends to below the thermocline, °C
    seasonal_amplitude: np.ndarray  # °C, signed: > 0 where the maximum is in August
    eddy_amplitude: np.ndarray  # °C, std of the surface eddy field
    enso_sst: np.ndarray  # °C of SST per unit ENSO index
    enso_thermocline: np.ndarray  # m of thermocline deepening per unit ENSO index


#: Large-scale SST anomalies: (name, lon °E, lat °N, width lon °, width lat °, amplitude °C).
SST_FEATURES = (
    ("Indo-Pacific warm pool", 140.0, 0.0, 35.0, 12.0, 1.5),
    ("Pacific cold tongue", 255.0, -1.0, 30.0, 4.0, -3.0),
    ("Atlantic cold tongue", 350.0, -1.0, 12.0, 4.0, -1.5),
    ("North Atlantic Drift", 335.0, 60.0, 25.0, 9.0, 4.0),
)

#: Fronts: (name, west lon °E, east lon °E, lat at west °N, lat at east °N, step °C).
#: The poleward side is colder by ``step``; a full-circle front has west 0, east 360.
FRONTS = (
    ("Gulf Stream", 280.0, 330.0, 36.0, 43.0, 7.0),
    ("Kuroshio", 138.0, 185.0, 35.0, 37.0, 6.0),
    ("Brazil-Malvinas Confluence", 300.0, 340.0, -38.0, -42.0, 5.0),
    ("Agulhas Return Current", 15.0, 70.0, -39.0, -42.0, 4.0),
    ("Antarctic Polar Front", 0.0, 360.0, -52.0, -52.0, 2.0),
)


def mean_state(grid: Grid, resolution: float) -> MeanState:
    """The mean state and the spatial patterns of the variable components on ``grid``."""
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    surface = grid.ocean[0]
    position = basin_position(surface)
    west, east = zonal_distance_to_land(surface)
    cell_km = resolution * KM_PER_DEG * np.cos(np.deg2rad(lat2))
    front_sst, front_eddy = fronts(lat2, lon2)
    sst = (zonal_sst(lat2) + features(lat2, lon2) + front_sst
           + boundary_currents(lat2, west * cell_km, east * cell_km))
    under_ice = np.clip((sst - FREEZING) / 3.0, 0.1, 1.0)  # little eddy activity under ice
    return MeanState(
        sst=sst,
        thermocline=thermocline_depth(lat2, position),
        background=background_temperature(grid.depth[:, None], grid.lat)[:, :, None],
        seasonal_amplitude=seasonal_amplitude(lat2),
        eddy_amplitude=(0.4 + front_eddy + 0.3 * np.exp(-((lat2 + 50.0) / 8.0) ** 2)) * under_ice,
        enso_sst=enso_sst_pattern(lat2, lon2),
        enso_thermocline=enso_thermocline_pattern(lat2, lon2, position),
    )


def zonal_sst(lat: np.ndarray) -> np.ndarray:
    """Zonal-mean SST in °C: ~27.5 at the equator, ~15 at 40°, freezing near the poles."""
    return FREEZING + (27.5 - FREEZING) * np.exp(-(np.abs(lat) / 49.7) ** 2.73)


def _gaussian_lon(lon: np.ndarray, centre: float, width: float) -> np.ndarray:
    """exp(-(Δlon/width)²) with Δlon the periodic longitude difference in degrees."""
    d = (lon - centre + 180.0) % 360.0 - 180.0
    return np.exp(-(d / width) ** 2)


def features(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Sum of the :data:`SST_FEATURES` Gaussian bumps, °C, same shape as ``lat``."""
    total = np.zeros_like(lat)
    for _name, lon0, lat0, wlon, wlat, amp in SST_FEATURES:
        total += amp * _gaussian_lon(lon, lon0, wlon) * np.exp(-((lat - lat0) / wlat) ** 2)
    return total


def boundary_currents(lat: np.ndarray, west_km: np.ndarray, east_km: np.ndarray) -> np.ndarray:
    """SST anomaly (°C) near coasts: subtropical upwelling cools eastern boundaries,
    poleward boundary currents warm western ones. Distances to land in km."""
    subtropics = np.exp(-((np.abs(lat) - 22.0) / 10.0) ** 2)
    upwelling = -3.0 * np.exp(-east_km / 300.0) * subtropics
    warm_west = 1.5 * np.exp(-west_km / 800.0) * np.exp(-((np.abs(lat) - 25.0) / 12.0) ** 2)
    return upwelling + warm_west


def fronts(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`FRONTS`: SST anomaly (°C) and extra eddy amplitude (°C), each like ``lat``.

    Each front concentrates the poleward temperature drop ``step`` into a tanh of
    ~1.5° width, minus a linear ramp over ±10° so the far field is unchanged.
    """
    sst, eddy = np.zeros_like(lat), np.zeros_like(lat)
    for _name, lon_w, lon_e, lat_w, lat_e, step in FRONTS:
        span = lon_e - lon_w
        s = ((lon - lon_w) % 360.0) / span
        window = np.ones_like(s) if span >= 360.0 else np.where(s <= 1.0, np.sin(np.pi * s), 0.0)
        lat_front = lat_w + (lat_e - lat_w) * np.clip(s, 0.0, 1.0)
        poleward = (lat - lat_front) * np.sign(lat_front)
        shape = np.tanh(poleward / 1.5) - np.clip(poleward / 10.0, -1.0, 1.0)
        sst -= 0.5 * step * shape * window
        eddy += step / 6.0 * np.exp(-(poleward / 4.0) ** 2) * window
    return sst, eddy


def thermocline_depth(lat: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Thermocline depth in m: ~60 m in the eastern equatorial oceans and at high
    latitudes, ~200 m in the western equatorial oceans, ~400 m in western subtropical gyres."""
    west = 1.0 - position
    gyre = np.exp(-((np.abs(lat) - 27.0) / 11.0) ** 2)
    equator = np.exp(-(lat / 8.0) ** 2)
    return 70.0 + gyre * (160.0 + 200.0 * west) + equator * 150.0 * west


def background_temperature(depth: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Temperature below the thermocline, °C, broadcast of ``depth`` (m) and ``lat`` (°N).

    A main thermocline from a latitude-dependent top temperature (65 % of
    the way from freezing to the zonal SST) decaying over ~650 m to an abyssal
    profile of 1.2 + 2 exp(-z / 1500 m).
    """
    abyss = 1.2 + 2.0 * np.exp(-depth / 1500.0)
    top = FREEZING + 0.65 * (zonal_sst(lat) - FREEZING)
    return abyss + (top - abyss) * np.exp(-depth / 650.0)


def thermocline_shape(depth: np.ndarray, thermocline: np.ndarray) -> np.ndarray:
    """Fraction (0..1) of the surface excess left at ``depth`` below a mixed layer:
    1 above the thermocline, a tanh drop over about half its depth, 0 below."""
    width = 0.25 * thermocline + 10.0
    return (1.0 - np.tanh((depth - thermocline) / width)) / (1.0 + np.tanh(thermocline / width))


# -- variable components --------------------------------------------------------
def seasonal_amplitude(lat: np.ndarray) -> np.ndarray:
    """Surface seasonal amplitude in °C, signed by hemisphere (> 0: warmest in August).

    About 0.4 °C at the equator, 4.5 °C near 40°N and 3 °C near 40°S.
    """
    peak = np.where(lat > 0, 4.5, 3.0) * np.exp(-((np.abs(lat) - 40.0) / 17.0) ** 2)
    return np.tanh(lat / 5.0) * (0.4 + peak)


def seasonal_cycle(month: np.ndarray) -> np.ndarray:
    """(n,) cosine seasonal phase of calendar months 0..11: 1 in August, -1 in February."""
    return np.cos(2.0 * np.pi * (month - 7) / 12.0)


def seasonal_decay(depth: np.ndarray) -> np.ndarray:
    """(n_depth,) seasonal amplitude relative to the surface: exp(-(z / 80 m)²)."""
    return np.exp(-(depth / 80.0) ** 2)


def enso_index(n_months: int, rng: np.random.Generator, period_months: float = 52.0,
               damping_months: float = 30.0, spin_up: int = 240) -> np.ndarray:
    """(n_months,) ENSO-like index with unit variance: an AR(2) damped oscillator.

    The spectral peak is at ``period_months`` (about 4 years), broad over 3-7 years.
    """
    r, w = np.exp(-1.0 / damping_months), 2.0 * np.pi / period_months
    a1, a2 = 2.0 * r * np.cos(w), -r * r
    variance = (1.0 - a2) / ((1.0 + a2) * ((1.0 - a2) ** 2 - a1 ** 2))
    shocks = rng.standard_normal(n_months + spin_up)
    x = np.zeros(n_months + spin_up)
    for t in range(2, x.size):
        x[t] = a1 * x[t - 1] + a2 * x[t - 2] + shocks[t]
    return x[spin_up:] / np.sqrt(variance)


def enso_sst_pattern(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """SST anomaly per unit ENSO index, °C: ~1.2 °C in the eastern equatorial Pacific."""
    return 1.2 * _gaussian_lon(lon, 245.0, 35.0) * np.exp(-(lat / 8.0) ** 2)


def enso_thermocline_pattern(lat: np.ndarray, lon: np.ndarray,
                             position: np.ndarray) -> np.ndarray:
    """Thermocline deepening per unit ENSO index, m: +40 m east, -40 m west (Pacific)."""
    pacific = _gaussian_lon(lon, 205.0, 55.0) * np.exp(-(lat / 10.0) ** 2)
    return 40.0 * (2.0 * position - 1.0) * pacific


def eddy_spectrum_filter(lat: np.ndarray, lon: np.ndarray, k0: float = 1 / 60) -> np.ndarray:
    """(n_lat, n_lon // 2 + 1) amplitude filter for ``rfft2`` giving unit-variance eddies.

    The 2-D power spectrum is (k² + k0²)^-2 in cycles per degree (k0 = 1/60°), so
    a zonal transect has a k^-3 spectrum at scales below ~60°, as monthly SST
    anomalies in COBE-SST2 have: at coarse resolutions the field stands for the
    resolved part of mesoscale and larger-scale variability.
    """
    res = abs(lat[1] - lat[0])
    ky = np.fft.fftfreq(lat.size, d=res)[:, None]
    kx_full = np.fft.fftfreq(lon.size, d=res)[None, :]
    power = (ky ** 2 + kx_full ** 2 + k0 ** 2) ** -2.0
    power[0, 0] = 0.0  # no domain mean
    amp = np.sqrt(power / power.mean())
    return amp[:, : lon.size // 2 + 1]


def eddy_decay(depth: np.ndarray) -> np.ndarray:
    """(n_depth,) eddy amplitude relative to the surface: exp(-z / 500 m)."""
    return np.exp(-depth / 500.0)


def noise_std(depth: np.ndarray) -> np.ndarray:
    """(n_depth,) white-noise std in °C: 0.1 at the surface, e-folding over 1000 m."""
    return 0.1 * np.exp(-depth / 1000.0)


# -- generation -------------------------------------------------------------------
def _rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators, one per random component, all from ``seed``."""
    names = ("floor", "enso", "eddies", "noise")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(c) for n, c in zip(names, children, strict=True)}


def generate(grid: Grid, n_months: int, seed: int, chunk: int = MONTHS_PER_CHUNK):
    """Yield the series in consecutive chunks of (≤ chunk, depth, lat, lon) float32 °C.

    Months start in January. NaN off the ocean. The same ``seed`` gives the same
    numbers; a longer series extends a shorter one.
    """
    resolution = float(abs(grid.lat[1] - grid.lat[0]))
    state = mean_state(grid, resolution)
    rngs = _rngs(seed)
    enso = enso_index(n_months, rngs["enso"])
    depth = grid.depth[None, :, None, None]
    background_top = background_temperature(0.0, grid.lat)[:, None]
    eddy_filter = eddy_spectrum_filter(grid.lat, grid.lon)
    rho = np.exp(-1.0 / 2.0)  # eddy memory of ~2 months
    eddies = None
    for start in range(0, n_months, chunk):
        n = min(chunk, n_months - start)
        index = enso[start:start + n, None, None]
        sst = state.sst + index * state.enso_sst
        thermocline = state.thermocline + index * state.enso_thermocline
        excess = np.maximum(sst - background_top, 0.0)[:, None]
        values = state.background[None] + excess * thermocline_shape(depth, thermocline[:, None])

        phase = seasonal_cycle(np.arange(start, start + n) % 12)[:, None, None]
        values += (phase * state.seasonal_amplitude)[:, None] * seasonal_decay(depth)

        white = np.fft.irfft2(np.fft.rfft2(rngs["eddies"].standard_normal((n, *sst.shape[1:])))
                              * eddy_filter, s=sst.shape[1:])
        eddies, surface_eddies = _ar1(white, eddies, rho)
        values += (surface_eddies * state.eddy_amplitude)[:, None] * eddy_decay(depth)

        values += rngs["noise"].standard_normal(values.shape) * noise_std(depth)
        values = np.maximum(values, FREEZING - 0.1).astype(np.float32)
        values[:, ~grid.ocean] = np.nan
        yield values


def _ar1(innovations: np.ndarray, previous: np.ndarray | None,
         rho: float) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) in time over (n, ...) unit-variance ``innovations``, continuing from
    ``previous`` (the last state, or None to start stationary). Returns (last, all)."""
    out = np.empty_like(innovations)
    scale = np.sqrt(1.0 - rho * rho)
    for t, shock in enumerate(innovations):
        if previous is None:
            previous = shock
        else:
            previous = rho * previous + scale * shock
        out[t] = previous
    return previous, out


def _write_series(path: Path, grid: Grid, n_months: int, seed: int) -> None:
    """Generate the series into ``path`` (a .npy file) through a temporary file, a year
    at a time with plain writes (memory stays one year however long the series)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path, prefix=path.stem)
    try:
        chunks = tqdm(generate(grid, n_months, seed), total=-(-n_months // MONTHS_PER_CHUNK),
                      desc=f"synthetic ocean {grid.name}", unit="year", disable=None,
                      leave=False)
        with open(tmp, "wb") as fh:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                      "fortran_order": False, "shape": (n_months, *grid.shape)}
            np.lib.format.write_array_header_2_0(fh, header)
            for values in chunks:
                fh.write(np.ascontiguousarray(values, dtype=np.float32).tobytes())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
