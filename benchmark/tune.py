"""Tuning: each method's parameters chosen on the validation split, by the same runner.

For every method of a suite, ``reconbench tune`` tries parameter settings
(*trials*) from a search space: the suite's ``[methods.search]`` table of the
method, else the method class's own :attr:`~reconbench.methods.base.Method.search_space`.
A trial is the method with the suite's parameters updated by the trial's, run
as ordinary runner cells on the **validation split** (never the test split),
with mask seeds of the tuning's own, in worker processes that the seconds
budget stops mid-cell (:mod:`reconbench.benchmark.trials`), or as cells on a
running Dask scheduler. Its score is the headline metric: the masked
MSE on evaluation points (°C², pooled over levels), averaged over the samples,
missing rates and seeds. Trial 0 is the suite's own setting, so a tuned
setting is never worse than the untuned one on validation.

The ``[tune]`` table of a suite (every key optional)::

    [tune]
    trials = 20                 # trials per method at most (trial 0 included)
    seconds = 600               # wall seconds per method at most (trials still running
                                # then are stopped, with no score)
    strategy = "auto"           # "grid": every combination in order; "random": a
                                # seeded random order of them; "auto": grid when
                                # every combination fits in the trials, else random
    seed = 0                    # seeds the random order
    seeds = [1000]              # mask seeds of the tuning (none of the suite's)
    samples = 4                 # validation months (stratified, as any suite's)
    missing_rates = [0.5, 0.9]  # default: the suite's

The tuning store (``results/SUITE-tune/`` by default) is a results store of
the trial cells (so an interrupted tuning resumes) and ``trials.csv`` /
``trials.parquet``: one row per trial with its parameters, validation score
and cost. The chosen parameters are written back as a suite file
(``SUITE-tuned.toml`` in the store) whose ``[tuned]`` table records how they
were chosen; ``reconbench run`` copies that table into the results' metadata.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w
from tqdm import tqdm

from reconbench.benchmark.ose import POINT_SET, check_tunable
from reconbench.benchmark.runner import (
    CellOutput,
    Workbench,
    cells_of,
    git_commit,
    run_metadata,
    scheduler_for,
)
from reconbench.benchmark.store import ResultsStore, atomic_write
from reconbench.benchmark.suite import Component, Suite
from reconbench.benchmark.trials import run_trials
from reconbench.errors import ConfigError
from reconbench.methods.registry import make_method, method_class
from reconbench.params import check_params

TUNE_KEYS = {"trials", "seconds", "strategy", "seed", "seeds", "samples", "missing_rates"}
STRATEGIES = ("auto", "grid", "random")
TUNING_SPLIT = "val"
#: The point sets a trial is scored on: a gridded suite's evaluation points, an OSE
#: suite's withheld observations.
SCORED_POINT_SETS = ("evaluation", POINT_SET)


@dataclass(frozen=True)
class TuneConfig:
    """How a suite is tuned (the ``[tune]`` table; see the module docstring)."""

    trials: int | None = 20
    seconds: float | None = None
    strategy: str = "auto"
    seed: int = 0
    seeds: tuple[int, ...] = (1000,)
    samples: int = 4
    missing_rates: tuple[float, ...] | None = None

    @classmethod
    def from_suite(cls, suite: Suite, **overrides) -> TuneConfig:
        """The suite's ``[tune]`` table, with ``overrides`` (not None) on top, checked."""
        table = dict(suite.tune)
        unknown = sorted(set(table) - TUNE_KEYS)
        if unknown:
            raise ConfigError(f"suite {suite.name!r}: unknown key(s) {', '.join(unknown)} in "
                              f"[tune]; expected: {', '.join(sorted(TUNE_KEYS))}")
        table.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("seeds", "missing_rates"):
            if key in table:
                table[key] = tuple(table[key])
        config = cls(**table)
        config.check(suite)
        return config

    def check(self, suite: Suite) -> None:
        """Raise :class:`ConfigError` naming the first bad value."""
        where = f"suite {suite.name!r} [tune]"
        if self.trials is None and self.seconds is None:
            raise ConfigError(f"{where}: a budget is needed: trials or seconds")
        if self.trials is not None and (not isinstance(self.trials, int) or self.trials < 1):
            raise ConfigError(f"{where}: trials must be a positive integer, got {self.trials!r}")
        if self.seconds is not None and not (isinstance(self.seconds, int | float)
                                             and self.seconds > 0):
            raise ConfigError(f"{where}: seconds must be a positive number, got "
                              f"{self.seconds!r}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"{where}: strategy must be one of {', '.join(STRATEGIES)}, got "
                              f"{self.strategy!r}")
        if not self.seeds or set(self.seeds) & set(suite.seeds):
            raise ConfigError(f"{where}: seeds must be mask seeds of the tuning's own, none of "
                              f"the suite's {list(suite.seeds)}; got {list(self.seeds)}")
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigError(f"{where}: samples must be a positive integer, got "
                              f"{self.samples!r}")


