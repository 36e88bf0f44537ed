"""Building a dataset source from a suite's ``[[datasets]]`` table: the registered
source with its own parameters, wrapped in imposed cloud gaps when asked.

Kept apart from :mod:`reconbench.datasets.source` (the base class and registry) and
:mod:`reconbench.datasets.gaps` (the gap wrapper, a source itself), so that neither
imports the other's user.
"""

from __future__ import annotations

from reconbench.datasets.gaps import GAP_PARAMETERS, with_gaps
from reconbench.datasets.source import SOURCES, DatasetSource
from reconbench.datasets.zarr_cache import cached_or_source
from reconbench.errors import InputError


def check_source_params(name: str, params: dict) -> tuple[type, dict, dict]:
    """The class of source ``name``, its own parameters and the gap parameters.

    Besides its own (checked by name and type), every source takes the gap
    parameters ``gaps_*`` of :mod:`reconbench.datasets.gaps`.
    """
    own = {k: v for k, v in params.items() if k not in GAP_PARAMETERS}
    gaps = {k: v for k, v in params.items() if k in GAP_PARAMETERS}
    try:
        cls = SOURCES.check(name, own)
    except InputError as exc:
        raise InputError(f"{exc}; and for every dataset: {', '.join(GAP_PARAMETERS)}") from None
    return cls, own, gaps


def make_source(name: str, **params) -> DatasetSource:
    """Build the source ``name`` with keyword parameters, checking their names and types.

    With ``gaps_cover`` > 0 the source gets moving cloud-shaped gaps
    (:mod:`reconbench.datasets.gaps`) and is gappy. When the source's regridded cache
    (:mod:`reconbench.datasets.zarr_cache`) is complete, its splits are read lazily
    from it; a cache built from other inputs is an error.
    """
    return cached_or_source(make_uncached_source(name, **params))


def make_uncached_source(name: str, **params) -> DatasetSource:
    """:func:`make_source` without the regridded cache (what ``reconbench cache`` reads)."""
    cls, own, gaps = check_source_params(name, params)
    return with_gaps(cls(**own), gaps, f"dataset {name!r}")
