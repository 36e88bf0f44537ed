"""EN4.2.2 objective analyses (Met Office Hadley Centre), e.g. ``EN.4.2.2.f.analysis.g10.*.nc``.

One file a month: ``temperature`` (time 1, depth 42, lat 173, lon 360) in
kelvin, ``depth`` in metres positive down (5-5350 m), 1° grid with latitudes
-83..89 °N and longitudes 1..360 °E. This is the generic CF source with EN4's
variable as default and the native grid kept (360 °E becomes 0 °E); kelvin
becomes °C through the file's ``units``.
"""

from __future__ import annotations

from reconbench.datasets.cf import CFSource
from reconbench.datasets.source import register_source


@register_source("en4")
class EN4Source(CFSource):
    """EN4.2.2 analyses: the ``netcdf`` source with ``variable = "temperature"``.

    Parameters are those of :class:`~reconbench.datasets.cf.CFSource`; ``grid``
    defaults to ``"native"`` (EN4's own 1° grid, 42 levels).
    """

    def __init__(self, paths, variable: str = "temperature", units: str | None = None,
                 grid="native", depths=None, min_ocean_fraction: float = 0.5,
                 train_years=None, val_years=None, test_years=None,
                 train_months=None, val_months=None, test_months=None):
        super().__init__(paths, variable=variable, units=units, grid=grid, depths=depths,
                         min_ocean_fraction=min_ocean_fraction, train_years=train_years,
                         val_years=val_years, test_years=test_years, train_months=train_months,
                         val_months=val_months, test_months=test_months)
