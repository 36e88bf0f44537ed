"""The ``reconbench`` command line: list, describe, run, report, reconstruct, train.

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


def cmd_describe(args) -> None:
    from reconbench.datasets.source import make_source

    source = make_source(args.dataset, **_key_values(args.param, "--param"))
    grid = source.grid
    print(f"dataset {args.dataset}: {grid!r}")
    print(f"  parameters: {source.get_params()}")
    print(f"  lat {grid.lat[0]:g} .. {grid.lat[-1]:g} °N, lon {grid.lon[0]:g} .. "
          f"{grid.lon[-1]:g} °E")
    for split in ("train", "val", "test"):
        times = source.split_times(split)
        span = f"{str(times[0])[:7]} .. {str(times[-1])[:7]}" if times.size else "(empty)"
        print(f"  {split:<5}: {times.size} months, {span}")
    source_units = getattr(source, "source_units", "degC")
    print(f"  units: degC (source: {source_units})")
    print("  level (m)   ocean fraction")
    for depth, fraction in zip(grid.depth, grid.ocean_fraction, strict=True):
        print(f"  {depth:9.1f}   {fraction:.3f}")


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
    from reconbench.benchmark.cells import check_reconstruction
    from reconbench.benchmark.store import atomic_write
    from reconbench.datasets.checks import check_complete_over_time, check_levels_have_ocean
    from reconbench.datasets.netcdf import grid_of, read_field, write_field
    from reconbench.methods.registry import make_method

    method = make_method(args.method, **_key_values(args.param, "--param"))
    train = read_field(args.train, args.variable)
    what = f"training file {args.train!r}"
    check_complete_over_time(train.values, what)
    grid = grid_of(train, name=Path(args.train).stem)
    check_levels_have_ocean(grid.ocean, grid.depth, what)
    obs = read_field(args.obs, args.variable)
    if obs.shape[1:] != grid.shape:
        raise InputError(f"observations {args.obs!r} have shape {obs.shape[1:]} per time step but "
                         f"the training file {args.train!r} has {grid.shape}")
    obs = obs.where(grid.ocean)
    method.fit(train, grid)
    recon = method.reconstruct(obs)
    check_reconstruction(recon, obs, grid, args.method)
    recon = recon.where(grid.ocean).rename(args.variable)
    recon.attrs.update(units="degC", reconstruction_method=args.method,
                       reconstruction_params=str(method.get_params()))
    atomic_write(Path(args.output), lambda tmp: write_field(recon, tmp))
    print(f"reconstruction: {args.output}")


def cmd_train(args) -> None:
    from reconbench.datasets.source import make_source
    from reconbench.methods.reconmost.distributed import Ranks
    from reconbench.methods.reconmost.train import preset, train

    params = _key_values(args.dataset_param, "--dataset-param")
    config = preset(args.preset, batch_size=args.batch_size, lr=args.lr,
                    normalisation=args.normalisation,
                    conditioning=None if args.conditioning is None else args.conditioning == "on")
    meta = train(make_source(args.dataset, **params), config, args.output, steps=args.steps,
                 seed=args.seed, resume=args.resume, save_every=args.save_every,
                 device=args.device, progress=not args.no_progress,
                 dataset_spec={"name": args.dataset, "params": params})
    training = meta["training"]
    if Ranks.from_env().is_main:  # under torchrun, once
        processes = f", {training['world_size']} processes" if training["world_size"] > 1 else ""
        print(f"prior: {args.output} ({training['steps']} steps, {training['seconds']:.0f} s on "
              f"{training['device']}{processes})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconbench",
        description="Benchmark of ocean temperature reconstruction from sparse observations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list datasets, methods, mask kinds and suites")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", help="print a dataset's grid, levels, time span, ocean fraction")
    p.add_argument("dataset", help="a dataset name from 'reconbench list'")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a dataset parameter, e.g. resolution=4 (repeatable)")
    p.set_defaults(func=cmd_describe)

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
    p.add_argument("obs", help="NetCDF with the observations: values at the guidance points, "
                               "NaN elsewhere; dims (time, depth, lat, lon) or (time, lat, lon)")
    p.add_argument("--train", required=True,
                   help="NetCDF of complete training fields on the same grid (NaN off the "
                        "ocean); the method is fitted on it and it defines the ocean mask")
    p.add_argument("-m", "--method", required=True, help="a method name from 'reconbench list'")
    p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a method parameter (repeatable)")
    p.add_argument("--variable", default="thetao", help="variable name in both files")
    p.add_argument("-o", "--output", required=True, help="NetCDF file to write")
    p.set_defaults(func=cmd_reconstruct)

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
    p.add_argument("--normalisation", choices=["paper", "anomaly"],
                   help="override the preset's normalisation")
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
