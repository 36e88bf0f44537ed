"""Cloud-shaped gaps imposed on a complete source, to use it as a gappy truth.

Every dataset accepts the parameters of :data:`GAP_PARAMETERS` besides its own
(:func:`reconbench.datasets.source.make_source` takes them off); with
``gaps_cover`` > 0 the source is wrapped in :class:`CloudGaps`, a gappy source
(``gappy = True``) whose fields are NaN under moving clouds, in every split::

    [[datasets]]
    name = "synthetic"
    resolution = 4
    gaps_cover = 0.4        # share of the surface ocean columns under cloud each month
    gaps_scale_deg = 4.0    # size of the clouds (Gaussian smoothing sigma, degrees)
    gaps_seed = 0

The clouds of month m (months counted from year 0, so the gaps of a month are
the same whatever split or batch it is read in) are where the field

    g_m(lat, lon) = G * sum_{j=0}^{J} rho^j eps_{m-j}(lat, lon - j d)

is highest: eps_n is white noise drawn from the generator seeded with
(``gaps_seed``, n), ``rho`` = ``gaps_persistence`` (the month-to-month
correlation of g), ``d`` = ``gaps_drift_deg`` (how far east the clouds move in
a month, rounded to whole cells), J the first lag with rho^J < 0.01, and G the
Gaussian smoothing over ``gaps_scale_deg`` of :mod:`reconbench.datasets.clouds`.
Exactly round(``gaps_cover`` * n) of the n surface ocean columns are cloudy
each month, every level of a cloudy column is missing, and the grid (and its
ocean mask) is the complete source's: a cloudy cell is ocean that was not
observed, not land.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from reconbench.datasets.clouds import grid_spacing, lowest, smooth
from reconbench.datasets.source import DatasetSource
from reconbench.errors import InputError

#: The gap parameters every dataset accepts, with their defaults.
GAP_PARAMETERS = {"gaps_cover": 0.0, "gaps_scale_deg": 5.0, "gaps_seed": 0,
                  "gaps_persistence": 0.6, "gaps_drift_deg": 4.0}

#: Memory of the clouds: lags j with rho^j below this are dropped.
PERSISTENCE_CUTOFF = 0.01


def absolute_months(times: np.ndarray) -> np.ndarray:
    """(n,) months since January of year 0 of datetime64 ``times`` (n,)."""
    return np.asarray(times).astype("datetime64[M]").astype(np.int64) + 1970 * 12


def check_gap_parameters(params: dict, what: str) -> dict:
    """The gap parameters of ``params`` (defaults filled in), checked; a clear error if bad."""
    values = dict(GAP_PARAMETERS)
    for key, default in GAP_PARAMETERS.items():
        if key not in params:
            continue
        value = params[key]
        kind = int if isinstance(default, int) else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind is int and value != int(value)):
            raise InputError(f"{what} parameter {key} must be "
                             f"{'an integer' if kind is int else 'a number'}, got {value!r}")
        values[key] = kind(value)
    checks = (("gaps_cover", 0.0 <= values["gaps_cover"] < 1.0, "in [0, 1)"),
              ("gaps_scale_deg", values["gaps_scale_deg"] > 0, "> 0 (degrees)"),
              ("gaps_persistence", 0.0 <= values["gaps_persistence"] <= 0.95,
               "in [0, 0.95]"))
    for key, ok, expected in checks:
        if not ok:
            raise InputError(f"{what} parameter {key} must be {expected}, got {params[key]!r}")
    return values


class CloudGaps(DatasetSource):
    """A complete source with moving cloud-shaped gaps: a gappy source (see the module).

    Parameters
    ----------
    inner : the complete source.
    cover : share of the surface ocean columns under cloud each month, in [0, 1).
    scale_deg : cloud size: sigma of the Gaussian smoothing, degrees.
    seed : seeds the clouds.
    persistence : month-to-month correlation rho of the cloud field, in [0, 0.95].
    drift_deg : eastward drift of the clouds per month, degrees of longitude.
    """

    gappy = True

    def __init__(self, inner: DatasetSource, cover: float, scale_deg: float = 5.0,
                 seed: int = 0, persistence: float = 0.6, drift_deg: float = 4.0):
        self.inner = inner
        self.cover, self.scale_deg, self.seed = float(cover), float(scale_deg), int(seed)
        self.persistence, self.drift_deg = float(persistence), float(drift_deg)
        self.name = inner.name
        self.grid = inner.grid

    def get_params(self) -> dict:
        return self.inner.get_params() | {
            "gaps_cover": self.cover, "gaps_scale_deg": self.scale_deg, "gaps_seed": self.seed,
            "gaps_persistence": self.persistence, "gaps_drift_deg": self.drift_deg}

    @property
    def source_units(self) -> str:
        """The temperature units of the complete source's files."""
        return getattr(self.inner, "source_units", "degC")

    def split_times(self, which: str) -> np.ndarray:
        return self.inner.split_times(which)

    @property
    def lazy_reads(self) -> bool:
        return self.inner.lazy_reads

    def field_attrs(self) -> dict:
        return self.inner.field_attrs() | {
            "gaps": f"cloud-shaped gaps imposed: cover {self.cover:g}, scale "
                    f"{self.scale_deg:g} deg, seed {self.seed}"}

    def input_files(self) -> list:
        return self.inner.input_files()

    def cache_fingerprint(self) -> dict:
        return self.inner.cache_fingerprint()

    def read_months(self, which: str, index: np.ndarray) -> np.ndarray:
        values = self.inner.read_months(which, index)
        clear = self.clear_columns(self.split_times(which)[np.asarray(index)])
        return np.where(clear[:, None], values, np.float32(np.nan))

    def _load_split(self, which: str) -> xr.DataArray:
        field = self.inner.split(which)
        clear = self.clear_columns(field["time"].values)  # (time, lat, lon)
        gappy = field.copy(data=np.where(clear[:, None], field.values, np.nan))
        gappy.attrs.update(self.field_attrs())
        return gappy

    def clear_columns(self, times: np.ndarray) -> np.ndarray:
        """Bool (time, lat, lon): the surface ocean columns observed (not cloudy) at ``times``."""
        months = absolute_months(times)
        surface = self.grid.ocean.any(axis=0)
        n_clear = surface.sum() - int(round(self.cover * surface.sum()))
        fields = self.cloud_field(months)
        # the clear columns are where the cloud field is lowest
        return np.stack([lowest(f, surface, n_clear) for f in fields])

    def cloud_field(self, months: np.ndarray) -> np.ndarray:
        """The smoothed cloud field g_m (n, lat, lon) of the absolute ``months`` (n,)."""
        rho = self.persistence
        lags = 0 if rho == 0 else math.ceil(math.log(PERSISTENCE_CUTOFF) / math.log(rho))
        spacing_lon = float(np.median(np.diff(self.grid.lon))) if self.grid.lon.size > 1 \
            else 1.0
        shape = self.grid.ocean.shape[1:]
        noise: dict[int, np.ndarray] = {}

        def eps(n: int) -> np.ndarray:
            if n not in noise:
                noise[n] = np.random.default_rng([self.seed, int(n)]).standard_normal(shape)
            return noise[n]

        raw = np.zeros((months.size, *shape))
        for i, m in enumerate(months):
            for j in range(lags + 1):
                shift = int(round(j * self.drift_deg / spacing_lon))
                raw[i] += rho ** j * np.roll(eps(m - j), shift, axis=1)
            for n in [n for n in noise if n < m - lags]:  # months come in order: forget
                del noise[n]
        return smooth(raw, self.scale_deg, grid_spacing(self.grid))


def with_gaps(source: DatasetSource, gap_params: dict, what: str) -> DatasetSource:
    """``source`` wrapped in :class:`CloudGaps` when ``gaps_cover`` > 0, else itself.

    ``gap_params`` holds some of the keys of :data:`GAP_PARAMETERS`; ``what``
    names the dataset in error messages.
    """
    values = check_gap_parameters(gap_params, what)
    if values["gaps_cover"] == 0:
        return source
    return CloudGaps(source, values["gaps_cover"], values["gaps_scale_deg"], values["gaps_seed"],
                     values["gaps_persistence"], values["gaps_drift_deg"])
