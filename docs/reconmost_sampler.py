"""Masked MSE, network calls and seconds per field of `reconmost` sampler settings.

The figures of the README's "ReconMOST at <= 100 network calls" and "guidance and
ensemble levers" tables. Every setting (a JSON dict of `reconmost` parameters) is
fitted and run on the same months and masks: the split's months chosen as a suite
with ``--samples`` picks them (``--months`` keeps some of those, by index), random
masks of seed 0 at ``--rate`` missing. It prints one JSON line per setting: the
masked MSE over the evaluation points (°C², area-weighted, mean over months) of the
members' mean and of their median, per month, the network calls per field (fields
passed through the network / months) and the wall and process CPU seconds per field.

    python docs/reconmost_sampler.py --res 4 --months 0,1,2 '{}' '{"steps": 1000}'
"""

import argparse
import json
import time

import numpy as np
import torch

from reconbench.benchmark.cells import observe
from reconbench.benchmark.metrics import score
from reconbench.benchmark.samples import sample_indices
from reconbench.datasets.build import make_source
from reconbench.datasets.masks import MaskSpec
from reconbench.methods import make_method


def evaluate(settings: list[dict], resolution: float, split: str, samples: int,
             months: list[int] | None, rate: float, method: str = "reconmost") -> None:
    source = make_source("synthetic", resolution=resolution)
    field = source.split(split)
    index = sample_indices(field["time"].values, samples)
    if months:
        index = index[months]
    truth = field.isel(time=index).load()
    grid = source.grid
    guidance = MaskSpec("random", rate, 0).build(grid, truth.sizes["time"])
    obs = observe(truth, guidance)
    n_months = truth.sizes["time"]
    for params in settings:
        m = make_method(method, **params).fit(source.split("train"), grid)
        fields = []
        m.model_.register_forward_pre_hook(
            lambda module, args, fields=fields: fields.append(args[0].shape[0]))
        cpu, wall = time.process_time(), time.perf_counter()
        ensemble = m.sample(obs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out = {"settings": params, "months": [str(t)[:7] for t in truth["time"].values]}
        for name, statistic in (("mean", np.mean), ("median", np.median)):
            rows = score(truth.values, statistic(ensemble, axis=0), guidance, grid.ocean,
                         grid.depth, grid.lat, rate)
            rows = rows[(rows.point_set == "evaluation") & (rows.metric == "mse")
                        & rows.depth.isna()].sort_values("sample")
            out[f"mse_{name}"] = round(float(rows.value.mean()), 6)
            out[f"per_month_{name}"] = [round(float(v), 6) for v in rows.value]
        out.update(calls_per_field=sum(fields) / n_months,
                   wall_s_per_field=round(wall / n_months, 3),
                   cpu_s_per_field=round(cpu / n_months, 3), threads=torch.get_num_threads())
        print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=float, default=4.0, help="grid spacing, degrees")
    parser.add_argument("--split", default="val")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--months", default=None, help="indices into the samples, e.g. 0,1")
    parser.add_argument("--rate", type=float, default=0.925, help="missing rate")
    parser.add_argument("--method", default="reconmost")
    parser.add_argument("settings", nargs="+", help="JSON dicts of method parameters")
    a = parser.parse_args()
    months = [int(k) for k in a.months.split(",")] if a.months else None
    evaluate([json.loads(s) for s in a.settings], a.res, a.split, a.samples, months, a.rate,
             a.method)


if __name__ == "__main__":
    main()
