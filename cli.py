"""The ``reconbench`` command line: list, describe, run, tune, report, reconstruct, train.

User errors (a missing file, an unknown name, a malformed suite...) are printed
as one line, ``reconbench: error: ...``, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
import traceback
import warnings
from pathlib import Path

from reconbench.errors import InputError, ReconbenchError


def _parse_value(text: str):
    """A ``key=value`` value as TOML would read it (numbers, booleans, lists), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _key_values(pairs: list[str], option: str) -> dict:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{option} expects KEY=VALUE, got {pair!r}")
        params[key.strip()] = _parse_value(value.strip())
    return params


def cmd_list(args) -> None:
    from reconbench.benchmark.suite import shipped_suites
    from reconbench.datasets.masks import mask_kind_names
    from reconbench.datasets.source import source_names
    from reconbench.methods.registry import method_class, method_names

    print("datasets:   " + ", ".join(source_names()))
    print("methods:")
    for name in method_names():
        doc = (method_class(name).__doc__ or "").strip().splitlines()
        print(f"  {name:<14} {doc[0] if doc else ''}")
    print("mask kinds: " + ", ".join(mask_kind_names()))
    print("suites:     " + ", ".join(shipped_suites()))


def _is_observation_file(name: str) -> bool:
    """Whether ``describe``'s argument names point-observation files rather than a dataset."""
    import glob

    return (Path(name).suffix.lower() in (".nc", ".csv", ".parquet", ".pq")
            and bool(glob.glob(name) or Path(name).exists()))


def describe_observations(args) -> None:
    from reconbench.datasets.points import read_observations

    table = read_observations(args.dataset, **_key_values(args.param, "--param"))
    print(f"observations {args.dataset}:")
    for line in table.describe():
        print(f"  {line}")


def cmd_describe(args) -> None:
    from reconbench.datasets.build import make_uncached_source
    from reconbench.datasets.times import describe_times
    from reconbench.datasets.zarr_cache import describe_cache

    if _is_observation_file(args.dataset):
        describe_observations(args)
        return
    source = make_uncached_source(args.dataset, **_key_values(args.param, "--param"))
    grid = source.grid
    print(f"dataset {args.dataset}: {grid!r}")
    print(f"  parameters: {source.get_params()}")
    print(f"  lat {grid.lat[0]:g} .. {grid.lat[-1]:g} °N, lon {grid.lon[0]:g} .. "
          f"{grid.lon[-1]:g} °E")
    for split in ("train", "val", "test"):
        print(f"  {split:<5}: {describe_times(source.split_times(split))}")
    override = getattr(source, "units", None)
    read_as = f"; read as {override!r} by the units parameter" if override else ""
    print(f"  units: degC (file: {getattr(source, 'source_units', 'degC')}{read_as})")
    print("  level (m)   ocean fraction")
    for depth, fraction in zip(grid.depth, grid.ocean_fraction, strict=True):
        print(f"  {depth:9.1f}   {fraction:.3f}")
    print(f"  {describe_cache(source)}")


def cmd_cache(args) -> None:
    from reconbench.benchmark.cluster import dask_client
    from reconbench.datasets.build import make_uncached_source
    from reconbench.datasets.zarr_cache import build_cache, cache_state, folder_size

    source = make_uncached_source(args.dataset, **_key_values(args.param, "--param"))
    state, folder, detail = cache_state(source)
    if state == "complete":
        print(f"cache: {folder} is complete and current ({folder_size(folder) / 1e6:.1f} MB)")
        return
    if state == "stale":
        print(f"cache: {folder} was built from other inputs ({detail}); rebuilding it")
    if args.scheduler == "serial":
        folder = build_cache(source, progress=not args.no_progress)
    else:
        with dask_client(args.scheduler) as client:
            folder = build_cache(source, client=client, progress=not args.no_progress)
    print(f"cache: {folder} ({folder_size(folder) / 1e6:.1f} MB; suites, describe and train "
          f"use it)")


def cmd_run(args) -> None:
    from reconbench.benchmark.runner import run_suite
    from reconbench.benchmark.suite import load_suite

    suite = load_suite(args.suite)
    results = Path(args.results or Path("results") / suite.name)
    if args.dry_run:
        _print_plan(suite, results)
        return
    store = run_suite(suite, results, progress=not args.no_progress, scheduler=args.scheduler)
    print(f"results: {store.root / 'results.parquet'} (CSV beside it)")
    if args.report:
        _write_report(store.root)