@dataclass(frozen=True)
class Trial:
    """One setting of a method: ``params`` are the searched parameters' values
    (empty for trial 0, the suite's own setting); ``method`` is the runnable
    component (the suite's parameters updated by ``params``)."""

    index: int
    params: dict
    method: Component


def search_space(suite: Suite, method: Component) -> dict[str, list]:
    """The values to try per parameter: the suite's ``[methods.search]`` table of
    ``method``, else the method class's ``search_space``; names are checked."""
    space = suite.search.get(method.label)
    if space is None:
        space = dict(getattr(method_class(method.name), "search_space", {}))
    what = f"method {method.label!r} ([methods.search] of suite {suite.name!r})"
    for name, values in space.items():
        for value in values:  # each value tried is checked like a suite's parameter
            check_params(method_class(method.name), {name: value}, what)
    return space


def plan_trials(method: Component, space: dict[str, list], config: TuneConfig) -> list[Trial]:
    """Trial 0 (the suite's setting), then the combinations of ``space`` in the order
    of the strategy; as many as ``config.trials`` allows (all, under a seconds budget
    alone). The combination equal to the suite's own setting (its parameters and
    the method's defaults) is trial 0 already and is left out."""
    names = sorted(space)
    combos = [dict(zip(names, values, strict=True))
              for values in itertools.product(*(space[n] for n in names))]
    current = make_method(method.name, **method.params).get_params()
    combos = [c for c in combos if any(current[k] != v for k, v in c.items())]
    room = len(combos) if config.trials is None else config.trials - 1
    random = config.strategy == "random" or (config.strategy == "auto" and room < len(combos))
    if random:
        order = np.random.default_rng(config.seed).permutation(len(combos))
        combos = [combos[i] for i in order]
    trials = [{}] + combos[:room]
    return [Trial(i, params, replace(method, params={**method.params, **params}))
            for i, params in enumerate(trials)]


def tuning_suite(suite: Suite, config: TuneConfig, methods: tuple[Component, ...]) -> Suite:
    """The suite whose cells are the trials: validation split, the tuning's seeds."""
    return replace(suite, name=f"{suite.name}-tune", split=TUNING_SPLIT, samples=config.samples,
                   seeds=config.seeds, missing_rates=config.missing_rates or suite.missing_rates,
                   methods=methods)


def trial_score(rows: pd.DataFrame) -> dict:
    """Validation score and cost of a trial from its cells' rows.

    ``val_mse``: mean over samples, missing rates and seeds of the masked MSE on
    evaluation points (in an OSE suite, the MSE at the withheld observations)
    pooled over levels (°C²); ``fit_seconds`` (the largest of
    its cells'), ``seconds_per_field`` (mean) and ``peak_rss_mb`` (largest).
    """
    headline = rows[(rows.metric == "mse") & rows.point_set.isin(SCORED_POINT_SETS)
                    & rows.depth.isna()]
    cost = rows[rows.point_set == "cost"].groupby("metric").value
    return {"val_mse": float(headline.value.mean()),
            "fit_seconds": float(cost.max()["fit_seconds"]),
            "seconds_per_field": float(cost.mean()["seconds_per_field"]),
            "peak_rss_mb": float(cost.max()["peak_rss_mb"])}


@dataclass
class MethodTuning:
    """The outcome for one method: every trial's row and the chosen trial."""

    label: str
    trials: pd.DataFrame
    chosen: dict
    seconds: float


