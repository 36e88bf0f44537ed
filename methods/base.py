"""The interface every reconstruction method implements.

A method follows scikit-learn's conventions: parameters are keyword arguments of
``__init__`` stored under the same names (and recorded in the results), and the
work is done in :meth:`Method.fit` and :meth:`Method.reconstruct`::

    @register_method("climatology")
    class Climatology(Method):
        def fit(self, train, grid): ...
        def reconstruct(self, obs): ...

The runner hands a method only what an observer would have: ``obs`` holds the
field at the guidance points and NaN everywhere else; the truth and the
evaluation mask never leave the runner.
"""

from __future__ import annotations

import inspect

import numpy as np
import xarray as xr

from reconbench.datasets.grid import Grid
from reconbench.errors import InputError


class Method:
    """Base class of reconstruction methods.

    Subclasses implement :meth:`fit` and :meth:`reconstruct`; ``name`` is set by
    :func:`reconbench.methods.registry.register_method`.
    """

    name: str = ""

    #: What the method knows of its own error: None (a point estimate only),
    #: ``"variance"`` (a Gaussian error variance per cell, e.g. OI's analysis-error
    #: variance) or ``"ensemble"`` (equally likely members, e.g. ReconMOST's samples).
    uncertainty: str | None = None

    #: Whether :meth:`fit` learns from the train split. A method that needs none
    #: (``nearest``, ``linear``) runs on a dataset with no train split (a single
    #: snapshot); a suite giving a method that needs training such a dataset stops at
    #: load with one line.
    needs_training: bool = True

    #: The parameter values ``reconbench tune`` tries when a suite gives no
    #: ``[methods.search]`` table for the method: parameter name -> list of values
    #: (empty: nothing to tune). A suite's table replaces it.
    search_space: dict[str, list] = {}

    #: Parameters that :meth:`fit` does not read (only :meth:`reconstruct` does): a
    #: method fitted with one value of them is fitted for every value, so a run or a
    #: tuning fits it once per setting of its other parameters and sets these on a
    #: copy (see :meth:`reconbench.benchmark.cells.Workbench.fitted`).
    predict_params: tuple[str, ...] = ()

    def fit(self, train: xr.DataArray, grid: Grid) -> Method:
        """Learn from the fully known training fields.

        ``train`` is a DataArray (time, depth, lat, lon) in °C on ``grid``, NaN off
        the ocean. The base implementation only keeps the grid as ``self.grid_``.
        """
        self.grid_ = grid
        return self

    def reconstruct(self, obs: xr.DataArray) -> xr.DataArray:
        """Complete fields from observations.

        ``obs`` is a DataArray (time, depth, lat, lon) in °C on the fitted grid,
        finite at the guidance points and NaN elsewhere. Returns a DataArray of
        the same shape and coordinates, finite over every ocean cell.
        """
        raise NotImplementedError

    def reconstruct_distribution(self, obs: xr.DataArray) -> xr.Dataset:
        """The reconstruction with the method's own uncertainty.

        Returns a Dataset with ``mean`` (time, depth, lat, lon) in °C, the field
        :meth:`reconstruct` returns, and by :attr:`uncertainty`: ``variance``
        (time, depth, lat, lon) in °C² or ``members`` (member, time, depth, lat,
        lon) in °C. The base implementation, for methods without uncertainty,
        holds ``mean`` alone. Methods with uncertainty override it (and compute
        the uncertainty only here, so that :meth:`reconstruct` stays as cheap).
        """
        return xr.Dataset({"mean": self.reconstruct(obs)})

    def get_params(self) -> dict:
        """The constructor parameters and their current values."""
        sig = inspect.signature(type(self).__init__)
        return {p.name: getattr(self, p.name) for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}

    def fitted_params(self) -> dict:
        """Values learnt by :meth:`fit` worth recording in the results (JSON-able)."""
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def map_levels(obs: xr.DataArray, fill_level) -> xr.DataArray:
    """Apply a 2-D filler to every (time, depth) level of ``obs``.

    ``fill_level(values, k)`` receives one level, (lat, lon) float64 with NaN off
    the guidance points, and the level index ``k``; it returns the complete
    (lat, lon) level. Used by methods that treat levels and times independently.
    """
    values = obs.values.astype(np.float64)
    out = np.empty_like(values)
    for t in range(values.shape[0]):
        for k in range(values.shape[1]):
            if not np.isfinite(values[t, k]).any():
                raise InputError(f"observations have no observation at time index {t}, level "
                                 f"index {k}; this method needs at least one per level")
            out[t, k] = fill_level(values[t, k], k)
    return obs.copy(data=out.astype(np.float32))
