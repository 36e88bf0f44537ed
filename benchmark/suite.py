"""Suites: what a benchmark run covers, read from a TOML file.

A suite file looks like this (every key but ``datasets`` and ``methods`` has a
default)::

    name = "quick"
    description = "..."
    split = "test"                 # the split the samples come from
    samples = 4                    # months per cell, evenly spaced over the split
    seeds = [0]                    # mask seeds
    missing_rates = [0.5, 0.925]   # fractions of ocean cells hidden, in [0, 1)
    mask_kinds = ["random"]

    [mask_params.positions]        # optional: parameters of a mask kind
    index = "argo_index_sample.txt"

    [[datasets]]
    name = "synthetic"             # a registered dataset source
    resolution = 4.0               # ... and its parameters

    [[methods]]
    name = "linear"                # a registered method
    label = "linear"               # optional: the name in tables (default: name)
    datasets = ["synthetic"]       # optional: only on these dataset labels (default: all)
    wrap_degrees = 60              # ... and its parameters

    [methods.search]               # optional: values 'reconbench tune' tries (a list each)
    wrap_degrees = [30, 60, 90]

    [tune]                         # optional: how 'reconbench tune' searches (benchmark/tune.py)
    trials = 20

    [spectral]                     # optional: regional boxes also scored spectrally
    boxes = [{name = "north-atlantic", lon = [-60, -10], lat = [30, 60]}]

A suite written by ``reconbench tune`` also holds a ``[tuned]`` table: where
and how its parameters were chosen, recorded in the results' metadata.

An ``[observations]`` table (Argo files or CSV/Parquet tables of points) makes
the suite an observing-system experiment scored at withheld real observations:
``mask_kinds`` are then withholding modes (platform, profile, point) and
``missing_rates`` the fractions withheld; see :mod:`reconbench.benchmark.ose`.
An ``[observations.guidance]`` table adds a gridded field's observed cells as
guidance (:mod:`reconbench.benchmark.gridded_guidance`).

Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from reconbench.benchmark import ose
from reconbench.benchmark.spectral import SpectralBox, parse_boxes
from reconbench.datasets.build import check_source_params
from reconbench.datasets.masks import MASK_KINDS, check_missing_rate, mask_kind_names
from reconbench.datasets.source import SPLITS
from reconbench.errors import ConfigError, InputError
from reconbench.methods.registry import METHODS
from reconbench.params import did_you_mean

SUITE_KEYS = {"name", "description", "split", "samples", "seeds", "missing_rates",
              "mask_kinds", "mask_params", "datasets", "methods", "observations", "tune",
              "tuned", "spectral"}
#: Suite keys that do not change a run's results (left out of the config hash).
TUNING_KEYS = ("search", "tune", "tuned")


@dataclass(frozen=True)
class Component:
    """A dataset or method: its registered name, a label and its parameters.

    ``datasets`` (methods only) restricts a method to the datasets with these
    labels, e.g. a ReconMOST prior that exists for one grid; None: all.
    """

    name: str
    label: str
    params: dict = field(default_factory=dict)
    datasets: tuple[str, ...] | None = None

    def runs_on(self, dataset: Component) -> bool:
        """Whether this method component is to run on ``dataset``."""
        return self.datasets is None or dataset.label in self.datasets


@dataclass(frozen=True)
class Suite:
    """A parsed, validated suite."""

    name: str
    datasets: tuple[Component, ...]
    methods: tuple[Component, ...]
    missing_rates: tuple[float, ...]
    mask_kinds: tuple[str, ...] = ("random",)
    seeds: tuple[int, ...] = (0,)
    samples: int = 4
    split: str = "test"
    description: str = ""
    source_text: str = ""
    mask_params: dict = field(default_factory=dict)
    #: an OSE suite's [observations] (see :mod:`reconbench.benchmark.ose`); empty otherwise
    observations: dict = field(default_factory=dict)
    #: per method label, the ``[methods.search]`` table: parameter -> values to try
    search: dict = field(default_factory=dict)
    #: the ``[tune]`` table (read by :mod:`reconbench.benchmark.tune`)
    tune: dict = field(default_factory=dict)
    #: the ``[tuned]`` table: provenance of parameters chosen by ``reconbench tune``
    tuned: dict = field(default_factory=dict)
    #: regional boxes of the spectral score (the ``[spectral]`` table); empty: the whole grid
    spectral_boxes: tuple[SpectralBox, ...] = ()

    @property
    def config_hash(self) -> str:
        """A short hash of everything that defines the suite's results."""
        content = {k: v for k, v in asdict(self).items()
                   if k not in ("source_text", "description", *TUNING_KEYS)}
        if not self.observations:  # the hash of a gridded suite is what it always was
            content.pop("observations")
        if not self.spectral_boxes:  # nor does a suite without spectral boxes change
            content.pop("spectral_boxes")
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()
                              ).hexdigest()[:12]


