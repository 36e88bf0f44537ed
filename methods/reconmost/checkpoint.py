"""Checkpoint files of the ReconMOST prior: writing, safe loading and compatibility checks.

A *prior* file (what the methods load) is a dict of plain types and tensors::

    {"metadata": {...},            # see :func:`prior_metadata`
     "model": EMA state_dict,
     "ocean": (levels, H, W) bool,
     "climatology": (12, levels, H, W) float32 °C,
     "level_std": (levels,) float32 °C}

A *training state* file (``<prior>.train-state.pt``, for resuming) adds the raw
weights, the optimiser state, the step, the seconds spent and the generator
state. Both load with ``torch.load(..., weights_only=True)``: no pickled code.
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
FORMAT_VERSION = 1
SHIPPED = Path(__file__).parent / "checkpoints"
TRAIN_HINT = ("train one with `reconbench train --preset default --dataset NAME "
              "--dataset-param KEY=VALUE ... --output FILE.pt` and pass checkpoint=FILE.pt")


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
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"ReconMOST checkpoint {str(path)!r} has format version "
                         f"{meta.get('format_version')}; this reconbench reads version "
                         f"{FORMAT_VERSION}; {TRAIN_HINT}")
    return obj


def shipped_prior(grid: Grid, normalisation: str) -> Path:
    """The shipped prior (under ``checkpoints/``) trained on ``grid`` with ``normalisation``.

    Only the metadata of each file is read (memory-mapped). Raises
    :class:`InputError` naming the grids that do have a prior when none fits.
    """
    available = []
    for path in sorted(SHIPPED.glob("*.pt")):
        meta = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["metadata"]
        if meta["grid"]["key"] == grid.key and meta["normalisation"]["kind"] == normalisation:
            return path
        available.append(f"{path.name} ({meta['grid']['name']}, {meta['normalisation']['kind']})")
    raise InputError(f"no shipped ReconMOST prior with {normalisation!r} normalisation fits "
                     f"{grid!r}; shipped: {', '.join(available) or 'none'}; {TRAIN_HINT}")


def check_compatible(meta: dict, grid: Grid, path: str | Path) -> None:
    """Raise :class:`InputError` unless the prior was trained on ``grid``."""
    g = meta["grid"]
    if g["key"] != grid.key:
        raise InputError(
            f"ReconMOST checkpoint {str(path)!r} was trained on grid {g['name'] or '?'} "
            f"({g['n_lat']} x {g['n_lon']}, {g['levels']} levels, key {g['key']}) but the data "
            f"are on {grid!r} (key {grid.key}); {TRAIN_HINT}")


def load_prior(path: str | Path, grid: Grid | None = None,
               device: str | torch.device = "cpu") -> tuple[UNet, Normaliser, dict]:
    """The EMA network (eval mode), its normaliser and the metadata of a prior file.

    With ``grid``, the prior must have been trained on it (:func:`check_compatible`).
    """
    obj = load_file(path)
    meta = obj["metadata"]
    if grid is not None:
        check_compatible(meta, grid, path)
    model = UNet(UNetConfig.from_dict(meta["unet"]))
    model.load_state_dict(obj["model"])
    normaliser = Normaliser(meta["normalisation"]["kind"], obj["ocean"].numpy(),
                            obj["climatology"].numpy(), obj["level_std"].numpy(),
                            meta["normalisation"]["conditioning"])
    return model.to(device).eval(), normaliser, meta


def prior_dict(meta: dict, ema_state: dict, normaliser: Normaliser) -> dict:
    """The content of a prior file."""
    return {"metadata": meta, "model": ema_state,
            "ocean": torch.from_numpy(np.array(normaliser.ocean)),
            "climatology": torch.from_numpy(normaliser.climatology),
            "level_std": torch.from_numpy(normaliser.level_std)}
