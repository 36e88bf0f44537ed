"""Point observations: one table type for Argo profiles, CSV and Parquet tables.

An :class:`ObservationTable` holds one row per observed point in ``data``, a
:class:`pandas.DataFrame` with these columns (the schema every later step uses):

============  ==================  =================================================
column        dtype               meaning
============  ==================  =================================================
``time``      datetime64[ns]      time of the profile (UTC)
``lat``       float64             latitude, degrees north, in [-90, 90]
``lon``       float64             longitude, degrees east, in [0, 360)
``depth``     float64             depth in metres, positive down (>= 0)
``value``     float64             temperature, °C
``error``     float64             measurement error (one standard deviation), °C
``platform``  str                 platform id (the float's WMO number for Argo)
``profile``   int64               profile id, unique within the table
``source``    str                 the file the point came from
============  ==================  =================================================

Rows are sorted by profile, then depth; within a profile depth is strictly
increasing. ``dropped`` counts what quality control and checks removed (reason
-> number of points or profiles, the unit is in the reason).

Readers:

- :func:`read_argo`: Argo GDAC profile files, multi-profile ``WMO_prof.nc`` and
  single-profile ``R*.nc`` / ``D*.nc`` (the same variables with ``N_PROF`` = 1).
  Per profile, ``DATA_MODE`` R takes ``TEMP``, ``PRES`` and their ``*_QC``
  flags; A and D take ``TEMP_ADJUSTED``, ``PRES_ADJUSTED``, their
  ``*_ADJUSTED_QC`` flags and ``TEMP_ADJUSTED_ERROR``. A point is kept when
  temperature and pressure are not fill values and both QC flags are in
  ``qc_flags`` (default 1 and 2: good and probably good); a profile is kept when
  its ``POSITION_QC`` and ``JULD_QC`` are in ``qc_flags`` and its position and
  date are not fill values. Time is ``JULD`` decoded with the file's own units.
  Pressure (dbar) becomes depth (m) by TEOS-10: ``depth = -gsw.z_from_p(p, lat)``.
- :func:`read_table`: CSV or Parquet files with the schema's columns (other
  names mapped through ``columns``); ``error``, ``platform`` and ``profile`` are
  optional (a profile is then one (platform, time, lat, lon)).

A profile whose kept pressures (or depths) are not strictly increasing is
dropped and counted (``on_bad_profile="drop"``, the default, since real files
hold a few such profiles among hundreds of good ones), or is an error naming the
file and profile (``on_bad_profile="error"``). A file with no usable point at
all is always an error.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from reconbench.errors import InputError

COLUMNS = ("time", "lat", "lon", "depth", "value", "error", "platform", "profile", "source")
REQUIRED_TABLE_COLUMNS = ("time", "lat", "lon", "depth", "value")
DEFAULT_QC_FLAGS = (1, 2)
#: Error (°C) given to points whose file states none (Argo real-time data): the
#: Argo accuracy goal for temperature.
DEFAULT_ERROR = 0.002
ARGO_REQUIRED = ("TEMP", "PRES", "JULD", "LATITUDE", "LONGITUDE")
BAD_PROFILE_POLICIES = ("drop", "error")


@dataclass
class ObservationTable:
    """Point observations (see the module docstring for the columns of ``data``)."""

    data: pd.DataFrame
    dropped: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.data.columns]
        if missing:
            raise InputError(f"observation table lacks column(s) {missing}; expected {COLUMNS}")

    def __len__(self) -> int:
        return len(self.data)

    @property
    def n_profiles(self) -> int:
        return int(self.data["profile"].nunique())

    @property
    def platforms(self) -> list[str]:
        return sorted(self.data["platform"].unique())

    def subset(self, keep: np.ndarray) -> ObservationTable:
        """The rows where ``keep`` (n_points,) bool is True; ``dropped`` is carried."""
        return ObservationTable(self.data[np.asarray(keep, bool)].reset_index(drop=True),
                                Counter(self.dropped))

    def describe(self) -> list[str]:
        """Lines for ``reconbench describe``: totals, depth range, platforms, per month,
        and what quality control dropped."""
        d = self.data
        if d.empty:
            return ["no observation"]
        month = d["time"].dt.strftime("%Y-%m")
        lines = [f"{len(d)} points in {self.n_profiles} profiles of {len(self.platforms)} "
                 f"platforms, {str(d['time'].min())[:10]} .. {str(d['time'].max())[:10]}",
                 f"depth {d['depth'].min():.1f} .. {d['depth'].max():.1f} m, "
                 f"value {d['value'].min():.2f} .. {d['value'].max():.2f} °C",
                 "platforms: " + ", ".join(self.platforms)]
        per_month = pd.DataFrame({"month": month, "profile": d["profile"]}).groupby("month")
        lines.append("month     profiles  points")
        for m, group in per_month:
            lines.append(f"{m}  {group['profile'].nunique():8d}  {len(group):6d}")
        lines.append("dropped: " + (", ".join(f"{n} {reason}" for reason, n in
                                              sorted(self.dropped.items())) or "nothing"))
        return lines


def depth_from_pressure(pressure: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Depth in metres (positive down) of sea pressure in dbar at latitude ``lat`` (°N),
    by TEOS-10 (``gsw.z_from_p``, which returns height, negative in the ocean)."""
    import gsw

    return -np.asarray(gsw.z_from_p(pressure, lat), dtype=np.float64)