def tune_suite(suite: Suite, results: str | Path, config: TuneConfig,
               only: list[str] | None = None, scheduler: str | None = None,
               progress: bool = True) -> list[MethodTuning]:
    """Tune the methods of ``suite`` (those labelled in ``only``, default all) into the
    tuning store ``results``; returns one :class:`MethodTuning` per tuned method."""
    labels = [m.label for m in suite.methods]
    unknown = sorted(set(only or ()) - set(labels))
    if unknown:
        raise ConfigError(f"suite {suite.name!r} has no method labelled "
                          f"{', '.join(unknown)}; its methods: {', '.join(labels)}")
    if suite.observations:
        check_tunable(suite.observations, f"suite {suite.name!r}")
    chosen = [m for m in suite.methods if not only or m.label in only]
    spaces = {m.label: search_space(suite, m) for m in chosen}
    plans = {m.label: plan_trials(m, spaces[m.label], config) for m in chosen}
    for plan in plans.values():  # unknown parameter values fail here, before any work
        for trial in plan:
            make_method(trial.method.name, **trial.method.params)
    bench = Workbench()
    workers = trial_workers(scheduler)
    run_cells = None if workers else scheduler_for(scheduler, bench)
    grids = {d.label: bench.source(d).grid for d in suite.datasets}
    for dataset in [] if suite.observations else suite.datasets:
        bench.samples(tuning_suite(suite, config, ()), dataset)  # once; workers inherit them
    store = ResultsStore(results)
    outcomes = []
    with store.lock():
        store.remove_temporaries()
        every = tuning_suite(suite, config, tuple(t.method for p in plans.values() for t in p))
        metadata = run_metadata(every, store, grids)
        metadata["tune"] = {"config": _config_table(config), "search": spaces,
                            "suite": suite.name}
        store.write_metadata(metadata)
        for method in chosen:
            if len(plans[method.label]) == 1:
                tqdm.write(f"{method.label}: nothing to search (no search space)")
            outcomes.append(tune_method(suite, config, plans[method.label], store, run_cells,
                                        progress, bench, workers))
        if store.cells_dir.is_dir() and any(store.cells_dir.iterdir()):
            store.consolidate()
        table = pd.concat([o.trials for o in outcomes], ignore_index=True)
        atomic_write(store.root / "trials.parquet", lambda tmp: table.to_parquet(tmp))
        atomic_write(store.root / "trials.csv", lambda tmp: table.to_csv(tmp, index=False))
    return outcomes


def trial_workers(scheduler: str | None) -> int | None:
    """Trial worker processes for ``scheduler``: 1 for serial, N for "local:N"; None for a
    remote Dask scheduler (whose cells run to their end past the budget)."""
    if scheduler in (None, "serial"):
        return 1
    count = scheduler.removeprefix("local:")
    if scheduler.startswith("local:") and count.isdigit() and int(count) >= 1:
        return int(count)
    return None  # a Dask scheduler's address (or a bad value, which scheduler_for names)


def tune_method(suite: Suite, config: TuneConfig, plan: list[Trial], store: ResultsStore,
                run_cells, progress: bool, bench: Workbench | None = None,
                workers: int | None = 1) -> MethodTuning:
    """Run the trials of one method within the budget; score them; pick the best.

    With ``workers`` the trials run in that many stoppable processes
    (:mod:`reconbench.benchmark.trials`); else as cells on ``run_cells`` (Dask),
    the budget then checked as each cell ends."""
    val = tuning_suite(suite, config, tuple(t.method for t in plan))
    cells = {t.index: cells_of(replace(val, methods=(t.method,))) for t in plan}
    todo = [c for t in plan for c in cells[t.index] if not store.has_cell(c.key)]
    start = time.perf_counter()
    label = plan[0].method.label
    bar = tqdm(total=sum(map(len, cells.values())), initial=sum(map(len, cells.values()))
               - len(todo), disable=not progress, desc=f"tune {label}", unit="cell")

    def write(output: CellOutput) -> None:
        store.write_cell(output.key, output.rows)
        bar.update()

    statuses = {}
    try:
        if workers:
            statuses = run_trials(plan, cells, {c.key for c in todo}, bench or Workbench(),
                                  workers, config.seconds, write)
        else:
            outputs: Iterator[CellOutput] = run_cells(todo)
            try:
                for output in outputs:
                    write(output)
                    if (config.seconds is not None
                            and time.perf_counter() - start >= config.seconds):
                        break
            finally:
                outputs.close()
    finally:
        bar.close()
    rows = []
    for trial in plan:
        keys = [c.key for c in cells[trial.index]]
        record = {"method": label, "method_name": trial.method.name, "trial": trial.index,
                  "searched": json.dumps(trial.params, sort_keys=True, default=str),
                  "params": json.dumps(trial.method.params, sort_keys=True, default=str),
                  "cells": len(keys), "finished": all(map(store.has_cell, keys))}
        state = statuses.get(trial.index)
        record["status"] = (state.status if state else
                            "finished" if record["finished"] else "unfinished")
        record["seconds"] = state.seconds if state else None
        if record["finished"]:
            record.update(trial_score(pd.concat(
                [pd.read_parquet(store.cells_dir / f"{key}.parquet") for key in keys])))
        rows.append(record)
    trials = pd.DataFrame(rows)
    finished = trials[trials.finished]
    best = finished.loc[finished.val_mse.idxmin()] if len(finished) else None
    chosen = {} if best is None else plan[int(best.trial)].params
    return MethodTuning(label, trials, chosen, time.perf_counter() - start)


