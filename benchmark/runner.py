"""The runner: every cell of a suite, scored on the same truth and the same masks.

A *cell* is one (dataset, method, mask kind, missing rate, seed). For each
dataset the runner loads the samples (months of the suite's split, stratified
over calendar months and years: :mod:`reconbench.benchmark.samples`) once; for
each method it fits once on the train split; for each cell it builds the
guidance mask, hands the method the observations alone, scores the
reconstruction and writes the cell's rows to the results store. Finished cells
are skipped on a re-run, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import xarray as xr
from tqdm import tqdm

import reconbench
from reconbench.benchmark import ose
from reconbench.benchmark.metrics import score
from reconbench.benchmark.samples import sample_indices
from reconbench.benchmark.scores import Distribution, probabilistic_score
from reconbench.benchmark.spectral import effective_resolution, psd_score, zonal_spectra
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import Component, Suite
from reconbench.datasets.grid import Grid
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import DatasetSource, make_source
from reconbench.errors import ConfigError, InputError, ReconbenchError
from reconbench.methods.base import Method
from reconbench.methods.registry import make_method, method_class

VERSIONED_PACKAGES = ("numpy", "scipy", "pandas", "xarray", "scikit-learn", "pykrige", "torch")


@dataclass(frozen=True)
class Cell:
    """One unit of work: a method on a dataset under one mask spec."""

    suite: Suite
    dataset: Component
    method: Component
    mask: MaskSpec

    @property
    def key(self) -> str:
        """A hash of everything that determines the cell's rows."""
        content = {"dataset": [self.dataset.name, self.dataset.params],
                   "method": [self.method.label, self.method.name, self.method.params],
                   "mask": [self.mask.kind, self.mask.missing_rate, self.mask.seed]
                   + ([self.mask.params] if self.mask.params else []),
                   "split": self.suite.split, "samples": self.suite.samples}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()
                              ).hexdigest()[:20]


def cells_of(suite: Suite) -> list[Cell]:
    """All cells of a suite, dataset by dataset, method by method."""
    if suite.observations:  # an OSE: mask kinds are withholding modes
        return [Cell(suite, d, m, ose.Withholding(kind, rate, seed))
                for d in suite.datasets for m in suite.methods if m.runs_on(d)
                for kind in suite.mask_kinds for rate in suite.missing_rates
                for seed in suite.seeds]
    return [Cell(suite, d, m, MaskSpec(kind, rate, seed, suite.mask_params.get(kind, {})))
            for d in suite.datasets for m in suite.methods if m.runs_on(d)
            for kind in suite.mask_kinds for rate in suite.missing_rates for seed in suite.seeds]


def check_splits(suite: Suite, bench: Workbench) -> None:
    """Before any cell: each dataset's suite split holds enough time steps for the
    samples, and its train split is not empty for a method that needs training; else one
    line naming the split and the time steps there are (in their own resolution)."""
    from reconbench.datasets.times import describe_times

    for dataset in suite.datasets:
        source = bench.source(dataset)
        times = {s: source.split_times(s) for s in ("train", "val", "test")}
        span = describe_times(np.sort(np.concatenate(list(times.values()))))
        n = times[suite.split].size
        if n < suite.samples:
            raise ConfigError(f"the suite asks for {suite.samples} samples of the {suite.split} "
                              f"split of dataset {dataset.label!r}, which has "
                              f"{describe_times(times[suite.split])} (the dataset has {span}); "
                              f"lower samples or widen the split")
        for method in suite.methods:
            if (method.runs_on(dataset) and times["train"].size == 0
                    and method_class(method.name).needs_training):
                raise ConfigError(f"method {method.label!r} needs training but the train split "
                                  f"of dataset {dataset.label!r} is empty (the dataset has "
                                  f"{span}); use a method that needs none (nearest, linear), "
                                  f"set train_years/train_dates, or name a training source "
                                  f"with the dataset parameter train_paths")


