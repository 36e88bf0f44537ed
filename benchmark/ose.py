"""Observing-system experiments (OSE): scores at withheld real observations.

A suite with an ``[observations]`` table is an OSE suite. Its truth is a set of
real point observations (Argo profiles, CSV/Parquet tables), not a gridded
field. For each cell (dataset, method, withholding mode, fraction, seed):

1. **Withhold** (:class:`Withholding`), reproducibly from the seed:
   ``platform`` (leave-float-out: round(f · P) of the P platforms, at least one
   and at most P - 1, all their points), ``profile`` (round(f · N) of the N
   profiles) or ``point`` (round(f · n) of the n points, drawn independently of
   their profiles). ``f`` is the suite's "missing rate", here the fraction
   withheld.
2. **Guidance**: the points not withheld become super-observations on the
   dataset's grid (:mod:`reconbench.datasets.superobs`); a method sees their
   means, NaN elsewhere, exactly as it sees a masked gridded field. The method
   was fitted on the dataset's train split (a gridded training source such as
   an ocean climatology); withheld values never reach it. An
   ``[observations.guidance]`` table adds a gridded field's observed cells
   (:mod:`reconbench.benchmark.gridded_guidance`, :func:`add_gridded`), never
   in the cells a withheld point is scored from.
3. **Months**: a month is scored when it has withheld points inside the grid's
   depth range and guidance on every level; ``samples`` such months, spread
   evenly over them, are reconstructed as one batch. With ``val_years = [Y0,
   Y1]`` in ``[observations]``, the months of those years are the validation
   split (``reconbench tune`` scores only them) and a run scores only the
   other months; an OSE suite without them cannot be tuned.
4. **Score** (:func:`interpolate_to_points`, :func:`point_scores`): each
   reconstruction is interpolated to the withheld points, bilinearly in
   longitude and latitude between the four surrounding cell centres
   (continuous across the dateline on a global grid; land corners are left out
   and the other weights renormalised) and linearly in depth between the two
   bracketing levels. With e_i = interpolated − observed (°C) over the n
   withheld points of a month: ``mse`` = Σ e² / n, ``rmse`` = √mse, ``mae`` =
   Σ|e| / n, ``bias`` = Σ e / n, all levels pooled (``depth`` NaN) and per grid
   level (points binned to the nearest level). Rows have ``point_set`` =
   ``"withheld_obs"``; ``n_points``, ``n_profiles`` and ``n_platforms`` rows say
   how many observations each score is at. Points that cannot be interpolated
   (outside the grid's depth range, or every corner land) are not scored and
   are counted (``n_unscored``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from reconbench.benchmark.gridded_guidance import GriddedGuidance, load_guidance, parse_guidance
from reconbench.datasets.grid import Grid
from reconbench.datasets.points import (
    BAD_PROFILE_POLICIES,
    DEFAULT_QC_FLAGS,
    ObservationTable,
    read_observations,
)
from reconbench.datasets.superobs import cell_index, is_global, month_start, superobs
from reconbench.errors import ConfigError, InputError

WITHHOLD_MODES = ("platform", "profile", "point")
POINT_SET = "withheld_obs"
OBSERVATION_KEYS = {"paths", "format", "qc_flags", "columns", "on_bad_profile", "guidance",
                    "val_years"}


def parse_observations(raw, origin: str) -> dict:
    """The ``[observations]`` table of a suite, checked; defaults filled in."""
    if not isinstance(raw, dict) or "paths" not in raw:
        raise ConfigError(f"{origin}: [observations] must be a table with 'paths' (Argo files or "
                          f"CSV/Parquet tables), got {raw!r}")
    unknown = sorted(set(raw) - OBSERVATION_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)} in [observations]; "
                          f"expected: {', '.join(sorted(OBSERVATION_KEYS))}")
    config = {"paths": raw["paths"], "format": raw.get("format", "auto"),
              "qc_flags": list(raw.get("qc_flags", DEFAULT_QC_FLAGS)),
              "columns": dict(raw.get("columns", {})),
              "on_bad_profile": raw.get("on_bad_profile", "drop")}
    if config["format"] not in ("auto", "argo", "table"):
        raise ConfigError(f"{origin}: [observations] format must be 'auto', 'argo' or 'table', "
                          f"got {config['format']!r}")
    if config["on_bad_profile"] not in BAD_PROFILE_POLICIES:
        raise ConfigError(f"{origin}: [observations] on_bad_profile must be one of "
                          f"{BAD_PROFILE_POLICIES}, got {config['on_bad_profile']!r}")
    if "guidance" in raw:  # only when named, so the config hash of other suites stays
        config["guidance"] = parse_guidance(raw["guidance"], origin)
    if "val_years" in raw:  # likewise
        years = raw["val_years"]
        if not (isinstance(years, list) and len(years) == 2
                and all(isinstance(y, int) and not isinstance(y, bool) for y in years)
                and years[0] <= years[1]):
            raise ConfigError(f"{origin}: [observations] val_years must be [FIRST, LAST], two "
                              f"years with FIRST <= LAST, got {years!r}")
        config["val_years"] = list(years)
    return config


def check_tunable(config: dict, origin: str) -> None:
    """An OSE suite is tuned on the months of its ``val_years``; without them it has no
    validation observations (tuning would score the observations its run scores)."""
    if "val_years" not in config:
        raise ConfigError(f"{origin}: an OSE suite is tuned on the observations of its "
                          f"validation years, and [observations] names none; add val_years = "
                          f"[FIRST, LAST] (a run then scores the months outside them)")


def split_months(months: np.ndarray, config: dict, split: str) -> np.ndarray:
    """Which of ``months`` (datetime64, any unit) belong to ``split``: with ``val_years``, those
    years for "val" and the others for any other split; without, all of them."""
    if "val_years" not in config:
        return np.ones(months.shape, bool)
    first, last = config["val_years"]
    years = months.astype("datetime64[Y]").astype(int) + 1970
    in_val = (years >= first) & (years <= last)
    return in_val if split == "val" else ~in_val


def check_modes(kinds, fractions, origin: str) -> None:
    """An OSE suite's ``mask_kinds`` must be withholding modes, its ``missing_rates``
    (fractions withheld) in (0, 1)."""
    for fraction in fractions:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"{origin}: in a suite with [observations], missing_rates are "
                              f"fractions withheld, in (0, 1); got {fraction!r}")
    for kind in kinds:
        if kind not in WITHHOLD_MODES:
            raise ConfigError(f"{origin}: in a suite with [observations], mask_kinds are "
                              f"withholding modes {WITHHOLD_MODES}; got {kind!r}")


@functools.lru_cache(maxsize=4)
def _load(config_json: str) -> ObservationTable:
    config = json.loads(config_json)
    return read_observations(config["paths"], config["format"], config["qc_flags"],
                             config["columns"] or None, config["on_bad_profile"])


def load_observations(config: dict) -> ObservationTable:
    """The observation table of a suite's ``[observations]`` (read once per process)."""
    return _load(json.dumps({k: v for k, v in config.items() if k != "guidance"},
                            sort_keys=True))


