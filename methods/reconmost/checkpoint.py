"""Checkpoint files of the ReconMOST prior: writing, safe loading and compatibility checks.

A *prior* file (what the methods load) is a dict of plain types and tensors::

    {"metadata": {...},            # see :func:`prior_metadata`
     "model": EMA state_dict,
     "ocean": (levels, H, W) bool,
     "climatology": (12, levels, H, W) float32 °C,
     "level_std": (levels,) float32 °C,
     "cell_std": (levels, H, W) float32 °C}   # ``anomaly_std`` normalisation only

A *training state* file (``<prior>.train-state.pt``, for resuming) adds the raw
weights, the optimiser state, the step, the seconds spent and the generator
state. Both load with ``torch.load(..., weights_only=True)``: no pickled code.

Format versions: 1 (no ``partial`` flag; its training states hold no
normalisation) and 2 (this one): ``metadata["training"]["partial"]`` is True in a
training state, which also holds the normalisation, so that a run in progress can
be evaluated (``allow_partial``), and False in the prior written when training
ends. Both versions load; a version-1 file counts as final.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from reconbench.datasets.grid import Grid
from reconbench.errors import InputError
from reconbench.files import temporary_beside
from reconbench.methods.reconmost.diffusion import Schedule
from reconbench.methods.reconmost.normalise import Normaliser
from reconbench.methods.reconmost.unet import UNet, UNetConfig

FORMAT = "reconbench.reconmost.prior"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
SHIPPED = Path(__file__).parent / "checkpoints"


def train_hint(normalisation: str | None = None) -> str:
    """How to train a prior for the data at hand (the exact command shape)."""
    option = f" --normalisation {normalisation}" if normalisation else ""
    return ("train one on this dataset with `reconbench train --preset default --dataset NAME "
            f"--dataset-param KEY=VALUE ...{option} --steps N --output FILE.pt` and pass "
            "checkpoint=FILE.pt")


TRAIN_HINT = train_hint()


def state_path(prior: Path) -> Path:
    """The training-state file beside a prior file."""
    return prior.with_name(prior.stem + ".train-state.pt")


def prior_metadata(grid: Grid, normaliser: Normaliser, schedule: Schedule,
                   unet: UNetConfig, training: dict) -> dict:
    """The metadata a prior carries; checked at load by :func:`check_compatible`."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "grid": {"key": grid.key, "name": grid.name, "levels": int(grid.depth.size),
                     "n_lat": int(grid.lat.size), "n_lon": int(grid.lon.size)},
            "normalisation": {"kind": normaliser.kind, "conditioning": normaliser.conditioning},
            "schedule": schedule.to_dict(), "unet": unet.to_dict(), "training": training}