def read_observations(paths, format: str = "auto", qc_flags=DEFAULT_QC_FLAGS,
                      columns: dict | None = None, on_bad_profile: str = "drop"
                      ) -> ObservationTable:
    """Read point observations from one path, a glob or a list of either.

    ``format`` is ``"argo"``, ``"table"`` (CSV or Parquet) or ``"auto"`` (by
    suffix: ``.nc`` is Argo, ``.csv`` / ``.parquet`` a table). Relative paths are
    looked up in the working folder, then in the shared-data folder.
    """
    from reconbench.datasets.cf import resolve_paths

    if format not in ("auto", "argo", "table"):
        raise InputError(f"observation format must be 'auto', 'argo' or 'table', got {format!r}")
    if on_bad_profile not in BAD_PROFILE_POLICIES:
        raise InputError(f"on_bad_profile must be one of {BAD_PROFILE_POLICIES}, got "
                         f"{on_bad_profile!r}")
    _qc_flag_bytes(qc_flags)  # checked before any file is read
    tables = []
    for path in resolve_paths(paths):
        kind = format if format != "auto" else _format_of(path)
        if kind == "argo":
            tables.append(read_argo(path, qc_flags, on_bad_profile))
        else:
            tables.append(read_table(path, columns, on_bad_profile))
    return concat(tables)


def concat(tables: list[ObservationTable]) -> ObservationTable:
    """One table of several, profile ids renumbered to stay unique."""
    frames, dropped, offset = [], Counter(), 0
    for table in tables:
        frame = table.data.copy()
        frame["profile"] = frame["profile"] + offset
        offset = int(frame["profile"].max()) + 1 if len(frame) else offset
        frames.append(frame)
        dropped.update(table.dropped)
    data = pd.concat(frames, ignore_index=True) if frames else _empty()
    return ObservationTable(data, dropped)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".nc":
        return "argo"
    if suffix in (".csv", ".parquet", ".pq"):
        return "table"
    raise InputError(f"{str(path)!r}: cannot tell the observation format from the suffix "
                     f"{suffix!r}; expected .nc (Argo), .csv or .parquet (or give the format)")


def _qc_flag_bytes(qc_flags) -> np.ndarray:
    try:
        flags = [int(f) for f in qc_flags]
    except (TypeError, ValueError):
        raise InputError(f"qc_flags must be a list of Argo QC flags 0-9, got {qc_flags!r}"
                         ) from None
    if not flags or any(not 0 <= f <= 9 for f in flags):
        raise InputError(f"qc_flags must be a non-empty list of Argo QC flags 0-9, got "
                         f"{qc_flags!r}")
    return np.array([str(f).encode() for f in flags])


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns]"),
                         **{c: pd.Series([], dtype=float) for c in
                            ("lat", "lon", "depth", "value", "error")},
                         "platform": pd.Series([], dtype=str),
                         "profile": pd.Series([], dtype=np.int64),
                         "source": pd.Series([], dtype=str)})


