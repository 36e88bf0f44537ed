"""One cell of a suite, computed from its description alone.

A *cell* is one (dataset, method, mask kind, missing rate, seed). Computing it
loads the dataset's samples (months of the suite's split, evenly spaced), fits
the method on the train split (both kept in a :class:`Workbench` between cells),
builds the guidance mask, hands the method the observations alone and scores
the reconstruction. The serial runner (:mod:`reconbench.benchmark.runner`) and
the Dask workers (:mod:`reconbench.benchmark.cluster`) both call
:func:`compute_cell`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psutil
import xarray as xr

from reconbench.benchmark import ose
from reconbench.benchmark.metrics import score
from reconbench.benchmark.samples import sample_indices
from reconbench.benchmark.scores import Distribution, probabilistic_score
from reconbench.benchmark.spectral import (
    SpectralBox,
    effective_resolution,
    psd_score,
    zonal_spectra,
)
from reconbench.benchmark.suite import Component, Suite
from reconbench.datasets.build import make_source
from reconbench.datasets.grid import Grid
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import DatasetSource
from reconbench.errors import ReconbenchError
from reconbench.methods.base import Method
from reconbench.methods.registry import make_method


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
        if self.suite.spectral_boxes:  # rows of its own per box
            content["spectral_boxes"] = self.suite.spectral_boxes
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


def spectral_rows(truth: np.ndarray, values: np.ndarray, grid: Grid,
                  boxes: tuple[SpectralBox, ...] = ()) -> pd.DataFrame:
    """Effective resolution (km) of a cell, its samples pooled, per level and over all levels
    (spectra summed over levels), and the PSD score of every wavelength bin over all levels
    (metrics ``psd_score_KK``, K indexing the bins of
    :data:`~reconbench.benchmark.spectral.WAVELENGTH_EDGES_KM`; bins no segment reaches
    are left out); rows with ``sample`` = -1 and point set "spectral" for the whole grid,
    "spectral:NAME" for each of the suite's ``boxes``.

    On a gappy truth the zonal segments run over the cells observed in every sample.
    """
    observed = grid.ocean & np.isfinite(truth).all(axis=0)  # (depth, lat, lon)
    filled = np.where(observed[None], truth, 0.0)
    regions = [("spectral", None, 16)] + [(f"spectral:{b.name}", b.mask(grid.lat, grid.lon),
                                           b.segment_cells) for b in boxes]
    frames = []
    for point_set, inside, length in regions:
        depths, metrics, values_out, totals = [], [], [], None
        for k, depth in enumerate(grid.depth):
            cells = observed[k] if inside is None else observed[k] & inside
            wavelength, p_truth, p_error = zonal_spectra(filled[:, k], values[:, k], cells,
                                                         grid.lat, grid.lon, length)
            depths.append(depth)
            metrics.append("effective_resolution_km")
            values_out.append(effective_resolution(wavelength, psd_score(p_truth, p_error)))
            pair = np.nan_to_num(np.stack([p_truth, p_error]))
            totals = pair if totals is None else totals + pair
        pooled = psd_score(totals[0], totals[1])
        known = np.flatnonzero(np.isfinite(pooled))
        depths += [np.nan] * (1 + known.size)
        metrics += ["effective_resolution_km"] + [f"psd_score_{b:02d}" for b in known]
        values_out += [effective_resolution(wavelength, pooled), *pooled[known]]
        frames.append(pd.DataFrame({"sample": -1, "time": "", "depth": depths,
                                    "point_set": point_set, "metric": metrics,
                                    "value": values_out}))
    return pd.concat(frames, ignore_index=True)


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
    rows = dated(pd.concat([rows, *extra], ignore_index=True), truth)
    rows = pd.concat([rows, spectral_rows(truth.values, values, grid, cell.suite.spectral_boxes)],
                     ignore_index=True)
    scoring_seconds = time.perf_counter() - start
    cost = {"fit_seconds": fit_seconds, "seconds_per_field": seconds / truth.sizes["time"],
            "peak_rss_mb": memory.peak_mb, "scoring_seconds": scoring_seconds}
    rows = cell_rows(cell, method, rows, cost, cell.suite.split, n_fallback)
    first = first_fields(cell, truth[0], values[0], guidance[0], grid,
                         "guidance mask (1 = observed)")
    return rows, first


def run_ose_cell(cell: Cell, method: Method, grid: Grid,
                 fit_seconds: float) -> tuple[pd.DataFrame, xr.Dataset]:
    """Withhold, reconstruct from the rest and score at the withheld observations (see
    :mod:`reconbench.benchmark.ose`): the cell's rows and its first sample's fields."""
    experiment = ose.experiment_of(cell.suite.observations, grid, cell.mask, cell.suite.samples,
                                   cell.suite.split)
    obs = experiment.obs
    with PeakMemory() as memory:
        start = time.perf_counter()
        recon = method.reconstruct(obs)
        seconds = time.perf_counter() - start
    values = check_reconstruction(recon, obs, grid, cell.method.label)
    rows = dated(ose.score_experiment(experiment, values, grid), obs)
    cost = {"fit_seconds": fit_seconds, "seconds_per_field": seconds / obs.sizes["time"],
            "peak_rss_mb": memory.peak_mb}
    rows = cell_rows(cell, method, rows, cost, "train", 0)
    first = first_fields(cell, obs[0], values[0], np.isfinite(obs.values[0]) & grid.ocean, grid,
                         "guidance mask (1 = super-observation)",
                         superobs=experiment.superobs_report)
    return rows, first


def dated(rows: pd.DataFrame, field: xr.DataArray) -> pd.DataFrame:
    """``rows`` with a ``time`` column: the date (YYYY-MM-DD) of each row's ``sample``, an
    index into ``field``'s time axis."""
    times = pd.DatetimeIndex(field["time"].values).strftime("%Y-%m-%d").to_numpy()
    rows["time"] = times[rows["sample"].to_numpy()]
    return rows


