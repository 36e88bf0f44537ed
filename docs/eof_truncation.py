"""How much of DINEOF's error is EOF truncation? (docs/tuning.md)

Explained variance of the train EOFs (standardised anomalies, all levels) and the
MSE (°C²) of the best k-mode reconstruction of twelve stratified validation months
(their anomalies projected on the first k train EOFs).

    python docs/eof_truncation.py synthetic     # the 4° synthetic ocean
    python docs/eof_truncation.py cobe          # COBE-SST2 at 4° ($RECONBENCH_SHARED_DATA)
"""
import os
import sys
import time

import numpy as np

from reconbench.benchmark.samples import sample_indices
from reconbench.datasets.build import make_source
from reconbench.methods.climatology import Climatology

SHARED = os.environ.get("RECONBENCH_SHARED_DATA", "../shared/data")

which = sys.argv[1]
if which == "synthetic":
    source = make_source("synthetic", resolution=4.0)
else:
    source = make_source("netcdf", paths=f"{SHARED}/cobe_sst2/year*.nc", variable="sst",
                         grid=4.0, train_years=[1950, 1979], val_years=[1980, 1989],
                         test_years=[1990, 1999])
grid = source.grid
train = source.split("train")
clim = Climatology().fit(train, grid).climatology_
m = train["time"].dt.month.values
a = (train.values - clim[m - 1])[:, grid.ocean].T.astype(np.float64)  # (M, N)
level = np.nonzero(grid.ocean)[0]
sd = np.array([np.sqrt(np.mean(a[level == k] ** 2)) for k in range(grid.depth.size)])[level]
x = a / sd[:, None]
t = time.perf_counter()
u, s, vt = np.linalg.svd(x, full_matrices=False)
var = s ** 2 / np.sum(s ** 2)
cum = np.cumsum(var)
print(f"{which}: {x.shape[0]} ocean cells (all levels) x {x.shape[1]} train months; "
      f"svd {time.perf_counter() - t:.1f}s")
for k in (1, 2, 3, 5, 10, 20, 30, 60, 120):
    if k <= len(cum):
        print(f"  modes {k:4d}: explained {100*cum[k-1]:5.1f} % of train anomaly variance")
val = source.split("val")
idx = sample_indices(val["time"].values, 12)
truth = val.isel(time=idx)
vm = truth["time"].dt.month.values
b = (truth.values - clim[vm - 1])[:, grid.ocean].T.astype(np.float64) / sd[:, None]
print(f"  val (12 stratified months): climatology MSE {np.mean((b*sd[:,None])**2):.4f} degC2")
for k in (1, 3, 5, 10, 20, 30, 60, 120, 240):
    if k <= u.shape[1]:
        uk = u[:, :k]
        res = b - uk @ (uk.T @ b)
        mse = np.mean((res * sd[:, None]) ** 2)
        share = 100 * (1 - np.sum(res ** 2) / np.sum(b ** 2))
        print(f"  best {k:4d}-mode reconstruction: MSE {mse:.4f} degC2, {share:5.1f} % of val "
              f"anomaly variance")