def cmd_tune(args) -> None:
    from reconbench.benchmark.suite import load_suite
    from reconbench.benchmark.tune import (
        TuneConfig,
        settings_table,
        tune_suite,
        tuned_suite_text,
        write_tuned_suite,
    )

    suite = load_suite(args.suite)
    config = TuneConfig.from_suite(suite, trials=args.trials, seconds=args.seconds,
                                   strategy=args.strategy)
    results = Path(args.results or Path("results") / f"{suite.name}-tune")
    only = [m.strip() for m in args.methods.split(",")] if args.methods else None
    outcomes = tune_suite(suite, results, config, only, scheduler=args.scheduler,
                          progress=not args.no_progress)
    output = Path(args.output or results / f"{suite.name}-tuned.toml")
    write_tuned_suite(output, tuned_suite_text(suite, outcomes, config, results))
    print(settings_table(outcomes))
    print(f"trials: {results / 'trials.csv'}")
    print(f"tuned suite: {output} (reconbench run {output})")


def _print_plan(suite, results: Path) -> None:
    """List the suite's cells, marking those the results folder already holds."""
    from reconbench.benchmark.runner import plan

    cells = plan(suite, results)
    for cell, done in cells:
        print(f"{'done' if done else 'todo'}  {cell.key}  {cell.method.label} on "
              f"{cell.dataset.label}, {cell.mask.kind} mask, missing rate "
              f"{cell.mask.missing_rate:g}, seed {cell.mask.seed}")
    n_done = sum(done for _, done in cells)
    print(f"suite {suite.name} (config hash {suite.config_hash}): {len(cells)} cells, {n_done} "
          f"done, {len(cells) - n_done} to run, into {results}")


def _write_report(results: Path, output: Path | None = None, other: Path | None = None,
                  rates: list[float] | None = None, depths: list[float] | None = None) -> None:
    """Write the report of ``results`` (or its comparison with ``other``) and say where."""
    from reconbench.benchmark.store import ResultsStore
    from reconbench.reports.compare import build_comparison
    from reconbench.reports.report import build_report, write_report

    if other is None:
        report = build_report(ResultsStore(results), rates, depths)
        output = output or results / "report"
    else:
        report = build_comparison(ResultsStore(results), ResultsStore(other))
        output = output or other / "compare"
    write_report(report, output)
    print("\n".join(f"- {line}".replace("**", "") for line in report.summary))
    print(f"report: {output / 'report.html'} (report.md, tables/ and figures/ beside it)")