# -- Argo -----------------------------------------------------------------------------
def _chars(ds: xr.Dataset, name: str, shape) -> np.ndarray:
    """A character variable as an array of single bytes (b' ' where absent)."""
    if name not in ds.variables:
        return np.full(shape, b" ", dtype="S1")
    values = np.asarray(ds[name].values)
    if values.dtype.kind == "O":
        values = values.astype("S1")
    return values.astype("S1").reshape(shape)


def read_argo(path: str | Path, qc_flags=DEFAULT_QC_FLAGS,
              on_bad_profile: str = "drop") -> ObservationTable:
    """Read one Argo GDAC profile file (multi- or single-profile format).

    ``qc_flags`` are the accepted QC flags (integers 0-9). See the
    module docstring for the rules; returns the points kept and what was dropped.
    """
    from reconbench.datasets.cf import open_file

    path = Path(path)
    flags = _qc_flag_bytes(qc_flags)
    ds = xr.decode_cf(open_file(path))  # JULD decoded with the file's own units
    try:
        missing = [v for v in ARGO_REQUIRED if v not in ds.variables]
        if missing:
            raise InputError(f"{str(path)!r} is not an Argo profile file: no variable(s) "
                             f"{', '.join(missing)}; expected {', '.join(ARGO_REQUIRED)}")
        table = _argo_points(ds, path, flags, on_bad_profile)
    finally:
        ds.close()
    if table.data.empty:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(table.dropped.items()))
        raise InputError(f"{str(path)!r}: no profile has a usable temperature point "
                         f"({reasons}); expected points with QC flags "
                         f"{list(qc_flags)} in TEMP and PRES")
    return table