class PeakMemory:
    """Context manager sampling the process's resident memory every 10 ms.

    ``peak_mb`` is the highest resident set size seen, in MiB (it includes what
    the process held before the block).
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak_mb = 0.0
        self._process = psutil.Process()
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)


def observe(truth: xr.DataArray, guidance: np.ndarray) -> xr.DataArray:
    """What a method may see: the truth at the guidance points, NaN elsewhere."""
    obs = truth.where(guidance)
    obs.attrs = dict(truth.attrs)
    return obs


def check_reconstruction(recon, obs: xr.DataArray, grid: Grid, label: str) -> np.ndarray:
    """The reconstruction's values (time, depth, lat, lon), or a clear error."""
    if not isinstance(recon, xr.DataArray) or recon.shape != obs.shape:
        shape = getattr(recon, "shape", type(recon).__name__)
        raise ReconbenchError(f"method {label!r} returned {shape}; expected a DataArray of "
                              f"shape {obs.shape} (time, depth, lat, lon)")
    values = recon.values.astype(np.float64)
    bad = ~np.isfinite(values) & grid.ocean[None]
    if bad.any():
        raise ReconbenchError(f"method {label!r} returned {int(bad.sum())} NaN or infinite "
                              f"values over the ocean; a reconstruction must be complete")
    return values


def predict(method: Method, obs: xr.DataArray, label: str
            ) -> tuple[xr.DataArray, xr.Dataset | None]:
    """The reconstruction and, for a method with uncertainty, its distribution.

    A method whose ``uncertainty`` is not None is called once, through
    ``reconstruct_distribution``; its ``mean`` is the reconstruction.
    """
    if method.uncertainty is None:
        return method.reconstruct(obs), None
    if method.uncertainty not in ("variance", "ensemble"):
        raise ReconbenchError(f"method {label!r} has uncertainty {method.uncertainty!r}; "
                              f"expected None, 'variance' or 'ensemble'")
    dist = method.reconstruct_distribution(obs)
    if not isinstance(dist, xr.Dataset) or "mean" not in dist:
        raise ReconbenchError(f"method {label!r}: reconstruct_distribution returned "
                              f"{type(dist).__name__}; expected a Dataset with 'mean'")
    return dist["mean"], dist


def uncertainty_rows(dist: xr.Dataset, method: Method, truth: np.ndarray, guidance: np.ndarray,
                     grid: Grid, label: str) -> pd.DataFrame:
    """Probabilistic scores of a distribution on the evaluation points (see
    :mod:`reconbench.benchmark.scores`)."""
    points = grid.ocean[None] & ~guidance
    forecast = Distribution.from_dataset(dist, label, method.uncertainty)
    forecast.check(points, label)
    return probabilistic_score(truth, forecast, points, grid.depth)


def spectral_rows(truth: np.ndarray, values: np.ndarray, grid: Grid) -> pd.DataFrame:
    """Effective resolution (km) of a cell, its samples pooled, per level and over all levels
    (spectra summed over levels); rows with ``sample`` = -1 and point set "spectral"."""
    depths, resolutions, totals = [], [], None
    for k, depth in enumerate(grid.depth):
        wavelength, p_truth, p_error = zonal_spectra(truth[:, k], values[:, k], grid.ocean[k],
                                                     grid.lat, grid.lon)
        depths.append(depth)
        resolutions.append(effective_resolution(wavelength, psd_score(p_truth, p_error)))
        pair = np.nan_to_num(np.stack([p_truth, p_error]))
        totals = pair if totals is None else totals + pair
    depths.append(np.nan)
    resolutions.append(effective_resolution(wavelength, psd_score(totals[0], totals[1])))
    return pd.DataFrame({"sample": -1, "time": "", "depth": depths, "point_set": "spectral",
                         "metric": "effective_resolution_km", "value": resolutions})


