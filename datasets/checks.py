"""Checks of a temperature field read from a user's file, shared by every reader.

Each check raises :class:`~reconbench.errors.InputError` with a message that
names ``what`` (say ``"variable 'thetao' of 'obs.nc'"``) and says what was
expected, so the CLI can print it as one line. They work on plain arrays and
take no reader-specific arguments, so any loader (NetCDF, CF, Zarr) can call
them before building a field.
"""

from __future__ import annotations

import numpy as np

from reconbench.errors import InputError

#: Plausible sea-water temperatures in °C; values outside are an error.
CELSIUS_RANGE = (-10.0, 60.0)

#: Finite values all inside this range (in the units called °C) look like kelvin.
KELVIN_LOOKING = (150.0, 350.0)


def check_field_values(values: np.ndarray, what: str) -> None:
    """Check temperatures in °C: no infinities, values within :data:`CELSIUS_RANGE`.

    ``values`` is any array (NaN marks land or missing data and is ignored).
    Kelvin values declared as °C get their own message.
    """
    values = np.asarray(values)
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        raise InputError(f"{what} has {n_inf} infinite values (first at index "
                         f"{tuple(int(i) for i in np.argwhere(np.isinf(values))[0])}); expected "
                         f"finite temperatures, with NaN for land or missing data")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    if KELVIN_LOOKING[0] <= low and high <= KELVIN_LOOKING[1]:
        raise InputError(f"{what} is declared in degrees Celsius but its values "
                         f"({low:.1f} .. {high:.1f}) look like kelvin; convert them "
                         f"(°C = K - 273.15) or set the units attribute to 'K'")
    if low < CELSIUS_RANGE[0] or high > CELSIUS_RANGE[1]:
        raise InputError(f"{what} has values from {low:g} to {high:g} °C; sea-water "
                         f"temperatures lie within {CELSIUS_RANGE[0]:g} .. "
                         f"{CELSIUS_RANGE[1]:g} °C (wrong units or fill values?)")


def check_complete_over_time(values: np.ndarray, what: str) -> None:
    """Check that each cell of ``values`` (time, ...) is NaN at every time or at none.

    A complete field (training data, truth) has NaN only off the ocean, and the
    ocean does not change with time; a cell NaN at some times only is a gap
    inside the ocean.
    """
    nan = np.isnan(values)
    gaps = nan.any(axis=0) & ~nan.all(axis=0)
    if gaps.any():
        first = tuple(int(i) for i in np.argwhere(gaps)[0])
        raise InputError(f"{what} has NaN inside the ocean: {int(gaps.sum())} cells are NaN at "
                         f"some times and finite at others (first at cell index {first}); "
                         f"expected complete fields, NaN only over land and below the sea floor")


def check_axis(values: np.ndarray, name: str, what: str) -> None:
    """Check that coordinate ``name`` is strictly ascending (no repeats, no disorder)."""
    values = np.asarray(values)
    if values.size < 2:
        return
    steps = np.diff(values)
    if (steps > np.zeros_like(steps)).all():
        return
    repeated = values[1:][steps == np.zeros_like(steps)]
    problem = (f"repeats {repeated[0]}" if repeated.size else
               "is not ascending" + (" (it descends)" if (steps < np.zeros_like(steps)).all()
                                     else ""))
    raise InputError(f"the {name} coordinate of {what} {problem}; expected strictly ascending "
                     f"{name} values")


def check_levels_have_ocean(ocean: np.ndarray, depth: np.ndarray, what: str) -> None:
    """Check that each level of the (depth, lat, lon) ocean mask has an ocean cell."""
    dry = np.flatnonzero(~ocean.any(axis=(1, 2)))
    if dry.size:
        levels = ", ".join(f"{depth[k]:g} m" for k in dry)
        raise InputError(f"{what} has no ocean cell at level(s) {levels}; drop those levels "
                         f"from the file")
