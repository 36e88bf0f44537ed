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


def _degrees(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):g}°{positive if value > 0 else negative if value < 0 else ''}"


def _panel(ax, title: str, lon: np.ndarray, lat: np.ndarray, color: str = "black") -> None:
    ax.set_facecolor(LAND)
    ax.set_title(title, fontsize="medium", color=color)
    lon_ticks = [x for x in range(0, 361, 60) if lon.min() - 1 <= x <= lon.max() + 1]
    lat_ticks = [y for y in range(-90, 91, 30) if lat.min() - 1 <= y <= lat.max() + 1]
    ax.set_xticks(lon_ticks, [_degrees(x if x <= 180 else x - 360, "E", "W")
                              for x in lon_ticks], fontsize="x-small")
    ax.set_yticks(lat_ticks, [_degrees(y, "N", "S") for y in lat_ticks], fontsize="x-small")
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
    thermal = dict(cmap=cmocean.cm.thermal, vmin=t_low, vmax=t_high, shading="nearest",
                   rasterized=True)
    obs_lat, obs_lon = np.nonzero(observed & ocean)
    dots = dict(s=1.5, color="black", linewidths=0, label="guidance points")

    fig = Figure(figsize=(10.0, 2.4 * (len(recons) + 1) + 0.9), layout="constrained")
    axes = fig.subplots(len(recons) + 1, 2, squeeze=False)
    temperature = axes[0, 0].pcolormesh(lon, lat, truth.to_numpy(), **thermal)
    _panel(axes[0, 0], "truth", lon, lat)
    axes[0, 1].pcolormesh(lon, lat, np.where(ocean, 1.0, np.nan), cmap=_WHITE, shading="nearest")
    axes[0, 1].pcolormesh(lon, lat, np.where(observed & ocean, truth, np.nan), **thermal)
    axes[0, 1].scatter(lon[obs_lon], lat[obs_lat], **dots)
    _panel(axes[0, 1], f"observations ({observed[ocean].mean():.1%} of the ocean)", lon, lat)
    for row, method in enumerate(recons, start=1):
        color = styles.get(method, {}).get("color", "black")
        axes[row, 0].pcolormesh(lon, lat, recons[method], **thermal)
        _panel(axes[row, 0], f"{method}: reconstruction", lon, lat, color)
        e_max = float(np.nanpercentile(np.abs(errors[method]), 99)) or 1.0
        error = axes[row, 1].pcolormesh(lon, lat, errors[method], cmap=cmocean.cm.balance,
                                        vmin=-e_max, vmax=e_max, shading="nearest",
                                        rasterized=True)
        axes[row, 1].scatter(lon[obs_lon], lat[obs_lat], **dots)
        rmse = np.sqrt(np.nanmean(errors[method][~observed] ** 2))
        _panel(axes[row, 1], f"{method}: error (RMSE {rmse:.2f} °C off the observations)",
               lon, lat, color)
        fig.colorbar(error, ax=axes[row, 1], orientation="vertical", shrink=0.9,
                     label="recon. − truth (°C)", extend="both")
    for ax in axes.flat:
        ax.contour(lon, lat, ocean.astype(float), levels=[0.5], colors="black",
                   linewidths=0.5)
    fig.colorbar(temperature, ax=axes[:, 0], orientation="horizontal", shrink=0.8,
                 label="temperature (°C)")
    fig.suptitle(f"{title}, level {level['depth']:.0f} m")
    return fig