def _floats(text: str | None, option: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{option} expects numbers separated by commas, got {text!r}") from None


def cmd_report(args) -> None:
    _write_report(Path(args.results), Path(args.output) if args.output else None,
                  Path(args.other) if args.other else None,
                  _floats(args.rates, "--rates"), _floats(args.depths, "--depths"))


def cmd_reconstruct(args) -> None:
    import numpy as np
    import xarray as xr

    from reconbench.benchmark.cells import check_reconstruction
    from reconbench.benchmark.store import atomic_write
    from reconbench.datasets.netcdf import read_observations, write_field
    from reconbench.methods.registry import make_method

    method = make_method(args.method, **_key_values(args.param, "--param"))
    if (args.obs is None) == (not args.points):
        raise InputError("reconstruct needs either an observations NetCDF file (OBS) or point "
                         "files (--points), not both")
    train, grid = _training(args)
    if args.points:
        from reconbench.datasets.points import read_observations as read_points
        from reconbench.datasets.superobs import superobs

        table = read_points(args.points)
        gridded = superobs(table, grid)
        print(f"guidance: {gridded.report()}")
        obs = gridded.field().rename(args.variable).assign_attrs(  # the training's CF name
            standard_name=train.attrs["standard_name"])
        file_dims = obs.dims
    else:
        obs, file_dims = read_observations(args.obs, args.variable, args.units, grid)
    if args.uncertainty and method.uncertainty is None:
        raise InputError(f"--uncertainty: method {args.method!r} states no uncertainty (only "
                         f"methods with a variance or an ensemble do)")
    method.fit(train, grid)
    distribution = (method.reconstruct_distribution(obs) if args.uncertainty
                    else xr.Dataset({"mean": method.reconstruct(obs)}))
    recon = distribution["mean"]
    check_reconstruction(recon, obs, grid, args.method)
    recon = recon.where(grid.ocean).rename(args.variable)
    recon.attrs.update(units="degC", standard_name=obs.attrs["standard_name"],
                       reconstruction_method=args.method,
                       reconstruction_params=str(method.get_params()))
    extra = {}
    if "variance" in distribution:
        extra[f"{args.variable}_variance"] = distribution["variance"].where(
            grid.ocean).assign_attrs(units="degC2", long_name="the method's variance")
    if "members" in distribution:
        members = distribution["members"].where(grid.ocean)
        extra[f"{args.variable}_members"] = members.assign_attrs(
            units="degC", long_name=f"{args.method} ensemble members")
        extra[f"{args.variable}_spread"] = members.std("member", ddof=1).assign_attrs(
            units="degC", long_name="ensemble spread (sd of members, ddof 1)")

    def as_file(field):
        """A field in the dims of the observations' file."""
        out = field.squeeze("depth", drop=True) if "depth" not in file_dims else field
        return out.transpose(..., *file_dims)

    def write(tmp):
        if not extra:
            return write_field(as_file(recon), tmp)
        ds = as_file(recon).to_dataset().assign({k: as_file(v) for k, v in extra.items()})
        ds.to_netcdf(tmp, encoding={v: {"dtype": "float32", "_FillValue": np.float32(np.nan)}
                                    for v in ds.data_vars})

    atomic_write(Path(args.output), write)
    print(f"reconstruction: {args.output}" + (f" (with {', '.join(extra)})" if extra else ""))


def _training(args):
    """The training field and its grid: a NetCDF file (--train) or a dataset's train split
    (--train-dataset with --dataset-param)."""
    if (args.train is None) == (args.train_dataset is None):
        raise InputError("reconstruct needs exactly one of --train (a NetCDF file) and "
                         "--train-dataset (a dataset name from 'reconbench list')")
    if args.train_dataset is not None:
        from reconbench.datasets.build import make_source

        source = make_source(args.train_dataset,
                             **_key_values(args.dataset_param, "--dataset-param"))
        return source.split("train"), source.grid
    from reconbench.datasets.checks import check_levels_have_ocean
    from reconbench.datasets.netcdf import read_training

    train, grid = read_training(args.train, args.variable, args.units)
    check_levels_have_ocean(grid.ocean, grid.depth, f"training file {args.train!r}")
    return train, grid


def cmd_train(args) -> None:
    from reconbench.datasets.build import make_source
    from reconbench.methods.reconmost.distributed import Ranks
    from reconbench.methods.reconmost.train import preset, train

    params = _key_values(args.dataset_param, "--dataset-param")
    config = preset(args.preset, batch_size=args.batch_size, lr=args.lr,
                    normalisation=args.normalisation,
                    conditioning=None if args.conditioning is None else args.conditioning == "on",
                    roll_lon=args.roll_lon or None,
                    attention_resolutions=() if args.attention == "middle" else None)
    meta = train(make_source(args.dataset, **params), config, args.output, steps=args.steps,
                 seed=args.seed, resume=args.resume, save_every=args.save_every,
                 device=args.device, progress=not args.no_progress,
                 dataset_spec={"name": args.dataset, "params": params}, init=args.init)
    training = meta["training"]
    if Ranks.from_env().is_main:  # under torchrun, once
        processes = f", {training['world_size']} processes" if training["world_size"] > 1 else ""
        print(f"prior: {args.output} ({training['steps']} steps, {training['seconds']:.0f} s on "
              f"{training['device']}{processes})")


def cmd_make_daily_sea(args) -> None:
    from reconbench.datasets.daily_sea import write_daily_sea

    path = write_daily_sea(args.output, n_days=args.days, resolution=args.resolution,
                           seed=args.seed)
    print(f"wrote {path}: daily synthetic regional SST, {args.days} days from 2000-01-01")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconbench",
        description="Benchmark of ocean temperature reconstruction from sparse observations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list datasets, methods, mask kinds and suites")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", help="print a dataset's grid, levels, time span, ocean "
                                        "fraction, or what point-observation files hold")
    p.add_argument("dataset", help="a dataset name from 'reconbench list', or observation files "
                                   "(Argo .nc, .csv, .parquet; a glob in quotes): profiles and "
                                   "points per month, depth range, platforms, what QC dropped")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a dataset parameter, e.g. resolution=4 (repeatable)")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("cache", help="regrid a dataset's splits once into a chunked Zarr "
                                     "cache that suites, describe and train then read lazily")
    p.add_argument("dataset", help="a dataset name from 'reconbench list'")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a dataset parameter, e.g. resolution=1 (repeatable)")
    p.add_argument("--scheduler", default="serial", metavar="SCHEDULER",
                   help="where the blocks of months are written: 'serial' (default), "
                        "'local:N' or 'tcp://HOST:PORT'; see docs/scaleout.md")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("run", help="run a benchmark suite into a results folder")
    p.add_argument("suite", help="a shipped suite name (see 'reconbench list') or a .toml file")
    p.add_argument("--results", help="results folder (default: results/SUITE_NAME)")
    p.add_argument("--report", action="store_true",
                   help="write the report into RESULTS/report/ when done")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="list the cells and how many the results folder already holds; run none")
    p.add_argument("--scheduler", default="serial", metavar="SCHEDULER",
                   help="where cells run: 'serial' (default, in this process), 'local:N' (a "
                        "local Dask cluster of N worker processes) or 'tcp://HOST:PORT' (a "
                        "running Dask scheduler); see docs/scaleout.md")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="choose each method's parameters on the validation split "
                                    "and write them back as a suite file")
    p.add_argument("suite", help="a shipped suite name or a .toml file")
    p.add_argument("--results", help="tuning store (default: results/SUITE_NAME-tune)")
    p.add_argument("-o", "--output", help="tuned suite file to write (default: "
                                          "RESULTS/SUITE_NAME-tuned.toml)")
    p.add_argument("--methods", metavar="LABEL,LABEL", help="tune only these methods "
                                                           "(default: all)")
    p.add_argument("--trials", type=int, help="trials per method at most (overrides [tune])")
    p.add_argument("--seconds", type=float, help="seconds per method at most (overrides [tune])")
    p.add_argument("--strategy", choices=["auto", "grid", "random"],
                   help="search order (overrides [tune])")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", default="serial", metavar="SCHEDULER",
                   help="where trial cells run: 'serial', 'local:N' or 'tcp://HOST:PORT'")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("report", help="write the tables, figures and HTML report of a results "
                                      "folder, or compare two")
    p.add_argument("results", help="a results folder written by 'reconbench run'")
    p.add_argument("other", nargs="?",
                   help="a second results folder: compare RESULTS (A, before) with it (B, after)")
    p.add_argument("-o", "--output", help="output folder (default: RESULTS/report, or "
                                          "OTHER/compare when comparing)")
    p.add_argument("--rates", metavar="R,R", help="missing rates of the per-depth tables and "
                                                   "profiles (default: lowest, 0.925, highest)")
    p.add_argument("--depths", metavar="M,M", help="depths (m) of the maps; the nearest levels "
                                                    "are drawn (default: shallowest, 500)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reconstruct",
                       help="apply a method to a NetCDF file of observations")
    p.add_argument("obs", nargs="?",
                   help="NetCDF with the observations: values at the guidance points, "
                        "NaN elsewhere; dims (time, depth, lat, lon) or (time, lat, lon), "
                        "found by CF attributes; the output has the same dims")
    p.add_argument("--points", action="append", metavar="FILE",
                   help="point observations as guidance instead of OBS: Argo profile files or "
                        "CSV/Parquet tables (repeatable, globs allowed); gridded as "
                        "super-observations per cell, level and month on the training grid")
    p.add_argument("--train",
                   help="NetCDF of complete training fields (NaN off the ocean); the method "
                        "is fitted on it and it defines the target grid and ocean mask")
    p.add_argument("--train-dataset", metavar="NAME",
                   help="instead of --train: a dataset (see 'reconbench list') whose train split "
                        "the method is fitted on and whose grid is the target grid")
    p.add_argument("--dataset-param", action="append", metavar="KEY=VALUE",
                   help="a parameter of --train-dataset, e.g. paths=ocean_atlas_subset.nc")
    p.add_argument("-m", "--method", required=True, help="a method name from 'reconbench list'")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a method parameter (repeatable)")
    p.add_argument("--variable", default="thetao",
                   help="variable name (or CF standard_name) in both files (default: thetao)")
    p.add_argument("--units",
                   help="read both files in these temperature units instead of the files' own "
                        "(e.g. K, degC, degrees_C; default: each file's units attribute)")
    p.add_argument("-o", "--output", required=True, help="NetCDF file to write")
    p.add_argument("--uncertainty", action="store_true",
                   help="also write the method's uncertainty: VARIABLE_variance (°C²) or "
                        "VARIABLE_members and VARIABLE_spread (°C)")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("make-daily-sea", help="write the synthetic daily regional SST file of "
                                              "the daily-sea suite (docs/tuning.md)")
    p.add_argument("output", nargs="?", default="daily_sea.nc", help="NetCDF file to write")
    p.add_argument("--days", type=int, default=1461, help="days from 2000-01-01 (default 4 "
                                                          "years: train 2000-01, val 02, test 03)")
    p.add_argument("--resolution", type=float, default=0.25, help="grid spacing in degrees")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_daily_sea)

    p = sub.add_parser("train", help="train the ReconMOST diffusion prior on a dataset (on N "
                                     "CPUs or GPUs: torchrun --nproc_per_node N -m reconbench "
                                     "train ...)")
    p.add_argument("--preset", default="default", help="'default' (CPU-sized) or 'paper'")
    p.add_argument("--dataset", default="synthetic", help="a dataset name from 'reconbench list'")
    p.add_argument("--dataset-param", action="append", metavar="KEY=VALUE",
                   help="a dataset parameter, e.g. resolution=4 (repeatable)")
    p.add_argument("--steps", type=int, required=True, help="optimiser steps in all")
    p.add_argument("--seed", type=int, default=0, help="seed of batches, timesteps and noise")
    p.add_argument("-o", "--output", required=True, help="prior file to write (.pt)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT's .train-state.pt file")
    p.add_argument("--save-every", type=int, default=500,
                   help="steps between checkpoints of the training state (OUTPUT.train-state.pt); "
                        "the prior appears under OUTPUT, whole, when training ends")
    p.add_argument("--batch-size", type=int,
                   help="override the preset's batch size (the global batch: under torchrun "
                        "each of N processes computes BATCH_SIZE / N samples of it)")
    p.add_argument("--lr", type=float, help="override the preset's learning rate")
    p.add_argument("--normalisation", choices=["paper", "anomaly", "anomaly_std"],
                   help="override the preset's normalisation (anomaly_std: monthly anomalies "
                        "over a per-cell standard deviation)")
    p.add_argument("--attention", choices=["preset", "middle"], default="preset",
                   help="'middle': self-attention only in the middle block (the default preset "
                        "also attends at 1/4 resolution; 'middle' costs about 45 %% less per "
                        "step at 2 degrees)")
    p.add_argument("--roll-lon", action="store_true",
                   help="augment: roll every batch by a random whole number of cells in "
                        "longitude (global periodic grids only)")
    p.add_argument("--init", metavar="PRIOR",
                   help="start from this prior's weights (fine tuning after pre-training; same "
                        "network, levels and normalisation, any grid of the same size)")
    p.add_argument("--conditioning", choices=["on", "off"],
                   help="override the preset's land-mask and climatology input channels")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA if available), cpu or cuda (under torchrun, process r of a "
                        "machine uses cuda:r)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source line)."""
    print(f"reconbench: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reconbench`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        args.func(args)
    except ReconbenchError as exc:
        if os.environ.get("RECONBENCH_TRACEBACK"):  # for debugging a method: the full story
            traceback.print_exception(exc, file=sys.stderr)
        message = " ".join(str(exc).split())  # always one line
        print(f"reconbench: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reconbench: interrupted; finished cells are kept and a re-run resumes",
              file=sys.stderr)
        return 130
    return 0