_GUIDANCE: dict[tuple[str, str], GriddedGuidance] = {}


def gridded_guidance(config: dict, grid: Grid) -> GriddedGuidance | None:
    """The gridded guidance a suite's ``[observations]`` names, on ``grid`` (read once per
    process and grid), or None."""
    if "guidance" not in config:
        return None
    key = (json.dumps(config["guidance"], sort_keys=True, default=str), grid.key)
    if key not in _GUIDANCE:
        while len(_GUIDANCE) >= 2:
            _GUIDANCE.pop(next(iter(_GUIDANCE)))
        _GUIDANCE[key] = load_guidance(config["guidance"], grid)
    return _GUIDANCE[key]


def check_observations(config: dict, grids) -> None:
    """Before any cell: the observation files read and checked, and any gridded guidance
    read on each of the ``grids`` and covering the observation times (one-line errors)."""
    table = load_observations(config)
    for grid in grids:
        guidance = gridded_guidance(config, grid)
        if guidance is not None:
            guidance.check_span(table.data["time"].to_numpy(),
                                sorted(table.data["source"].unique()))


@dataclass(frozen=True)
class Withholding:
    """What an OSE cell withholds: a mode, the fraction withheld and a seed.

    It stands where a gridded suite's :class:`~reconbench.datasets.masks.MaskSpec`
    does (``kind`` = mode, ``missing_rate`` = fraction withheld), so cells,
    results rows and reports treat both alike.
    """

    kind: str
    missing_rate: float
    seed: int = 0
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in WITHHOLD_MODES:
            raise InputError(f"unknown withholding mode {self.kind!r}; expected one of "
                             f"{WITHHOLD_MODES}")
        if not 0.0 < float(self.missing_rate) < 1.0:
            raise InputError(f"the fraction withheld must be in (0, 1), got "
                             f"{self.missing_rate!r}")

    def rng(self) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), zlib.crc32(self.kind.encode()),
                                      int(round(self.missing_rate * 1_000_000))])

    def draw(self, table: ObservationTable) -> np.ndarray:
        """(n_points,) bool, True at the withheld points. Depends on the seed and on the
        table's platform and profile ids, never on the observed values."""
        rng = self.rng()
        data = table.data
        if self.kind == "point":
            n = len(data)
            chosen = rng.choice(n, size=_count(self.missing_rate, n, "points"), replace=False)
            withheld = np.zeros(n, bool)
            withheld[chosen] = True
            return withheld
        column = "platform" if self.kind == "platform" else "profile"
        ids = np.array(sorted(data[column].unique()), dtype=object)
        chosen = rng.choice(ids.size, size=_count(self.missing_rate, ids.size, f"{column}s"),
                            replace=False)
        return data[column].isin(ids[chosen]).to_numpy()


