"""Time axes described in their own resolution: monthly, daily, hourly, yearly.

A dataset's time stamps are (n,) ``datetime64[ns]``; :func:`time_resolution`
names their step from the median spacing, and :func:`describe_times` writes
"10 days, 2000-01-01 .. 2000-01-10" or "600 months, 1950-01 .. 1999-12", so
that messages and ``reconbench describe`` never call ten days "10 months".
"""

from __future__ import annotations

import numpy as np

#: (plural name, shortest and longest median step in days, stamp format length)
RESOLUTIONS = (
    ("years", 360.0, 370.0, 4),
    ("months", 27.0, 32.0, 7),
    ("days", 0.99, 1.01, 10),
    ("hours", 1 / 24 - 1e-6, 1 / 24 + 1e-6, 16),
)


def time_resolution(times: np.ndarray) -> str:
    """The plural name of the time step of ``times`` (n,) datetime64: ``"months"``,
    ``"days"``, ``"hours"``, ``"years"``, or ``"time steps"`` for any other or a
    single stamp."""
    times = np.sort(np.asarray(times, dtype="datetime64[ns]"))
    if times.size < 2:
        return "time steps"
    step = float(np.median(np.diff(times).astype("timedelta64[s]").astype(float))) / 86400.0
    for name, low, high, _ in RESOLUTIONS:
        if low <= step <= high:
            return name
    return "time steps"


def format_stamp(stamp, resolution: str) -> str:
    """One stamp written to the precision of ``resolution`` (2000-03 for months)."""
    width = {name: width for name, *_, width in RESOLUTIONS}.get(resolution, 16)
    text = str(np.datetime64(stamp, "m")).replace("T", " ")
    return text[:width] if resolution != "time steps" else text[:16].removesuffix(" 00:00")


def describe_times(times: np.ndarray) -> str:
    """``"N <resolution>, FIRST .. LAST"``, or ``"no time step"``, for (n,) datetime64."""
    times = np.sort(np.asarray(times, dtype="datetime64[ns]"))
    if times.size == 0:
        return "no time step"
    resolution = time_resolution(times)
    if times.size == 1:
        return f"1 time step, {format_stamp(times[0], 'days')}"
    return (f"{times.size} {resolution}, {format_stamp(times[0], resolution)} .. "
            f"{format_stamp(times[-1], resolution)}")
