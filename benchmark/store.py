"""The results store: a folder of tidy rows, written so that nothing is ever lost.

Layout of a store folder::

    metadata.json        run metadata: suite, config hash, versions, git commit,
                         seeds, grids, and one entry per run
    cells/<key>.parquet  the rows of one finished cell (dataset x method x mask
                         kind x missing rate x seed), each file written whole
    results.parquet      all rows together, rebuilt from cells/ after each run
    results.csv          the same rows as CSV
    fields/truth-<dataset>.nc   the first sample's true field of each dataset
    fields/<key>.nc      the first sample of a cell (first mask seed only):
                         ``reconstruction`` (°C) and ``guidance`` (1 = observed)

Every file is written to a temporary name in the same folder and renamed into
place, so a crash or ``kill -9`` leaves either the old file or the new one, never
half of one (the next run deletes the temporary files such a crash leaves). A
cell whose file exists is done; a re-run skips it. One run at a time writes a
store: a run holds an exclusive lock on ``.lock`` (released by the operating
system when the process ends, however it ends). A write that fails (read-only
folder, full disk) stops the run with an :class:`InputError` naming the file;
what was written before stays as it was.

A store holds one suite configuration: ``metadata.json`` records its config
hash, and a run of a suite with another hash stops before writing anything
(:func:`reconbench.benchmark.runner.check_same_config`). A run writes its
metadata (one more entry in ``runs``) and the truths only when its first cell
lands, so a run that fails before finishing a cell changes nothing.

Row columns: ``suite, dataset, split, method, method_name, params,
fitted_params, mask_kind, missing_rate, seed, mask_fallbacks, sample, time,
depth, point_set, metric, value, cell``. ``depth`` is NaN for scores over all
levels; cost rows (``point_set`` = "cost": ``fit_seconds``,
``seconds_per_field``, ``peak_rss_mb``, and ``scoring_seconds``, the time spent
on the uncertainty scores of :mod:`reconbench.benchmark.scores`) have ``sample``
= -1.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd
import xarray as xr

from reconbench.errors import InputError
from reconbench.files import temporary_beside

COLUMNS = ["suite", "dataset", "split", "method", "method_name", "params", "fitted_params",
           "mask_kind", "missing_rate", "seed", "mask_fallbacks", "sample", "time", "depth",
           "point_set", "metric", "value", "cell"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Errors (read-only folder, full disk) become an :class:`InputError` naming the
    path; the previous content of ``path``, if any, is left untouched. Writers
    report I/O failures in their own ways (the NetCDF library raises
    ``RuntimeError("NetCDF: HDF error")`` or even ``PermissionError`` on a full
    disk), so ``RuntimeError`` counts as a write failure too, and the message says
    when the file system is full.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_beside(path)
    except OSError as exc:
        raise InputError(f"cannot write results to {str(path.parent)!r}: {exc.strerror}") from None
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {str(path)!r}: {_write_failure(exc, path.parent)}; "
                         f"earlier results are intact") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_failure(exc: Exception, folder: Path) -> str:
    """Why a write failed, in words: a full disk is named as such."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if shutil.disk_usage(existing).free < FULL_DISK_BYTES:
        return "no space left on the device"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


#: A file system with less free space than this is reported as full.
FULL_DISK_BYTES = 1 << 20