def run_cell(cell: Cell, method: Method, truth: xr.DataArray, grid: Grid,
             fit_seconds: float) -> tuple[pd.DataFrame, xr.Dataset]:
    """Mask, reconstruct and score one cell.

    Returns the cell's tidy rows and its first sample as a Dataset with
    ``reconstruction`` (depth, lat, lon) in °C and ``guidance`` (depth, lat, lon)
    int8, for maps in reports.
    """
    observed = np.isfinite(truth.values)  # where the truth exists: all the ocean unless gappy
    guidance, n_fallback = cell.mask.build_with_report(grid, truth.sizes["time"],
                                                       truth["time"].values, observed)
    obs = observe(truth, guidance)
    with PeakMemory() as memory:
        start = time.perf_counter()
        recon, dist = predict(method, obs, cell.method.label)
        seconds = time.perf_counter() - start
    values = check_reconstruction(recon, obs, grid, cell.method.label)
    rows = score(truth.values, values, guidance, grid.ocean, grid.depth, grid.lat,
                 cell.mask.missing_rate, observed)
    start = time.perf_counter()
    extra = [] if dist is None else [uncertainty_rows(dist, method, truth.values, guidance,
                                                      grid, cell.method.label)]
    rows = pd.concat([rows, *extra], ignore_index=True)
    times = pd.DatetimeIndex(truth["time"].values).strftime("%Y-%m-%d").to_numpy()
    rows["time"] = times[rows["sample"].to_numpy()]
    rows = pd.concat([rows, spectral_rows(truth.values, values, grid)], ignore_index=True)
    scoring_seconds = time.perf_counter() - start
    cost = pd.DataFrame({"metric": ["fit_seconds", "seconds_per_field", "peak_rss_mb",
                                    "scoring_seconds"],
                         "value": [fit_seconds, seconds / truth.sizes["time"], memory.peak_mb,
                                   scoring_seconds]})
    cost = cost.assign(sample=-1, time="", depth=np.nan, point_set="cost")
    rows = pd.concat([rows, cost], ignore_index=True).assign(
        suite=cell.suite.name, dataset=cell.dataset.label, split=cell.suite.split,
        method=cell.method.label, method_name=cell.method.name,
        params=json.dumps(method.get_params(), sort_keys=True, default=str),
        fitted_params=json.dumps(method.fitted_params(), sort_keys=True, default=str),
        mask_kind=cell.mask.kind, missing_rate=cell.mask.missing_rate, seed=cell.mask.seed,
        mask_fallbacks=n_fallback, cell=cell.key)
    first = xr.Dataset(
        {"reconstruction": truth[0].copy(data=np.where(grid.ocean, values[0], np.nan)),
         "guidance": truth[0].copy(data=guidance[0].astype(np.int8))},
        attrs={"method": cell.method.label, "dataset": cell.dataset.label,
               "mask_kind": cell.mask.kind, "missing_rate": cell.mask.missing_rate,
               "seed": cell.mask.seed, "cell": cell.key})
    first["reconstruction"].attrs = {"units": "degC", "long_name": "reconstruction"}
    first["guidance"].attrs = {"long_name": "guidance mask (1 = observed)"}
    return rows, first


