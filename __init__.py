"""reconbench: a benchmark suite for multi-layer ocean temperature reconstruction.

The code lives in four sub-packages that follow the data flow
datasets -> benchmark -> methods -> benchmark -> reports:

- :mod:`reconbench.datasets`: grids, dataset sources, observation masks;
- :mod:`reconbench.methods`: reconstruction methods and their registry;
- :mod:`reconbench.benchmark`: suites, runner, metrics, results store, CLI;
- :mod:`reconbench.reports`: tables (and figures) built from a results store.
"""

__version__ = "0.1.0"
