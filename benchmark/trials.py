"""Tuning trials in worker processes that a seconds budget can stop mid-cell.

``reconbench tune`` runs a method's trials here unless it is given a remote
Dask scheduler. The trials are grouped by their *fit*: trials whose parameters
differ only in the method's ``predict_params`` (OI's neighbour count,
DINEOF's number of modes, ...) share one fit on the train split (see
:meth:`reconbench.benchmark.cells.Workbench.fitted`), so a group is one job.
Up to ``workers`` forked processes take the jobs in plan order (trial 0's
first); each starts from the parent's :class:`Workbench`, in which the
validation samples were loaded once for the whole tuning. A worker reports
each trial's start, each finished cell and each trial's end through a pipe; the
parent alone writes the store. At the budget's end the parent kills the
workers still running: a trial under way is recorded as ``stopped`` with the
seconds it ran, a trial not begun as ``not started``; neither has a score. A
cell's error stops the tuning with its one-line message, as in a run.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait

from reconbench.benchmark.cells import Cell, CellOutput, Workbench, compute_cell
from reconbench.errors import ReconbenchError
from reconbench.methods.registry import make_method


@dataclass
class TrialStatus:
    """How a trial ended: ``status`` is "finished", "stopped" (by the budget, while
    it ran) or "not started"; ``seconds`` its wall time in its worker (None if not
    started; for a trial whose cells were all in the store already, 0)."""

    status: str
    seconds: float | None


def fit_groups(trials: list) -> list[list[int]]:
    """The trial indices grouped by the parameters their fit reads (all but the
    method's ``predict_params``), groups and members in plan order."""
    groups: dict[str, list[int]] = {}
    for trial in trials:
        model = make_method(trial.method.name, **trial.method.params)
        params = model.get_params()
        fit = {k: v for k, v in params.items() if k not in type(model).predict_params}
        groups.setdefault(json.dumps(fit, sort_keys=True, default=str), []).append(trial.index)
    return list(groups.values())


def split_jobs(groups: list[list[int]], workers: int) -> list[list[int]]:
    """Groups split in halves (largest first) until there are ``workers`` jobs or every
    job is one trial: idle workers cost more than a second fit."""
    jobs = [list(g) for g in groups]
    while len(jobs) < workers and any(len(j) > 1 for j in jobs):
        big = max(range(len(jobs)), key=lambda i: len(jobs[i]))
        half = math.ceil(len(jobs[big]) / 2)
        jobs[big:big + 1] = [jobs[big][:half], jobs[big][half:]]
    return jobs


def _worker(conn, bench: Workbench) -> None:
    """A worker's loop: run each job sent (a list of (trial, cells)) and report."""
    while True:
        job = conn.recv()
        if job is None:
            return
        for index, cells in job:
            conn.send(("start", index, None))
            start = time.perf_counter()
            for cell in cells:
                try:
                    output = compute_cell(cell, bench)
                except ReconbenchError as exc:
                    conn.send(("error", index, str(exc)))
                    return
                conn.send(("cell", index, output))
            conn.send(("done", index, time.perf_counter() - start))
        conn.send(("idle", None, None))


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: object
    busy: bool = False


def run_trials(trials: list, cells: dict[int, list[Cell]], todo: set[str], bench: Workbench,
               workers: int, seconds: float | None,
               on_cell: Callable[[CellOutput], None]) -> dict[int, TrialStatus]:
    """Run the cells (those whose key is in ``todo``) of ``trials`` on ``workers`` forked
    processes within ``seconds`` (None: no limit); ``on_cell`` receives every finished
    cell's output. Returns each trial's :class:`TrialStatus`."""
    status = {t.index: TrialStatus("not started", None) for t in trials}
    pending = {i: [c for c in cells[i] if c.key in todo] for i in status}
    for index, left in pending.items():
        if not left:
            status[index] = TrialStatus("finished", 0.0)
    groups = [[i for i in g if pending[i]] for g in fit_groups(trials)]
    jobs = split_jobs([g for g in groups if g], workers)
    if not jobs:
        return status
    deadline = math.inf if seconds is None else time.perf_counter() + seconds
    context = multiprocessing.get_context("fork")  # workers inherit the loaded samples
    slots = []
    for _ in range(min(workers, len(jobs))):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, bench), daemon=True)
        process.start()
        child.close()
        slots.append(_Slot(process, parent))
    started: dict[int, float] = {}
    try:
        while jobs or any(s.busy for s in slots):
            for slot in slots:
                if not slot.busy and jobs:
                    slot.conn.send([(i, pending[i]) for i in jobs.pop(0)])
                    slot.busy = True
            busy = {s.conn: s for s in slots if s.busy}
            ready = wait(list(busy), timeout=max(0.0, deadline - time.perf_counter())
                         if math.isfinite(deadline) else None)
            if not ready:  # the budget is spent
                break
            for conn in ready:
                slot = busy[conn]
                try:
                    kind, index, value = conn.recv()
                except EOFError:
                    raise ReconbenchError(f"a tuning worker process died (exit code "
                                          f"{slot.process.exitcode}), out of memory perhaps; "
                                          f"finished trials are kept and the same command "
                                          f"resumes") from None
                if kind == "start":
                    started[index] = time.perf_counter()
                    status[index] = TrialStatus("stopped", None)
                elif kind == "cell":
                    on_cell(value)
                elif kind == "done":
                    status[index] = TrialStatus("finished", value)
                elif kind == "error":
                    raise ReconbenchError(value)
                else:  # idle
                    slot.busy = False
    finally:
        stop = time.perf_counter()
        for slot in slots:
            if slot.busy or not slot.process.is_alive():
                slot.process.kill()
            else:
                slot.conn.send(None)
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
    for index, since in started.items():
        if status[index].status == "stopped":
            status[index] = TrialStatus("stopped", stop - since)
    return status