def shipped_suites() -> list[str]:
    """Names of the suites shipped with reconbench (``benchmark/suites/*.toml``)."""
    folder = resources.files("reconbench.benchmark") / "suites"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """Read a suite from a TOML file path, or by the name of a shipped suite."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite file {str(path)!r} does not exist")
        text, origin = path.read_text(), str(path)
    elif str(name_or_path) in shipped_suites():
        resource = resources.files("reconbench.benchmark") / "suites" / f"{name_or_path}.toml"
        text, origin = resource.read_text(), f"shipped suite {name_or_path!r}"
    else:
        raise ConfigError(f"no suite named {str(name_or_path)!r}: expected a .toml file path or "
                          f"one of the shipped suites ({', '.join(shipped_suites())})")
    return parse_suite(text, origin)


def parse_suite(text: str, origin: str = "suite") -> Suite:
    """Parse and validate suite TOML text; ``origin`` names it in error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - SUITE_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}; "
                          f"expected keys: {', '.join(sorted(SUITE_KEYS))}")
    for key in ("name", "datasets", "methods", "missing_rates"):
        if key not in raw:
            raise ConfigError(f"{origin}: missing required key {key!r}")

    split = raw.get("split", "test")
    if split not in SPLITS:
        raise ConfigError(f"{origin}: split must be one of {SPLITS}, got {split!r}")
    samples = raw.get("samples", 4)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{origin}: samples must be a positive integer, got {samples!r}")
    seeds = _list(raw.get("seeds", [0]), "seeds", origin)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ConfigError(f"{origin}: seeds must be integers, got {seeds!r}")
    try:
        rates = tuple(check_missing_rate(r, f"{origin}: missing rate")
                      for r in _list(raw["missing_rates"], "missing_rates", origin))
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    kinds = _list(raw.get("mask_kinds", ["random"]), "mask_kinds", origin)
    observations = {}
    if "observations" in raw:  # an OSE suite: mask kinds are withholding modes
        observations = ose.parse_observations(raw["observations"], origin)
        ose.check_modes(kinds, rates, origin)
    for kind in kinds if not observations else ():
        if kind not in mask_kind_names():
            raise ConfigError(f"{origin}: unknown mask kind {kind!r}; known kinds: "
                              f"{', '.join(mask_kind_names())}"
                              f"{did_you_mean(kind, mask_kind_names())}")
    mask_params = raw.get("mask_params", {})
    if not isinstance(mask_params, dict) or not all(
            k in kinds and isinstance(v, dict) for k, v in mask_params.items()):
        raise ConfigError(f"{origin}: mask_params must hold one [mask_params.KIND] table per "
                          f"kind listed in mask_kinds, got {mask_params!r}")
    datasets = _components(raw["datasets"], "datasets", origin)
    methods = _components(raw["methods"], "methods", origin)
    search = _search_tables(raw["methods"], methods, origin)
    for key in ("tune", "tuned"):
        if not isinstance(raw.get(key, {}), dict):
            raise ConfigError(f"{origin}: {key} must be a [{key}] table, got {raw[key]!r}")
    labels = {d.label for d in datasets}
    for method in methods:
        unknown = sorted(set(method.datasets or ()) - labels)
        if unknown:
            raise ConfigError(f"{origin}: method {method.label!r} names unknown dataset "
                              f"label(s) {', '.join(unknown)} in 'datasets'; the suite's "
                              f"datasets are {', '.join(sorted(labels))}")
    _check_params(origin, datasets, methods, mask_params)
    return Suite(
        name=str(raw["name"]), description=str(raw.get("description", "")), split=split,
        samples=samples, seeds=tuple(seeds), missing_rates=rates, mask_kinds=tuple(kinds),
        mask_params=mask_params, datasets=datasets, methods=methods, source_text=text,
        observations=observations, search=search, tune=raw.get("tune", {}),
        tuned=raw.get("tuned", {}),
        spectral_boxes=parse_boxes(raw["spectral"], origin) if "spectral" in raw else ())


def _check_params(origin: str, datasets, methods, mask_params: dict) -> None:
    """Names and parameters (names and types) of every dataset, method and mask kind,
    checked against the registered classes' signatures before any cell runs."""
    try:
        for dataset in datasets:
            check_source_params(dataset.name, dataset.params)
        for method in methods:
            METHODS.check(method.name, method.params)
        for kind, params in mask_params.items():
            MASK_KINDS.check(kind, params)
    except InputError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def _list(value, key: str, origin: str) -> list:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{origin}: {key} must be a non-empty list, got {value!r}")
    return value


def _components(tables, key: str, origin: str) -> tuple[Component, ...]:
    """Parse ``[[datasets]]`` or ``[[methods]]`` tables into components."""
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{origin}: {key} must be one or more [[{key}]] tables")
    components = []
    reserved = ("name", "label", "datasets", "search") if key == "methods" else ("name", "label")
    for table in tables:
        if "name" not in table:
            raise ConfigError(f"{origin}: every [[{key}]] table needs a 'name'")
        params = {k: v for k, v in table.items() if k not in reserved}
        label = str(table.get("label", table["name"]))
        only = table.get("datasets") if key == "methods" else None
        if only is not None and (not isinstance(only, list) or not only
                                 or not all(isinstance(x, str) for x in only)):
            raise ConfigError(f"{origin}: 'datasets' of method {label!r} must be a non-empty "
                              f"list of dataset labels, got {only!r}")
        components.append(Component(str(table["name"]), label, params,
                                    None if only is None else tuple(only)))
    labels = [c.label for c in components]
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise ConfigError(f"{origin}: [[{key}]] labels must be unique; repeated: "
                          f"{', '.join(duplicates)} (give each a distinct 'label')")
    return tuple(components)


def _search_tables(tables: list[dict], methods: tuple[Component, ...], origin: str) -> dict:
    """The ``[methods.search]`` tables by method label, each parameter -> a non-empty list."""
    search = {}
    for table, method in zip(tables, methods, strict=True):
        space = table.get("search")
        if space is None:
            continue
        if not isinstance(space, dict) or not all(
                isinstance(v, list) and v for v in space.values()):
            raise ConfigError(f"{origin}: [methods.search] of method {method.label!r} must map "
                              f"parameter names to non-empty lists of values, got {space!r}")
        search[method.label] = space
    return search