def run_ose_cell(cell: Cell, method: Method, grid: Grid,
                 fit_seconds: float) -> tuple[pd.DataFrame, xr.Dataset]:
    """Withhold, reconstruct from the rest and score at the withheld observations (see
    :mod:`reconbench.benchmark.ose`): the cell's rows and its first sample's fields."""
    table = ose.load_observations(cell.suite.observations)
    experiment = ose.prepare(table, grid, cell.mask, cell.suite.samples)
    obs = experiment.obs
    with PeakMemory() as memory:
        start = time.perf_counter()
        recon = method.reconstruct(obs)
        seconds = time.perf_counter() - start
    values = check_reconstruction(recon, obs, grid, cell.method.label)
    rows = ose.score_experiment(experiment, values, grid)
    times = pd.DatetimeIndex(obs["time"].values).strftime("%Y-%m-%d").to_numpy()
    rows["time"] = times[rows["sample"].to_numpy()]
    cost = pd.DataFrame({"metric": ["fit_seconds", "seconds_per_field", "peak_rss_mb"],
                         "value": [fit_seconds, seconds / obs.sizes["time"], memory.peak_mb]})
    cost = cost.assign(sample=-1, time="", depth=np.nan, point_set="cost")
    rows = pd.concat([rows, cost], ignore_index=True).assign(
        suite=cell.suite.name, dataset=cell.dataset.label, split="train",
        method=cell.method.label, method_name=cell.method.name,
        params=json.dumps(method.get_params(), sort_keys=True, default=str),
        fitted_params=json.dumps(method.fitted_params(), sort_keys=True, default=str),
        mask_kind=cell.mask.kind, missing_rate=cell.mask.missing_rate, seed=cell.mask.seed,
        mask_fallbacks=0, cell=cell.key)
    guidance = np.isfinite(obs.values[0]) & grid.ocean
    first = xr.Dataset(
        {"reconstruction": obs[0].copy(data=np.where(grid.ocean, values[0], np.nan)),
         "guidance": obs[0].copy(data=guidance.astype(np.int8))},
        attrs={"method": cell.method.label, "dataset": cell.dataset.label,
               "mask_kind": cell.mask.kind, "missing_rate": cell.mask.missing_rate,
               "seed": cell.mask.seed, "cell": cell.key,
               "superobs": experiment.superobs_report})
    first["reconstruction"].attrs = {"units": "degC", "long_name": "reconstruction"}
    first["guidance"].attrs = {"long_name": "guidance mask (1 = super-observation)"}
    return rows, first


def load_samples(source: DatasetSource, suite: Suite) -> xr.DataArray:
    """The suite's sample months of its split, loaded and checked against the grid."""
    field = source.split(suite.split)
    truth = field.isel(time=sample_indices(field["time"].values, suite.samples)).load()
    source.grid.check_field(truth, f"dataset {source.name!r} ({suite.split} split)",
                            gappy=source.gappy)
    return truth


@dataclass(frozen=True)
class CellOutput:
    """What a finished cell sends to the writer: its rows and, for the first
    mask seed, its first sample's fields (see :func:`run_cell`); else ``None``."""

    key: str
    rows: pd.DataFrame
    first: xr.Dataset | None


class Workbench:
    """What one process keeps between cells: loaded samples and fitted methods.

    The serial runner uses one per run; every Dask worker process keeps one (see
    :func:`compute_cell`), so a worker loads a dataset and fits a method once
    however many of their cells it runs. Both caches keep the ``max_entries``
    most recently used entries.
    """

    def __init__(self, max_entries: int = 4):
        self.max_entries = max_entries
        self._sources: dict[str, DatasetSource] = {}
        self._samples: OrderedDict[str, tuple[DatasetSource, xr.DataArray]] = OrderedDict()
        self._methods: OrderedDict[str, tuple[Method, float]] = OrderedDict()

    def source(self, dataset: Component) -> DatasetSource:
        """The dataset's source (built once; building one does not load its fields)."""
        key = _json_key(dataset.name, dataset.params)
        if key not in self._sources:
            self._sources[key] = make_source(dataset.name, **dataset.params)
        return self._sources[key]

    def samples(self, suite: Suite, dataset: Component) -> tuple[DatasetSource, xr.DataArray]:
        """The dataset's source and the suite's samples of it (time, depth, lat, lon)."""
        key = _json_key(dataset.name, dataset.params, suite.split, suite.samples)
        if key not in self._samples:
            source = self.source(dataset)
            self._remember(self._samples, key, (source, load_samples(source, suite)))
        self._samples.move_to_end(key)
        return self._samples[key]

    def fitted(self, suite: Suite, dataset: Component, method: Component) -> tuple[Method, float]:
        """The method fitted on the dataset's train split, and the fit's wall time in s."""
        key = _json_key(dataset.name, dataset.params, method.name, method.params)
        if key not in self._methods:
            source = self.source(dataset)
            model = make_method(method.name, **method.params)
            start = time.perf_counter()
            train = (source.split("train") if source.split_times("train").size
                     else source.grid.field(np.empty((0, *source.grid.shape)),
                                            np.array([], "datetime64[ns]")))
            model.fit(train, source.grid)
            self._remember(self._methods, key, (model, time.perf_counter() - start))
        self._methods.move_to_end(key)
        return self._methods[key]

    def _remember(self, cache: OrderedDict, key: str, value) -> None:
        cache[key] = value
        while len(cache) > self.max_entries:
            cache.popitem(last=False)