def _count(fraction: float, n: int, what: str) -> int:
    if n < 2:
        raise InputError(f"withholding needs at least 2 {what} (one to withhold, one to keep); "
                         f"the observations have {n}")
    return int(min(max(round(fraction * n), 1), n - 1))


def interpolate_to_points(values: np.ndarray, grid: Grid, lat: np.ndarray, lon: np.ndarray,
                          depth: np.ndarray) -> np.ndarray:
    """A field (depth, lat, lon) in °C at points (n,): bilinear in lon/lat, linear in depth.

    Longitude is continuous across the dateline on a global grid (the cells at
    the last and the first longitude are neighbours). Points beyond the
    outermost latitude (or, on a regional grid, longitude) centres take the edge
    values. Corners that are NaN (land) are left out and the remaining weights
    renormalised. NaN where the point is outside the grid's depth range or no
    corner of a level it needs is finite.
    """
    depth = np.asarray(depth, np.float64)
    i0, i1, fy, j0, j1, fx = _corners(grid, lat, lon)
    inside = (depth >= grid.depth[0]) & (depth <= grid.depth[-1])
    k0, k1, fz = _bracket(grid.depth, depth)

    def level(k):
        corners = np.stack([values[k, i0, j0], values[k, i0, j1],
                            values[k, i1, j0], values[k, i1, j1]])
        w = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
        w = np.where(np.isfinite(corners), w, 0.0)
        total = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (w * np.nan_to_num(corners)).sum(axis=0) / total,
                            np.nan)

    upper, lower = level(k0), level(k1)
    out = np.where(fz == 0, upper, np.where(fz == 1, lower, (1 - fz) * upper + fz * lower))
    return np.where(inside, out, np.nan)