class ResultsStore:
    """A results folder (see the module docstring for its layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.fields_dir = self.root / "fields"

    # -- reading -------------------------------------------------------------
    def exists(self) -> bool:
        """True when the folder holds at least one finished cell or a results file."""
        return (self.root / "results.parquet").is_file() or any(self._cell_files())

    def _cell_files(self) -> list[Path]:
        return sorted(self.cells_dir.glob("*.parquet")) if self.cells_dir.is_dir() else []

    def has_cell(self, key: str) -> bool:
        """True when the cell ``key`` is finished."""
        return (self.cells_dir / f"{key}.parquet").is_file()

    def rows(self) -> pd.DataFrame:
        """All rows of the store, from the cell files (or ``results.parquet`` alone)."""
        files = self._cell_files()
        if files:
            return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        consolidated = self.root / "results.parquet"
        if consolidated.is_file():
            return pd.read_parquet(consolidated)
        raise InputError(f"{str(self.root)!r} is not a results store: it has no cells/ folder "
                         f"and no results.parquet (run 'reconbench run SUITE' first)")

    def metadata(self) -> dict:
        """The run metadata, or an empty dict when there is none yet."""
        path = self.root / "metadata.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{str(path)!r} is not valid JSON: {exc}") from None

    # -- writing -------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's write lock; a clear error if another run holds it.

        The lock is POSIX ``flock`` (Linux, macOS): writing a store needs a POSIX
        system; reading one (reports) does not import ``fcntl``.
        """
        import fcntl

        path = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = path.open("a")
        except OSError as exc:
            raise InputError(f"cannot write results to {str(self.root)!r}: "
                             f"{_write_failure(exc, self.root.parent)}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"another reconbench run is writing to {str(self.root)!r}; "
                                 f"wait for it to finish or choose another --results "
                                 f"folder") from None
            yield
        finally:
            handle.close()

    def remove_temporaries(self) -> None:
        """Delete the temporary files a killed run left behind (call under :meth:`lock`).

        Best effort: a file that cannot be deleted is left for the next run.
        """
        for folder in (self.root, self.cells_dir, self.fields_dir):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
                with suppress(OSError):
                    tmp.unlink()

    def write_cell(self, key: str, rows: pd.DataFrame) -> None:
        """Write the rows of one finished cell atomically."""
        rows = rows[COLUMNS]
        atomic_write(self.cells_dir / f"{key}.parquet",
                     lambda tmp: rows.to_parquet(tmp, index=False))

    def has_truth(self, dataset: str) -> bool:
        """True when the first true sample of ``dataset`` is stored."""
        return (self.fields_dir / f"truth-{dataset}.nc").is_file()

    def write_truth(self, dataset: str, truth: xr.DataArray) -> None:
        """Write a dataset's first true sample (depth, lat, lon), °C, for reports."""
        ds = truth.rename("truth").to_dataset()
        atomic_write(self.fields_dir / f"truth-{dataset}.nc",
                     lambda tmp: ds.to_netcdf(tmp, encoding=_compressed(ds)))

    def write_reconstruction(self, key: str, fields: xr.Dataset) -> None:
        """Write a cell's first sample (see :func:`reconbench.benchmark.runner.run_cell`)."""
        atomic_write(self.fields_dir / f"{key}.nc",
                     lambda tmp: fields.to_netcdf(tmp, encoding=_compressed(fields)))

    def truth(self, dataset: str) -> xr.DataArray:
        """The first true sample of ``dataset``."""
        with xr.open_dataset(self.fields_dir / f"truth-{dataset}.nc") as ds:
            return ds["truth"].load()

    def reconstruction(self, key: str) -> xr.Dataset:
        """The first sample of cell ``key``: ``reconstruction`` and ``guidance``."""
        with xr.open_dataset(self.fields_dir / f"{key}.nc") as ds:
            return ds.load()

    def write_metadata(self, metadata: dict) -> None:
        """Replace ``metadata.json`` atomically."""
        text = json.dumps(metadata, indent=2, sort_keys=True, default=str)
        atomic_write(self.root / "metadata.json", lambda tmp: tmp.write_text(text))

    def consolidate(self) -> pd.DataFrame:
        """Rebuild ``results.parquet`` and ``results.csv`` from the cell files."""
        rows = self.rows().sort_values(
            ["dataset", "method", "mask_kind", "missing_rate", "seed", "sample", "point_set",
             "metric", "depth"], na_position="last", kind="stable").reset_index(drop=True)
        atomic_write(self.root / "results.parquet", lambda tmp: rows.to_parquet(tmp, index=False))
        atomic_write(self.root / "results.csv", lambda tmp: rows.to_csv(tmp, index=False))
        return rows


def _compressed(ds: xr.Dataset) -> dict:
    """NetCDF encoding: zlib level 1 for every variable."""
    return {name: {"zlib": True, "complevel": 1} for name in ds.data_vars}
