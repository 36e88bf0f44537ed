"""Maps of one sample at one level: truth, observations, each method's
reconstruction and its error.

The results store keeps the first sample of every cell of the first mask seed
(``fields/<cell>.nc``) and of the truth (``fields/truth-<dataset>.nc``); see
:mod:`reconbench.benchmark.store`. Temperatures share one colour scale (cmocean
``thermal``), errors another, symmetric about zero (cmocean ``balance``); land is
grey and the coastline is the edge of the grid's ocean mask at that level.
"""

from __future__ import annotations

from dataclasses import dataclass

import cmocean
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from reconbench.benchmark.store import ResultsStore

LAND = "0.82"
_WHITE = ListedColormap(["white"])


@dataclass
class SampleFields:
    """The first sample of one (dataset, mask kind, missing rate): (depth, lat, lon) arrays."""

    truth: xr.DataArray
    guidance: xr.DataArray  # 1 where observed
    reconstructions: dict[str, xr.DataArray]  # by method


def load_sample(store: ResultsStore, rows: pd.DataFrame, dataset: str, mask_kind: str,
                rate: float, methods: list[str]) -> SampleFields | None:
    """The stored fields of the first mask seed, or ``None`` when the store has none."""
    truth_file = store.fields_dir / f"truth-{dataset}.nc"
    sel = rows[(rows["dataset"] == dataset) & (rows["mask_kind"] == mask_kind)
               & (rows["missing_rate"] == rate)]
    if not truth_file.is_file() or sel.empty:
        return None
    sel = sel[sel["seed"] == sel["seed"].min()]
    cells = sel.drop_duplicates("method").set_index("method")["cell"]
    reconstructions, guidance = {}, None
    for method in methods:
        if method in cells.index and (store.fields_dir / f"{cells[method]}.nc").is_file():
            fields = store.reconstruction(cells[method])
            reconstructions[method] = fields["reconstruction"]
            guidance = fields["guidance"] if guidance is None else guidance
    if not reconstructions:
        return None
    return SampleFields(store.truth(dataset), guidance, reconstructions)


def _panel(ax, title: str, color: str = "black") -> None:
    ax.set_facecolor(LAND)
    ax.set_title(title, fontsize="medium", color=color)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")


def field_maps(fields: SampleFields, depth: float, styles: dict[str, dict],
               title: str) -> Figure:
    """Truth and observations on the first row, then one row per method:
    reconstruction (left) and reconstruction − truth (right)."""
    truth = fields.truth.sel(depth=depth, method="nearest")
    level = dict(depth=float(truth["depth"]))
    lon, lat = truth["lon"].to_numpy(), truth["lat"].to_numpy()
    ocean = np.isfinite(truth.to_numpy())
    observed = fields.guidance.sel(level).to_numpy() > 0
    recons = {m: r.sel(level).to_numpy() for m, r in fields.reconstructions.items()}
    errors = {m: np.where(ocean, r - truth.to_numpy(), np.nan) for m, r in recons.items()}
    t_low, t_high = np.nanpercentile(truth, [1, 99])
    e_max = max(np.nanpercentile(np.abs(e), 99) for e in errors.values()) or 1.0
    thermal = dict(cmap=cmocean.cm.thermal, vmin=t_low, vmax=t_high, shading="nearest",
                   rasterized=True)
    balance = dict(cmap=cmocean.cm.balance, vmin=-e_max, vmax=e_max, shading="nearest",
                   rasterized=True)

    fig = Figure(figsize=(9.0, 2.3 * (len(recons) + 1) + 0.9), layout="constrained")
    axes = fig.subplots(len(recons) + 1, 2, squeeze=False)
    temperature = axes[0, 0].pcolormesh(lon, lat, truth.to_numpy(), **thermal)
    _panel(axes[0, 0], "truth")
    axes[0, 1].pcolormesh(lon, lat, np.where(ocean, 1.0, np.nan), cmap=_WHITE, shading="nearest")
    axes[0, 1].pcolormesh(lon, lat, np.where(observed & ocean, truth, np.nan), **thermal)
    _panel(axes[0, 1], f"observations ({observed[ocean].mean():.1%} of the ocean)")
    for row, method in enumerate(recons, start=1):
        color = styles.get(method, {}).get("color", "black")
        axes[row, 0].pcolormesh(lon, lat, recons[method], **thermal)
        _panel(axes[row, 0], f"{method}: reconstruction", color)
        error = axes[row, 1].pcolormesh(lon, lat, errors[method], **balance)
        rmse = np.sqrt(np.nanmean(errors[method][~observed] ** 2))
        _panel(axes[row, 1], f"{method}: error (RMSE {rmse:.2f} °C off the observations)",
               color)
    for ax in axes.flat:
        ax.contour(lon, lat, ocean.astype(float), levels=[0.5], colors="black",
                   linewidths=0.5)
    fig.colorbar(temperature, ax=axes[:, 0], orientation="horizontal", shrink=0.8,
                 label="temperature (°C)")
    fig.colorbar(error, ax=axes[1:, 1], orientation="horizontal", shrink=0.8,
                 label="reconstruction − truth (°C)", extend="both")
    fig.suptitle(f"{title}, level {level['depth']:.0f} m")
    return fig