def cell_rows(cell: Cell, method: Method, rows: pd.DataFrame, cost: dict, split: str,
              mask_fallbacks: int) -> pd.DataFrame:
    """A finished cell's rows: its scores, one ``cost`` row per entry of ``cost`` (metric ->
    value), and on every row the cell's identity (suite, dataset, method and its parameters,
    mask, split, the count of mask fallbacks, the cell key)."""
    cost = pd.DataFrame({"metric": list(cost), "value": list(cost.values())}).assign(
        sample=-1, time="", depth=np.nan, point_set="cost")
    return pd.concat([rows, cost], ignore_index=True).assign(
        suite=cell.suite.name, dataset=cell.dataset.label, split=split,
        method=cell.method.label, method_name=cell.method.name,
        params=json.dumps(method.get_params(), sort_keys=True, default=str),
        fitted_params=json.dumps(method.fitted_params(), sort_keys=True, default=str),
        mask_kind=cell.mask.kind, missing_rate=cell.mask.missing_rate, seed=cell.mask.seed,
        mask_fallbacks=mask_fallbacks, cell=cell.key)


def first_fields(cell: Cell, like: xr.DataArray, values: np.ndarray, guidance: np.ndarray,
                 grid: Grid, guidance_name: str, **attrs) -> xr.Dataset:
    """A cell's first sample for maps in reports: ``reconstruction`` (depth, lat, lon) °C,
    NaN off the ocean, and ``guidance`` (depth, lat, lon) int8, on the coordinates of
    ``like`` (depth, lat, lon); ``attrs`` join the cell's identity in the attributes."""
    first = xr.Dataset(
        {"reconstruction": like.copy(data=np.where(grid.ocean, values, np.nan)),
         "guidance": like.copy(data=guidance.astype(np.int8))},
        attrs={"method": cell.method.label, "dataset": cell.dataset.label,
               "mask_kind": cell.mask.kind, "missing_rate": cell.mask.missing_rate,
               "seed": cell.mask.seed, "cell": cell.key, **attrs})
    first["reconstruction"].attrs = {"units": "degC", "long_name": "reconstruction"}
    first["guidance"].attrs = {"long_name": guidance_name}
    return first


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
        self._methods: OrderedDict[str, tuple[Method, float, str]] = OrderedDict()

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
        """The method fitted on the dataset's train split, and the fit's wall time in s.

        A method fitted earlier with the same parameters apart from its
        ``predict_params`` is not fitted again: a copy of it takes this method's
        values of those (and the seconds of that fit)."""
        model = make_method(method.name, **method.params)
        params = model.get_params()
        at_predict = {k: params[k] for k in type(model).predict_params}
        key = _json_key(dataset.name, dataset.params, method.name, params)
        fit_key = _json_key(dataset.name, dataset.params, method.name,
                            {k: v for k, v in params.items() if k not in at_predict})
        if key not in self._methods:
            same_fit = [entry for entry in self._methods.values() if entry[2] == fit_key]
            if same_fit:
                model, seconds = copy.deepcopy(same_fit[-1][0]), same_fit[-1][1]
                for name, value in at_predict.items():
                    setattr(model, name, value)
            else:
                source = self.source(dataset)
                start = time.perf_counter()
                train = (source.split("train") if source.split_times("train").size
                         else source.grid.field(np.empty((0, *source.grid.shape)),
                                                np.array([], "datetime64[ns]")))
                model.fit(train, source.grid)
                seconds = time.perf_counter() - start
            self._remember(self._methods, key, (model, seconds, fit_key))
        self._methods.move_to_end(key)
        return self._methods[key][:2]

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
