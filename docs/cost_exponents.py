"""Fit the cost exponents of docs/performance.md from saved runs of
tests/perf/test_perf_scaling.py (``--benchmark-json FILE``; one file or several).

For each method and factor (cells, levels, observations, months) the three cases
of that factor (the base case among them) give a least-squares slope of
log(time) against log(size), and the same for the memory growth where it is above
0.05 MiB. Prints a Markdown table::

    python docs/cost_exponents.py scaling.json [more.json ...]
"""

import json
import re
import sys

import numpy as np

FACTORS = ("cells", "levels", "observations", "months")


def cases(paths: list[str]) -> list[dict]:
    """One dict per benchmark: method, factor, sizes, seconds (the minimum), memory growth."""
    out = []
    benchmarks = [b for path in paths for b in json.load(open(path))["benchmarks"]]
    for bench in benchmarks:
        info = bench["extra_info"]
        match = re.search(r"\[(?:.*-)?(\w+)\]$", bench["name"])
        method = ("reconmost (one network call)" if "reconmost" in bench["name"]
                  else match.group(1))
        out.append(dict(info, method=method, seconds=bench["stats"]["min"]))
    return out


def slope(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2 or np.ptp(np.log(x[keep])) == 0:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def main(paths: list[str]) -> None:
    rows = cases(paths)
    print("| method | factor | sizes | seconds | time exponent | memory growth (MiB) "
          "| memory exponent |")
    print("|---|---|---|---|---|---|---|")
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        for factor in FACTORS:
            chosen = sorted((r for r in mine if r["factor"] in (factor, "base")),
                            key=lambda r: r.get(factor, 0))
            if len(chosen) < 2 or factor not in chosen[0]:
                continue
            sizes = [r[factor] for r in chosen]
            if len(set(sizes)) < 2:
                continue
            seconds = [r["seconds"] for r in chosen]
            memory = [r["memory_growth_mb"] for r in chosen]
            memory_slope = slope(sizes, memory) if min(memory) >= 0.05 else float("nan")
            print(f"| {method} | {factor} | {', '.join(map(str, sizes))} | "
                  f"{', '.join(f'{s:.3g}' for s in seconds)} | {slope(sizes, seconds):.2f} | "
                  f"{', '.join(f'{m:g}' for m in memory)} | "
                  + ("–" if np.isnan(memory_slope) else f"{memory_slope:.2f}") + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
