#!/usr/bin/env bash
# The paper-shaped stand-in of docs/scaleout.md: the synthetic ocean at 1° with the 42
# EN4 levels and 12 Y months for each Y given (e.g. 8 25 100: 96, 300 and 1,200 months):
# cache it, score a suite (climatology and oi, 2 months, 92.5 % missing) from the cache,
# and train the default network (attention in the middle block) from it. Each phase is
# measured by docs/peak_memory.py. Run from an empty folder; set RECONBENCH_CACHE to a
# disk with room (the 1,200-month cache is 6.6 GB, the generated series beside it 13 GB).
#   OMP_NUM_THREADS=1 bash docs/scale_runs.sh 8 25 100
# TRAIN_STEPS (default 20) and BATCH (default 2) set the training run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
D=$(python -c "from reconbench.datasets.grid import EN4_DEPTHS as d; print('[' + ','.join(f'{x:g}' for x in d) + ']')")
for Y in "$@"; do
  P=(resolution=1 "depths=$D" "train_years=$((Y - 2))" val_years=1 test_years=1)
  cat > "suite-$Y.toml" <<TOML
name = "scale-$Y"
description = "synthetic 1°, 42 levels, $((12 * Y)) months, from the regridded cache"
split = "test"
samples = 2
seeds = [0]
missing_rates = [0.925]
mask_kinds = ["random"]

[[datasets]]
name = "synthetic"
label = "synthetic-1deg-42lev-$((12 * Y))m"
resolution = 1.0
depths = $D
train_years = $((Y - 2))
val_years = 1
test_years = 1

[[methods]]
name = "climatology"

[[methods]]
name = "oi"
TOML
  echo "== $((12 * Y)) months: cache"
  python "$here/peak_memory.py" reconbench cache synthetic "${P[@]/#/--param=}" --no-progress
  echo "== $((12 * Y)) months: run"
  python "$here/peak_memory.py" reconbench run "suite-$Y.toml" --results "results-$Y" --no-progress
  echo "== $((12 * Y)) months: train"
  python "$here/peak_memory.py" reconbench train --preset default --attention middle \
    --batch-size "${BATCH:-2}" --dataset synthetic "${P[@]/#/--dataset-param=}" \
    --steps "${TRAIN_STEPS:-20}" --seed 0 --output "prior-$Y.pt" --no-progress
done
