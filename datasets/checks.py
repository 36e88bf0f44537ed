"""Checks and plausible ranges of temperatures read from a user's file, shared by every reader.

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

#: A value read as °C inside this range looks like kelvin.
KELVIN_LOOKING = (150.0, 350.0)


def check_levels_have_ocean(ocean: np.ndarray, depth: np.ndarray, what: str) -> None:
    """Check that each level of the (depth, lat, lon) ocean mask has an ocean cell."""
    dry = np.flatnonzero(~ocean.any(axis=(1, 2)))
    if dry.size:
        levels = ", ".join(f"{depth[k]:g} m" for k in dry)
        raise InputError(f"{what} has no ocean cell at level(s) {levels}; drop those levels "
                         f"from the file")