def atomic_save(obj: dict, path: Path) -> None:
    """torch.save through a temporary file in the same folder, then rename.

    Tensors are saved from the CPU, so a file written on a GPU loads anywhere.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_beside(path, prefix=path.name)
    try:
        torch.save(_on_cpu(obj), tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _on_cpu(obj):
    """``obj`` with every tensor in it (nested dicts, lists, tuples) moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {key: _on_cpu(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_on_cpu(value) for value in obj)
    return obj


def load_file(path: str | Path) -> dict:
    """``torch.load(path, weights_only=True)`` with one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ReconMOST checkpoint {str(path)!r} does not exist; {TRAIN_HINT}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise InputError(f"ReconMOST checkpoint {str(path)!r} is truncated, corrupt or not a "
                         f"reconbench checkpoint ({type(exc).__name__}); {TRAIN_HINT}") from None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{str(path)!r} is not a reconbench ReconMOST checkpoint; {TRAIN_HINT}")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise InputError(f"ReconMOST checkpoint {str(path)!r} has format version "
                         f"{meta.get('format_version')}; this reconbench reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}; {TRAIN_HINT}")
    return obj


def is_partial(meta: dict) -> bool:
    """True for a training state (training in progress); False for a finished prior."""
    return bool(meta["training"].get("partial", False))


def shipped_prior(grid: Grid, normalisations: tuple[str, ...]) -> Path:
    """The shipped prior (under ``checkpoints/``) trained on ``grid`` with one of
    ``normalisations`` (the first that has one wins).

    Only the metadata of each file is read (memory-mapped). Raises
    :class:`InputError` naming the grids that do have a prior when none fits.
    """
    available, fits = [], {}
    for path in sorted(SHIPPED.glob("*.pt")):
        meta = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["metadata"]
        kind = meta["normalisation"]["kind"]
        if meta["grid"]["key"] == grid.key and kind in normalisations and not is_partial(meta):
            fits.setdefault(kind, path)
        available.append(f"{path.name} ({meta['grid']['name']}, {kind})")
    for kind in normalisations:
        if kind in fits:
            return fits[kind]
    raise InputError(f"no shipped ReconMOST prior with {' or '.join(map(repr, normalisations))} "
                     f"normalisation fits {grid!r}; shipped: {', '.join(available) or 'none'}; "
                     f"{train_hint(normalisations[0] if normalisations[0] != 'anomaly' else None)}")


def check_compatible(meta: dict, grid: Grid, path: str | Path,
                     normalisations: tuple[str, ...] | None = None) -> None:
    """Raise :class:`InputError` unless the prior was trained on ``grid`` (levels first,
    then the horizontal size, then the axes and ocean mask) with one of
    ``normalisations`` (None: any)."""
    g = meta["grid"]
    trained = (f"grid {g['name'] or '?'} ({g['n_lat']} x {g['n_lon']}, {g['levels']} "
               f"level{'s' if g['levels'] != 1 else ''}, key {g['key']})")
    kind = meta["normalisation"]["kind"]
    hint = train_hint(kind if kind != "anomaly" else None)
    if g["levels"] != grid.depth.size:
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r}: levels differ: the prior has {g['levels']} "
            f"(trained on {trained}) but the data have {grid.depth.size} ({grid!r}); {hint}")
    if (g["n_lat"], g["n_lon"]) != (grid.lat.size, grid.lon.size):
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r}: grid size differs: the prior has "
            f"{g['n_lat']} x {g['n_lon']} (trained on {trained}) but the data have "
            f"{grid.lat.size} x {grid.lon.size} ({grid!r}); {hint}")
    if g["key"] != grid.key:
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r}: grid key differs: the prior was trained on "
            f"{trained} but the data are on {grid!r} (key {grid.key}: other axes or ocean "
            f"mask); {hint}")
    if normalisations is not None and kind not in normalisations:
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r}: normalisation differs: the prior has "
            f"{kind!r} but this method needs {' or '.join(map(repr, normalisations))}; "
            f"{train_hint(normalisations[0])}")


def load_prior(path: str | Path, grid: Grid | None = None,
               device: str | torch.device = "cpu", *,
               normalisations: tuple[str, ...] | None = None,
               allow_partial: bool = False) -> tuple[UNet, Normaliser, dict]:
    """The EMA network (eval mode), its normaliser and the metadata of a prior file.

    With ``grid``, the prior must have been trained on it with one of
    ``normalisations`` (:func:`check_compatible`). A training state (training in
    progress, :func:`is_partial`) is refused unless ``allow_partial``.
    """
    obj = load_file(path)
    meta = obj["metadata"]
    if is_partial(meta) and not allow_partial:
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r} is partial: a training state at step "
            f"{meta['training']['steps']} (training in progress); pass allow_partial=true to "
            f"use it anyway, or finish training with `reconbench train ... --resume`")
    if "ocean" not in obj:
        raise InputError(f"ReconMOST checkpoint {str(path)!r} is a training state of format "
                         f"version 1, which holds no normalisation; finish training with "
                         f"`reconbench train ... --resume` and use the prior it writes")
    if grid is not None:
        check_compatible(meta, grid, path, normalisations)
    model = UNet(UNetConfig.from_dict(meta["unet"]))
    model.load_state_dict(obj["model"] if not is_partial(meta) else obj["ema"])
    cell_std = obj.get("cell_std")
    normaliser = Normaliser(meta["normalisation"]["kind"], obj["ocean"].numpy(),
                            obj["climatology"].numpy(), obj["level_std"].numpy(),
                            meta["normalisation"]["conditioning"],
                            None if cell_std is None else cell_std.numpy())
    return model.to(device).eval(), normaliser, meta


def normaliser_tensors(normaliser: Normaliser) -> dict:
    """The normalisation arrays a prior (and a version-2 training state) carries."""
    out = {"ocean": torch.from_numpy(np.array(normaliser.ocean)),
           "climatology": torch.from_numpy(normaliser.climatology),
           "level_std": torch.from_numpy(normaliser.level_std)}
    if normaliser.cell_std is not None:
        out["cell_std"] = torch.from_numpy(normaliser.cell_std)
    return out


def prior_dict(meta: dict, ema_state: dict, normaliser: Normaliser) -> dict:
    """The content of a prior file."""
    return {"metadata": meta, "model": ema_state, **normaliser_tensors(normaliser)}