def _json_key(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


_PROCESS_WORKBENCH = Workbench()


def compute_cell(cell: Cell, bench: Workbench | None = None) -> CellOutput:
    """Run one cell from its description alone: the unit of work of every scheduler.

    ``bench`` defaults to this process's own :class:`Workbench` (what a Dask
    worker uses). Any error becomes a :class:`ReconbenchError` whose one-line
    message names the cell (:func:`cell_failure`); the original is its cause.
    """
    bench = bench or _PROCESS_WORKBENCH
    try:
        if cell.suite.observations:
            method, fit_seconds = bench.fitted(cell.suite, cell.dataset, cell.method)
            rows, first = run_ose_cell(cell, method, bench.source(cell.dataset).grid,
                                       fit_seconds)
        else:
            source, truth = bench.samples(cell.suite, cell.dataset)
            method, fit_seconds = bench.fitted(cell.suite, cell.dataset, cell.method)
            rows, first = run_cell(cell, method, truth, source.grid, fit_seconds)
    except Exception as exc:  # a method's own bug included: the run stops with one line
        raise ReconbenchError(cell_failure(cell, exc)) from exc
    return CellOutput(cell.key, rows, first if cell.mask.seed == cell.suite.seeds[0] else None)


def cell_failure(cell: Cell, exc: Exception) -> str:
    """One line: which cell failed and why; for an error that is not a user error (a bug,
    in a method most likely) also its type and the file and line that raised it."""
    why = str(exc)
    if not isinstance(exc, ReconbenchError):
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        why = (f"{type(exc).__name__}: {why} (raised at {frame.filename}:{frame.lineno}; "
               f"a serial run with RECONBENCH_TRACEBACK=1 prints the traceback)")
    return (f"cell {cell.key} (method {cell.method.label!r} on dataset {cell.dataset.label!r}, "
            f"{cell.mask.kind} mask, missing rate {cell.mask.missing_rate:g}, seed "
            f"{cell.mask.seed}) failed: {why}; finished cells are kept and the same command "
            f"resumes")


def run_metadata(suite: Suite, store: ResultsStore, grids: dict[str, Grid]) -> dict:
    """Run metadata merged into the store's earlier metadata (one entry per run)."""
    versions = {"python": platform.python_version(), "reconbench": reconbench.__version__}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = "not installed"
    previous = store.metadata()
    runs = previous.get("runs", [])
    runs.append({"started": datetime.now(UTC).isoformat(timespec="seconds"),
                 "config_hash": suite.config_hash, "git_commit": git_commit(),
                 "versions": versions, "host": platform.node()})
    return {
        "suite": suite.name, "description": suite.description, "config_hash": suite.config_hash,
        "suite_toml": suite.source_text, "split": suite.split, "samples": suite.samples,
        "seeds": list(suite.seeds), "missing_rates": list(suite.missing_rates),
        "mask_kinds": list(suite.mask_kinds), "versions": versions, "git_commit": git_commit(),
        "grids": {label: grid_summary(grid) for label, grid in grids.items()},
        "runs": runs,
        **({"tuned": suite.tuned} if suite.tuned else {}),  # settings chosen by reconbench tune
    }


def grid_summary(grid: Grid) -> dict:
    """A JSON-able description of a grid for the run metadata."""
    return {"name": grid.name, "n_lat": int(grid.lat.size), "n_lon": int(grid.lon.size),
            "lat_range": [float(grid.lat[0]), float(grid.lat[-1])],
            "depth_m": [round(float(d), 2) for d in grid.depth],
            "ocean_fraction": [round(float(f), 4) for f in grid.ocean_fraction],
            "key": grid.key}


def git_commit() -> str:
    """The commit of the git checkout in the working directory, or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_suite(suite: Suite, results: str | Path, progress: bool = True,
              scheduler: str | None = None) -> ResultsStore:
    """Run every unfinished cell of ``suite`` into the results folder ``results``.

    ``scheduler`` is ``None`` (or "serial") to run the cells one after the other
    in this process, ``"local:N"`` for a local Dask cluster of N worker
    processes, or ``"tcp://HOST:PORT"`` for a running Dask scheduler. Whatever
    runs the cells, this process alone writes the store, cell by cell as they
    finish.
    """
    bench = Workbench()
    run_cells = scheduler_for(scheduler, bench)
    # building the sources checks the datasets (and caches their land masks on disk, so
    # Dask workers need not derive them); unknown methods or parameters fail here too,
    # before anything is written
    grids = {d.label: bench.source(d).grid for d in suite.datasets}
    for m in suite.methods:
        make_method(m.name, **m.params)
    if suite.observations:  # an OSE: its observation files are read and checked first
        ose.load_observations(suite.observations)
    else:
        check_splits(suite, bench)
    store = ResultsStore(results)
    with store.lock():
        store.remove_temporaries()
        cells = cells_of(suite)
        todo = [c for c in cells if not store.has_cell(c.key)]
        store.write_metadata(run_metadata(suite, store, grids))
        for dataset in [d for d in suite.datasets if any(c.dataset == d for c in todo)
                        and not suite.observations]:  # an OSE's truth is its observations
            store.write_truth(dataset.label, bench.samples(suite, dataset)[1][0])
        write_outputs(store, run_cells(todo), total=len(cells), done=len(cells) - len(todo),
                      desc=f"suite {suite.name}", progress=progress)
        store.consolidate()
    return store


def scheduler_for(scheduler: str | None, bench: Workbench
                  ) -> Callable[[list[Cell]], Iterator[CellOutput]]:
    """How the cells will run: a function from cells to their outputs (see :func:`run_suite`)."""
    if scheduler in (None, "serial"):
        return lambda cells: (compute_cell(cell, bench) for cell in cells)
    try:
        from reconbench.benchmark import cluster
    except ImportError as exc:
        raise InputError(f"--scheduler {scheduler} needs Dask ({exc}); install it with "
                         f"pip install 'reconbench[dask]'") from None
    cluster.check_scheduler(scheduler)
    return lambda cells: cluster.run_on_cluster(cells, scheduler)


def write_outputs(store: ResultsStore, outputs: Iterator[CellOutput], total: int, done: int,
                  desc: str, progress: bool) -> None:
    """Write each cell's output as it arrives (fields first, the cell file last)."""
    bar = tqdm(total=total, initial=done, disable=not progress, desc=desc, unit="cell")
    try:
        for output in outputs:
            if output.first is not None:
                store.write_reconstruction(output.key, output.first)
            store.write_cell(output.key, output.rows)
            row = output.rows.iloc[0]
            bar.set_postfix_str(f"{row.method} {row.mask_kind} r={row.missing_rate:g} "
                                f"seed={row.seed}")
            bar.update()
    finally:
        outputs.close()
        bar.close()