def _argo_points(ds: xr.Dataset, path: Path, flags: np.ndarray,
                 on_bad_profile: str) -> ObservationTable:
    temp = np.asarray(ds["TEMP"].values, dtype=np.float64)
    if temp.ndim == 1:  # a single profile written without N_PROF
        temp = temp[None]
    n_prof, n_lev = temp.shape
    shape = (n_prof, n_lev)
    pres = np.asarray(ds["PRES"].values, dtype=np.float64).reshape(shape)
    mode = _chars(ds, "DATA_MODE", (n_prof,))
    adjusted = np.isin(mode, [b"A", b"D"])
    if adjusted.any():
        for name in ("TEMP_ADJUSTED", "PRES_ADJUSTED"):
            if name not in ds.variables:
                raise InputError(f"{str(path)!r}: DATA_MODE is A or D for {int(adjusted.sum())} "
                                 f"profiles but the file has no {name}")
    def pick(raw: np.ndarray, name: str) -> np.ndarray:
        if not adjusted.any():
            return raw
        adj = ds[name].values
        adj = (np.asarray(adj, dtype=np.float64) if raw.dtype.kind == "f"
               else _chars(ds, name, shape))
        return np.where(adjusted[:, None], adj.reshape(shape), raw)

    temp = pick(temp, "TEMP_ADJUSTED")
    pres = pick(pres, "PRES_ADJUSTED")
    temp_qc = pick(_chars(ds, "TEMP_QC", shape), "TEMP_ADJUSTED_QC")
    pres_qc = pick(_chars(ds, "PRES_QC", shape), "PRES_ADJUSTED_QC")
    if "TEMP_ADJUSTED_ERROR" in ds.variables:
        err = np.asarray(ds["TEMP_ADJUSTED_ERROR"].values, dtype=np.float64).reshape(shape)
        err = np.where(adjusted[:, None] & np.isfinite(err), err, DEFAULT_ERROR)
    else:
        err = np.full(shape, DEFAULT_ERROR)

    lat = np.asarray(ds["LATITUDE"].values, dtype=np.float64).reshape(n_prof)
    lon = np.asarray(ds["LONGITUDE"].values, dtype=np.float64).reshape(n_prof)
    time = np.asarray(ds["JULD"].values).reshape(n_prof)
    if time.dtype.kind != "M":
        raise InputError(f"{str(path)!r}: JULD could not be decoded as times (units "
                         f"{ds['JULD'].attrs.get('units')!r}); expected 'days since ...'")
    platform = (_decode_strings(ds["PLATFORM_NUMBER"].values, n_prof)
                if "PLATFORM_NUMBER" in ds.variables else np.full(n_prof, path.stem))
    dropped = Counter()

    def ok(name, default=True):
        return (np.isin(_chars(ds, name, (n_prof,)), flags) if name in ds.variables
                else np.full(n_prof, default))

    good_place = (np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
                  & (np.abs(lon) <= 360) & ok("POSITION_QC"))
    good_time = ~np.isnat(time) & ok("JULD_QC")
    dropped["profiles with bad position or date (QC or fill value)"] += int(
        (~(good_place & good_time)).sum())
    finite = np.isfinite(temp) & np.isfinite(pres)
    half_filled = np.isfinite(temp) != np.isfinite(pres)  # padding has both as fill values
    dropped["points with a fill value in TEMP or PRES"] += int(
        (half_filled & (good_place & good_time)[:, None]).sum())
    qc_ok = np.isin(temp_qc, flags) & np.isin(pres_qc, flags)
    point_ok = finite & qc_ok & (good_place & good_time)[:, None]
    dropped["points failing QC"] += int((finite & ~qc_ok & (good_place & good_time)[:, None]
                                        ).sum())
    has_points = point_ok.any(axis=1)
    dropped["profiles with every level failing QC"] += int(
        ((good_place & good_time) & ~has_points & finite.any(axis=1)).sum())

    keep_prof = has_points.copy()
    for p in np.flatnonzero(has_points):
        if np.any(np.diff(pres[p, point_ok[p]]) <= 0):
            if on_bad_profile == "error":
                raise InputError(f"{str(path)!r}: profile {p} (platform {platform[p]}) has "
                                 f"descending or duplicated pressures; expected PRES strictly "
                                 f"increasing along N_LEVELS")
            keep_prof[p] = False
    dropped["profiles with descending or duplicated pressure"] += int(
        (has_points & ~keep_prof).sum())
    point_ok &= keep_prof[:, None]
    rows, cols = np.nonzero(point_ok)
    point_lat = lat[rows]
    depth = depth_from_pressure(pres[rows, cols], point_lat)
    data = pd.DataFrame({
        "time": time[rows].astype("datetime64[ns]"), "lat": point_lat,
        "lon": np.mod(lon[rows], 360.0), "depth": depth, "value": temp[rows, cols],
        "error": err[rows, cols], "platform": platform[rows],
        "profile": rows.astype(np.int64), "source": path.name})
    return ObservationTable(data, +dropped)


def _decode_strings(values: np.ndarray, n: int) -> np.ndarray:
    """(n,) str of a string variable read as bytes strings, or as (n, k) single bytes."""
    values = np.asarray(values)
    if values.dtype == "S1" and values.size != n:
        values = np.array([b"".join(row) for row in values.reshape(n, -1).tolist()])
    return np.array([(v.decode() if isinstance(v, bytes) else str(v)).strip()
                     for v in values.reshape(n)], dtype=object)


