"""The runner: every cell of a suite, scored on the same truth and the same masks.

A *cell* is one (dataset, method, mask kind, missing rate, seed). For each
dataset the runner loads the samples (months of the suite's split, evenly
spaced) once; for each method it fits once on the train split; for each cell it
builds the guidance mask, hands the method the observations alone, scores the
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
from reconbench.benchmark.metrics import score
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import Component, Suite
from reconbench.datasets.grid import Grid
from reconbench.datasets.masks import MaskSpec
from reconbench.datasets.source import DatasetSource, make_source
from reconbench.errors import ReconbenchError
from reconbench.methods.base import Method
from reconbench.methods.registry import make_method

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
    return [Cell(suite, d, m, MaskSpec(kind, rate, seed, suite.mask_params.get(kind, {})))
            for d in suite.datasets for m in suite.methods for kind in suite.mask_kinds
            for rate in suite.missing_rates for seed in suite.seeds]


def sample_indices(n_available: int, n_samples: int) -> np.ndarray:
    """``n_samples`` time indices spread evenly over ``n_available`` months."""
    if n_samples > n_available:
        raise ReconbenchError(f"the suite asks for {n_samples} samples but the split has only "
                              f"{n_available} months")
    return np.unique(np.linspace(0, n_available - 1, n_samples).round().astype(int))


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


def run_cell(cell: Cell, method: Method, truth: xr.DataArray, grid: Grid,
             fit_seconds: float) -> pd.DataFrame:
    """Mask, reconstruct and score one cell; returns its tidy rows."""
    guidance, n_fallback = cell.mask.build_with_report(grid, truth.sizes["time"],
                                                       truth["time"].values)
    obs = observe(truth, guidance)
    with PeakMemory() as memory:
        start = time.perf_counter()
        recon = method.reconstruct(obs)
        seconds = time.perf_counter() - start
    values = check_reconstruction(recon, obs, grid, cell.method.label)
    rows = score(truth.values, values, guidance, grid.ocean, grid.depth, grid.lat,
                 cell.mask.missing_rate)
    times = pd.DatetimeIndex(truth["time"].values).strftime("%Y-%m-%d").to_numpy()
    rows["time"] = times[rows["sample"].to_numpy()]
    cost = pd.DataFrame({"metric": ["fit_seconds", "seconds_per_field", "peak_rss_mb"],
                         "value": [fit_seconds, seconds / truth.sizes["time"], memory.peak_mb]})
    cost = cost.assign(sample=-1, time="", depth=np.nan, point_set="cost")
    rows = pd.concat([rows, cost], ignore_index=True)
    return rows.assign(
        suite=cell.suite.name, dataset=cell.dataset.label, split=cell.suite.split,
        method=cell.method.label, method_name=cell.method.name,
        params=json.dumps(method.get_params(), sort_keys=True, default=str),
        fitted_params=json.dumps(method.fitted_params(), sort_keys=True, default=str),
        mask_kind=cell.mask.kind, missing_rate=cell.mask.missing_rate, seed=cell.mask.seed,
        mask_fallbacks=n_fallback, cell=cell.key)


def load_samples(source: DatasetSource, suite: Suite) -> xr.DataArray:
    """The suite's sample months of its split, loaded and checked against the grid."""
    field = source.split(suite.split)
    truth = field.isel(time=sample_indices(field.sizes["time"], suite.samples)).load()
    source.grid.check_field(truth, f"dataset {source.name!r} ({suite.split} split)")
    return truth


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


def run_suite(suite: Suite, results: str | Path, progress: bool = True) -> ResultsStore:
    """Run every unfinished cell of ``suite`` into the results folder ``results``."""
    store = ResultsStore(results)
    cells = cells_of(suite)
    todo = [c for c in cells if not store.has_cell(c.key)]
    sources = [(d, make_source(d.name, **d.params)) for d in suite.datasets]
    for m in suite.methods:  # unknown methods or parameters fail before anything is written
        make_method(m.name, **m.params)
    store.write_metadata(run_metadata(suite, store, {d.label: s.grid for d, s in sources}))
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), disable=not progress,
               desc=f"suite {suite.name}", unit="cell")
    try:
        for dataset, source in sources:
            dataset_cells = [c for c in todo if c.dataset == dataset]
            if not dataset_cells:
                continue
            truth = load_samples(source, suite)
            for method_component in suite.methods:
                method_cells = [c for c in dataset_cells if c.method == method_component]
                if not method_cells:
                    continue
                method = make_method(method_component.name, **method_component.params)
                bar.set_postfix_str(f"fitting {method_component.label} on {dataset.label}")
                start = time.perf_counter()
                method.fit(source.split("train"), source.grid)
                fit_seconds = time.perf_counter() - start
                for cell in method_cells:
                    bar.set_postfix_str(f"{cell.method.label} {cell.mask.kind} "
                                        f"r={cell.mask.missing_rate:g} seed={cell.mask.seed}")
                    store.write_cell(cell.key, run_cell(cell, method, truth, source.grid,
                                                        fit_seconds))
                    bar.update()
    finally:
        bar.close()
    store.consolidate()
    return store
