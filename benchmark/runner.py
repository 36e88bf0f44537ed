"""The runner: every cell of a suite, scored on the same truth and the same masks.

A *cell* is one (dataset, method, mask kind, missing rate, seed), computed by
:mod:`reconbench.benchmark.cells`. For each dataset the samples are loaded once
and each method is fitted once on the train split; each cell's rows go to the
results store as it finishes. Finished cells are skipped on a re-run, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
from tqdm import tqdm

import reconbench
from reconbench.benchmark import ose

# the cell computation's public names stay importable from the runner, where they were first
from reconbench.benchmark.cells import (  # noqa: F401
    Cell,
    CellOutput,
    PeakMemory,
    Workbench,
    cells_of,
    check_reconstruction,
    compute_cell,
    observe,
    sample_indices,
)
from reconbench.benchmark.store import ResultsStore
from reconbench.benchmark.suite import Suite
from reconbench.datasets.grid import Grid
from reconbench.errors import ConfigError, InputError
from reconbench.methods.registry import make_method, method_class

VERSIONED_PACKAGES = ("numpy", "scipy", "pandas", "xarray", "scikit-learn", "pykrige", "torch")


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
    """The commit of the reconbench source checkout that runs (wherever the command is
    started from), or "unknown" for an installed copy outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True, cwd=Path(__file__).resolve().parents[1])
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
    if suite.observations:  # an OSE: its observation files (and gridded guidance) first
        ose.check_observations(suite.observations, grids.values())
    else:
        check_splits(suite, bench)
    store = ResultsStore(results)
    with store.lock():
        check_same_config(store, suite)
        store.remove_temporaries()
        cells = cells_of(suite)
        todo = [c for c in cells if not store.has_cell(c.key)]

        def record_run() -> None:
            """The run's metadata and truths, written when its first cell lands (so a run
            that fails before finishing any cell leaves the folder as it was)."""
            store.write_metadata(run_metadata(suite, store, grids))
            for dataset in [d for d in suite.datasets if any(c.dataset == d for c in todo)
                            and not suite.observations]:  # an OSE's truth is its observations
                if not store.has_truth(dataset.label):
                    store.write_truth(dataset.label, bench.samples(suite, dataset)[1][0])

        write_outputs(store, run_cells(todo), total=len(cells), done=len(cells) - len(todo),
                      desc=f"suite {suite.name}", progress=progress, before_first=record_run)
        store.consolidate()
    return store


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


def check_same_config(store: ResultsStore, suite: Suite) -> None:
    """Refuse to run ``suite`` into a store holding another configuration's rows."""
    previous = store.metadata().get("config_hash")
    if previous and previous != suite.config_hash:
        root = str(store.root)
        raise InputError(f"results folder {root!r} holds suite {store.metadata().get('suite')!r} "
                         f"with config hash {previous}, but this suite's config hash is "
                         f"{suite.config_hash} (its file or parameters changed) and rows of two "
                         f"configs are never mixed: run it into a fresh folder, e.g. --results "
                         f"{root}-{suite.config_hash}, or delete {root!r}")


def plan(suite: Suite, results: str | Path) -> list[tuple[Cell, bool]]:
    """Every cell of ``suite`` and whether the results folder already holds it."""
    store = ResultsStore(results)
    check_same_config(store, suite)
    return [(cell, store.has_cell(cell.key)) for cell in cells_of(suite)]


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
                  desc: str, progress: bool, before_first: Callable[[], None] = lambda: None
                  ) -> None:
    """Write each cell's output as it arrives (fields first, the cell file last);
    ``before_first()`` runs once, before the first output is written."""
    bar = tqdm(total=total, initial=done, disable=not progress, desc=desc, unit="cell")
    try:
        for n, output in enumerate(outputs):
            if n == 0:
                before_first()
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