# -- CSV and Parquet tables -------------------------------------------------------------
def read_table(path: str | Path, columns: dict | None = None,
               on_bad_profile: str = "drop") -> ObservationTable:
    """Read a CSV or Parquet table of points with the schema's columns.

    ``columns`` maps schema names to the file's names, e.g. ``{"value": "temp"}``.
    Required: time, lat, lon, depth (m, >= 0), value (°C); optional: error (°C,
    default :data:`DEFAULT_ERROR`), platform (default: the file name), profile
    (default: one profile per platform, time and position).
    """
    path = Path(path)
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise InputError(f"observation columns mapping names unknown schema column(s) {unknown}; "
                         f"schema columns: {', '.join(COLUMNS)}")
    try:
        raw = (pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq")
               else pd.read_csv(path))
    except FileNotFoundError:
        raise InputError(f"observation file {str(path)!r} does not exist") from None
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise InputError(f"{str(path)!r} could not be read as a CSV or Parquet table: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from None
    name = {c: columns.get(c, c) for c in COLUMNS}
    missing = [name[c] for c in REQUIRED_TABLE_COLUMNS if name[c] not in raw.columns]
    if missing:
        raise InputError(f"{str(path)!r} has no column(s) {', '.join(map(repr, missing))}; "
                         f"expected columns {', '.join(name[c] for c in REQUIRED_TABLE_COLUMNS)}"
                         f" (map other names with columns)")
    out = {}
    for c in ("lat", "lon", "depth", "value", "error"):
        if name[c] not in raw.columns:
            continue
        numbers = pd.to_numeric(raw[name[c]], errors="coerce")
        bad = numbers.isna() & raw[name[c]].notna()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{str(path)!r} column {name[c]!r} has {int(bad.sum())} non-numeric "
                             f"value(s) (first {raw[name[c]].iloc[row]!r} in data row {row + 1}); "
                             f"expected numbers")
        if numbers.isna().any() and c != "error":
            raise InputError(f"{str(path)!r} column {name[c]!r} has {int(numbers.isna().sum())} "
                             f"empty value(s); expected a number in every row")
        out[c] = numbers.to_numpy(dtype=np.float64)
    time = pd.to_datetime(raw[name["time"]], errors="coerce", utc=True, format="ISO8601")
    if time.isna().any():
        row = int(np.flatnonzero(time.isna())[0])
        raise InputError(f"{str(path)!r} column {name['time']!r} has unreadable time(s) (first "
                         f"{raw[name['time']].iloc[row]!r} in data row {row + 1}); expected ISO "
                         f"dates such as 2019-03-14T06:00:00")
    if np.any(np.abs(out["lat"]) > 90):
        raise InputError(f"{str(path)!r} column {name['lat']!r} has latitudes outside ±90 "
                         f"(e.g. {out['lat'][np.abs(out['lat']) > 90][0]:g}); expected degrees "
                         f"north in [-90, 90]")
    if np.any(out["depth"] < 0):
        raise InputError(f"{str(path)!r} column {name['depth']!r} has negative depths (e.g. "
                         f"{out['depth'][out['depth'] < 0][0]:g}); expected metres, positive down")
    platform = (raw[name["platform"]].astype(str).to_numpy() if name["platform"] in raw.columns
                else np.full(len(raw), path.stem, dtype=object))
    data = pd.DataFrame({
        "time": time.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]"),
        "lat": out["lat"], "lon": np.mod(out["lon"], 360.0), "depth": out["depth"],
        "value": out["value"],
        "error": np.where(np.isfinite(out.get("error", np.nan)), out.get("error", np.nan),
                          DEFAULT_ERROR) * np.ones(len(raw)),
        "platform": platform, "source": path.name})
    if name["profile"] in raw.columns:
        keys = [raw[name["profile"]].astype(str).to_numpy()]
    else:
        keys = [data["platform"], data["time"], data["lat"], data["lon"]]
    data["profile"] = pd.MultiIndex.from_arrays(keys).factorize()[0].astype(np.int64)
    data = data.sort_values(["profile", "depth"], kind="stable").reset_index(drop=True)
    dup = data.duplicated(["profile", "depth"], keep=False).to_numpy()
    dropped = Counter()
    if dup.any():
        bad_profiles = data.loc[dup, "profile"].unique()
        if on_bad_profile == "error":
            raise InputError(f"{str(path)!r}: {bad_profiles.size} profile(s) have duplicated "
                             f"depths; expected each depth once per profile")
        dropped["profiles with descending or duplicated pressure"] += int(bad_profiles.size)
        data = data[~data["profile"].isin(bad_profiles)].reset_index(drop=True)
    if data.empty:
        raise InputError(f"{str(path)!r}: no usable observation")
    return ObservationTable(data[list(COLUMNS)], dropped)