def _config_table(config: TuneConfig) -> dict:
    table = {"trials": config.trials, "seconds": config.seconds, "strategy": config.strategy,
             "seed": config.seed, "seeds": list(config.seeds), "samples": config.samples,
             "missing_rates": None if config.missing_rates is None else list(config.missing_rates)}
    return {k: v for k, v in table.items() if v is not None}


def tuned_suite_text(suite: Suite, outcomes: list[MethodTuning], config: TuneConfig,
                     store: Path) -> str:
    """The suite's TOML with the chosen parameters written in, renamed ``NAME-tuned``,
    and a ``[tuned]`` table recording how they were chosen."""
    raw = tomllib.loads(suite.source_text)
    raw["name"] = f"{suite.name}-tuned"
    by_label = {o.label: o for o in outcomes}
    methods_record = {}
    for table in raw["methods"]:
        label = str(table.get("label", table["name"]))
        if label not in by_label:
            continue
        outcome = by_label[label]
        for key, value in outcome.chosen.items():
            if value is None:
                _check_none_is_default(table["name"], key)
                table.pop(key, None)
            else:
                table[key] = value
        trials = outcome.trials
        finished = trials[trials.finished]
        record = {"trials": int(len(finished)), "seconds": round(outcome.seconds, 1),
                  "chosen": {k: ("default" if v is None else v)
                             for k, v in outcome.chosen.items()}}
        if len(finished):
            record["val_mse"] = float(finished.val_mse.min())
        baseline = finished[finished.trial == 0]
        if len(baseline):
            record["val_mse_untuned"] = float(baseline.val_mse.iloc[0])
        methods_record[label] = record
    raw["tuned"] = {"from_suite": suite.name, "split": TUNING_SPLIT, "store": str(store),
                    "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                    "git_commit": git_commit(), "score": "mean masked MSE on evaluation points "
                    "(degC2), over samples, missing rates and mask seeds",
                    "budget": _config_table(config), "methods": methods_record}
    header = (f"# Written by 'reconbench tune {suite.name}': the parameters of the methods\n"
              f"# listed in [tuned.methods] were chosen on the {TUNING_SPLIT} split.\n")
    return header + tomli_w.dumps(_drop_none(raw))


def _check_none_is_default(method_name: str, key: str) -> None:
    """A chosen None is written by leaving the parameter out: only if None is its default."""
    default = inspect.signature(method_class(method_name).__init__).parameters[key].default
    if default is not None:
        raise ConfigError(f"method {method_name!r}: the chosen {key} = None cannot be written "
                          f"to a suite file (TOML has no None) and is not the default")


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def settings_table(outcomes: list[MethodTuning]) -> str:
    """A Markdown table: per method, the chosen setting, its validation score, the
    untuned one's, the trials run and the seconds spent."""
    lines = ["| method | chosen (searched parameters) | val MSE | untuned val MSE | trials | s |",
             "|---|---|---:|---:|---:|---:|"]
    for o in outcomes:
        finished = o.trials[o.trials.finished]
        base = finished[finished.trial == 0].val_mse
        best = finished.val_mse.min() if len(finished) else float("nan")
        chosen = ", ".join(f"{k} = {v}" for k, v in sorted(o.chosen.items())) or "(as in suite)"
        lines.append(f"| {o.label} | {chosen} | {best:.4g} | "
                     f"{base.iloc[0] if len(base) else float('nan'):.4g} | {len(finished)} | "
                     f"{o.seconds:.0f} |")
    return "\n".join(lines)


def write_tuned_suite(path: Path, text: str) -> None:
    """Write the tuned suite file atomically."""
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))