def scoring_cells(grid: Grid, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """(i_lat, j_lon) of the cells that points (n,) are scored from: the four corners of
    their bilinear interpolation (:func:`interpolate_to_points`) and the cell holding each
    point; (5 n,) each, with repeats."""
    i0, i1, _, j0, j1, _ = _corners(grid, lat, lon)
    ic, jc, _ = cell_index(grid, lat, lon)
    return np.concatenate([i0, i0, i1, i1, ic]), np.concatenate([j0, j1, j0, j1, jc])


def _corners(grid: Grid, lat, lon) -> tuple[np.ndarray, ...]:
    """Bilinear corners of points (n,): latitude indices i0, i1 and weight fy of i1,
    longitude indices j0, j1 and weight fx of j1 (continuous across the dateline on a
    global grid)."""
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    i0, i1, fy = _bracket(grid.lat, lat)
    if is_global(grid):
        lon_ext = np.r_[grid.lon, grid.lon[0] + 360.0]
        x = np.mod(lon - grid.lon[0], 360.0) + grid.lon[0]
        j0, j1, fx = _bracket(lon_ext, x)
        j1 = j1 % grid.lon.size
    else:
        j0, j1, fx = _bracket(grid.lon, np.mod(lon, 360.0))
    return i0, i1, fy, j0, j1, fx


def _bracket(axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the two axis points around each x and the weight of the second, in
    [0, 1]; x beyond the ends takes the end point (weight 0 or 1)."""
    if axis.size == 1:
        zeros = np.zeros(x.shape, dtype=np.int64)
        return zeros, zeros, np.zeros(x.shape)
    hi = np.clip(np.searchsorted(axis, x, side="right"), 1, axis.size - 1)
    lo = hi - 1
    f = np.clip((x - axis[lo]) / (axis[hi] - axis[lo]), 0.0, 1.0)
    return lo, hi, f


def point_scores(error: np.ndarray, level: np.ndarray, depths: np.ndarray) -> pd.DataFrame:
    """Scores of errors e (n,) in °C at points whose nearest grid level is ``level`` (n,).

    Rows (depth, metric, value): mse, rmse, mae, bias and n_points, all points
    pooled (depth NaN) and per level (depth of the level, levels with points).
    """
    rows = []
    groups = [(np.nan, np.ones(error.size, bool))] + [
        (float(depths[k]), level == k) for k in np.unique(level)]
    for depth, sel in groups:
        e = error[sel]
        if e.size == 0:
            continue
        mse = float(np.mean(e * e))
        rows += [(depth, "mse", mse), (depth, "rmse", float(np.sqrt(mse))),
                 (depth, "mae", float(np.mean(np.abs(e)))), (depth, "bias", float(np.mean(e))),
                 (depth, "n_points", float(e.size))]
    return pd.DataFrame(rows, columns=["depth", "metric", "value"])


@dataclass
class Experiment:
    """The guidance and withheld truth of one OSE cell, ready to reconstruct and score.

    ``obs`` (time, depth, lat, lon) °C: the super-observations of the points kept
    (NaN elsewhere) for the scored months; ``withheld`` the withheld points of
    those months that can be scored, with columns of the observation table plus
    ``sample`` (index into ``obs.time``) and ``level`` (nearest grid level).
    """

    obs: xr.DataArray
    withheld: pd.DataFrame
    superobs_report: str
    guidance_counts: dict[str, np.ndarray] | None = None


_EXPERIMENTS: dict[tuple, Experiment] = {}
EXPERIMENTS_KEPT = 16


def experiment_of(config: dict, grid: Grid, withholding: Withholding,
                  samples: int, split: str = "test") -> Experiment:
    """The experiment of a suite's ``[observations]`` on ``grid`` under ``withholding``,
    scored on the months of ``split`` (:func:`prepare` with the suite's gridded
    guidance, if any).

    It depends on neither the method nor its fit, so a process prepares it once and
    every method's cell gets its own copy of the guidance field (the
    ``EXPERIMENTS_KEPT`` most recent experiments are kept).
    """
    key = (json.dumps(config, sort_keys=True, default=str), grid.key, withholding.kind,
           float(withholding.missing_rate), int(withholding.seed), int(samples), split)
    if key not in _EXPERIMENTS:
        while len(_EXPERIMENTS) >= EXPERIMENTS_KEPT:
            _EXPERIMENTS.pop(next(iter(_EXPERIMENTS)))
        table = load_observations(config)
        in_split = split_months(table.data["time"].to_numpy(), config, split)
        _EXPERIMENTS[key] = prepare(table, grid, withholding, samples,
                                    gridded_guidance(config, grid), in_split)
    return dataclasses.replace(_EXPERIMENTS[key], obs=_EXPERIMENTS[key].obs.copy())


def prepare(table: ObservationTable, grid: Grid, withholding: Withholding,
            samples: int, guidance: GriddedGuidance | None = None,
            in_split: np.ndarray | None = None) -> Experiment:
    """Withhold, grid the rest and choose the scored months (see the module docstring);
    with ``guidance``, its observed cells join the super-observations (:func:`add_gridded`).
    ``in_split`` (bool per row of ``table``; None: all) marks the points whose months
    may be scored: the withholding draws from all points, the months from these.
    """
    withheld = withholding.draw(table)
    kept = table.subset(~withheld)
    held = table.data[withheld]
    so = superobs(kept, grid, require_points=False)
    if len(so.table) == 0:
        raise InputError(f"no observation kept after withholding ({withholding.kind}, "
                         f"{withholding.missing_rate:g}) lies in the ocean of grid {grid!r}")
    per_month_levels = so.table.groupby("month")["level"].nunique()
    full = per_month_levels.index[per_month_levels.to_numpy() == grid.depth.size].to_numpy()
    in_depth = (held["depth"] >= grid.depth[0]) & (held["depth"] <= grid.depth[-1])
    if in_split is not None:
        in_depth &= in_split[withheld]
    held_months = np.unique(month_start(held.loc[in_depth, "time"].to_numpy()))
    so_months = month_start(so.times)
    candidates = full[np.isin(so_months[full], held_months)]
    if candidates.size == 0:
        raise InputError(f"no month has both withheld points in the grid's depth range "
                         f"({grid.depth[0]:g}-{grid.depth[-1]:g} m) and guidance on every level "
                         f"after withholding by {withholding.kind} ({withholding.missing_rate:g})"
                         f"; expected overlapping platforms or a grid with fewer levels")
    if samples > candidates.size:
        raise InputError(f"the suite asks for {samples} samples but only {candidates.size} "
                         f"months can be scored after withholding by {withholding.kind} "
                         f"({withholding.missing_rate:g})")
    chosen = candidates[np.unique(np.linspace(0, candidates.size - 1, samples).round()
                                  .astype(int))]
    obs = so.field(chosen)
    sample_of = {m: s for s, m in enumerate(so_months[chosen])}
    held = held.assign(sample=[sample_of.get(m, -1) for m in
                               month_start(held["time"].to_numpy())])
    held = held[held["sample"] >= 0]
    level = np.abs(held["depth"].to_numpy()[:, None] - grid.depth[None]).argmin(axis=1)
    held = held.assign(level=level).reset_index(drop=True)
    if guidance is None:
        return Experiment(obs, held, so.report())
    obs, counts = add_gridded(obs, guidance, so_months[chosen], held, grid)
    report = (f"{so.report()}; gridded guidance {guidance.label}: "
              f"{int(counts['n_gridded_cells'].sum())} cells used, "
              f"{int(counts['n_gridded_dropped'].sum())} dropped around withheld points")
    return Experiment(obs, held, report, counts)


def add_gridded(obs: xr.DataArray, guidance: GriddedGuidance, months: np.ndarray,
                held: pd.DataFrame, grid: Grid) -> tuple[xr.DataArray, dict[str, np.ndarray]]:
    """Super-observations ``obs`` (time, depth, lat, lon) °C of the month starts ``months``
    (time,) joined by the gridded guidance of those months where no super-observation is.

    Gridded guidance is dropped, at every level, in the cells each withheld point of
    ``held`` (columns lat, lon, sample) is scored from (:func:`scoring_cells`) in its
    month. Returns the joined field and per-sample counts (time,): ``n_superobs_cells``,
    ``n_gridded_cells`` (cells given gridded guidance), ``n_gridded_dropped`` (observed
    cells dropped around withheld points).
    """
    gridded = guidance.for_months(months)
    available = np.isfinite(gridded)
    i, j = scoring_cells(grid, held["lat"].to_numpy(), held["lon"].to_numpy())
    near_withheld = np.zeros((months.size, grid.lat.size, grid.lon.size), bool)
    near_withheld[np.tile(held["sample"].to_numpy(), 5), i, j] = True
    near_withheld = np.broadcast_to(near_withheld[:, None], available.shape)
    superobs_there = np.isfinite(obs.values)
    used = available & ~near_withheld & ~superobs_there
    axes = (1, 2, 3)
    counts = {"n_superobs_cells": superobs_there.sum(axis=axes),
              "n_gridded_cells": used.sum(axis=axes),
              "n_gridded_dropped": (available & near_withheld).sum(axis=axes)}
    return obs.copy(data=np.where(used, gridded, obs.values)), counts


def score_experiment(experiment: Experiment, recon: np.ndarray, grid: Grid) -> pd.DataFrame:
    """Rows (sample, depth, metric, value) of a reconstruction (time, depth, lat, lon) at the
    withheld points; also n_profiles, n_platforms and n_unscored per sample."""
    held = experiment.withheld
    frames = []
    for s in range(recon.shape[0]):
        pts = held[held["sample"] == s]
        pred = interpolate_to_points(recon[s], grid, pts["lat"].to_numpy(),
                                     pts["lon"].to_numpy(), pts["depth"].to_numpy())
        ok = np.isfinite(pred)
        scores = point_scores(pred[ok] - pts["value"].to_numpy()[ok],
                              pts["level"].to_numpy()[ok], grid.depth)
        counts = pd.DataFrame({"depth": np.nan, "metric": ["n_profiles", "n_platforms",
                                                           "n_unscored"],
                               "value": [float(pts.loc[ok, "profile"].nunique()),
                                         float(pts.loc[ok, "platform"].nunique()),
                                         float((~ok).sum())]})
        if experiment.guidance_counts is not None:
            counts = pd.concat([counts, pd.DataFrame({
                "depth": np.nan, "metric": list(experiment.guidance_counts),
                "value": [float(c[s]) for c in experiment.guidance_counts.values()]})],
                ignore_index=True)
        frames.append(pd.concat([scores, counts], ignore_index=True).assign(sample=s))
    return pd.concat(frames, ignore_index=True).assign(point_set=POINT_SET)
