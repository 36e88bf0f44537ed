"""Maps between fields in °C and the network's normalised fields, and its conditioning.

Three normalisations (``kind``):

- ``"paper"``: ReconMOST's fixed affine map for every level, land and sea
  floor set to 0 °C first: x = 2 (T + 5) / 45 - 1; inverse
  T = (x + 1) · 22.5 - 5 clamped to [-5, 40] °C.
- ``"anomaly"``: per-level standardised anomalies from the train split's
  monthly climatology: x = (T - C_month) / s_level, 0 off the ocean, s_level
  the std of the level's train anomalies over the ocean (°C).
- ``"anomaly_std"``: anomalies from the same monthly climatology divided by a
  per-cell standard deviation: x = (T - C_month) / s_cell, s_cell the std of the
  cell's train anomalies over all months (one value per cell, not per calendar
  month: 30 train years give 360 anomalies per cell but only 30 per cell and
  month, too few for a stable std), floored at ``STD_FLOOR`` · s_level so that
  nearly constant cells (sea ice at the freezing point) do not blow up.

The optional conditioning channels (``conditioning=True``) are, for a sample's
calendar month, the level ocean masks (1 / 0) and that month's climatology in
the paper's map: (2 · levels, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconbench.errors import InputError

NORMALISATIONS = ("paper", "anomaly", "anomaly_std")

#: ``anomaly_std``: a cell's std is at least this fraction of its level's.
STD_FLOOR = 0.1


def paper_forward(temperature: np.ndarray) -> np.ndarray:
    """x = 2 (T + 5) / 45 - 1 (T in °C)."""
    return 2.0 * (temperature + 5.0) / 45.0 - 1.0


def paper_inverse(x: np.ndarray) -> np.ndarray:
    """T = (x + 1) · 22.5 - 5, clamped to [-5, 40] °C."""
    return np.clip((x + 1.0) * 22.5 - 5.0, -5.0, 40.0)


@dataclass(frozen=True)
class Normaliser:
    """A normalisation fitted on a train split.

    ``ocean`` (levels, H, W) bool; ``climatology`` (12, levels, H, W) °C, finite
    everywhere on the ocean; ``level_std`` (levels,) °C (ones for ``paper``);
    ``cell_std`` (levels, H, W) °C for ``anomaly_std`` (1 off the ocean), else None.
    """

    kind: str
    ocean: np.ndarray
    climatology: np.ndarray
    level_std: np.ndarray
    conditioning: bool
    cell_std: np.ndarray | None = None

    @classmethod
    def fit(cls, kind: str, train: np.ndarray, months: np.ndarray, ocean: np.ndarray,
            conditioning: bool) -> Normaliser:
        """Fit on ``train`` (time, levels, H, W) °C, NaN off the ocean, and its
        calendar ``months`` (time,) in 1..12."""
        if kind not in NORMALISATIONS:
            raise InputError(f"normalisation must be one of {NORMALISATIONS}, got {kind!r}")
        known = np.isfinite(train)
        filled = np.where(known, train, 0.0)
        sums = np.stack([filled[months == m].sum(axis=0) for m in range(1, 13)])
        counts = np.stack([known[months == m].sum(axis=0) for m in range(1, 13)])
        # cells or months absent from the split take the mean over the months present
        overall = sums.sum(axis=0) / np.maximum(counts.sum(axis=0), 1)
        clim = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
        clim = np.where(ocean, clim, 0.0).astype(np.float32)
        cell_std = None
        if kind in ("anomaly", "anomaly_std"):
            anomaly = train - clim[months - 1]
            level_std = np.array([np.nanstd(anomaly[:, k][:, ocean[k]])
                                  for k in range(ocean.shape[0])])
            level_std = np.where(level_std > 0, level_std, 1.0).astype(np.float32)
            if kind == "anomaly_std":
                seen = np.isfinite(anomaly)
                squares = np.where(seen, anomaly, 0.0) ** 2
                # cells never observed (all NaN) take their level's std
                std = np.sqrt(squares.sum(axis=0) / np.maximum(seen.sum(axis=0), 1))
                std = np.where(seen.any(axis=0), std, np.nan)
                floor = STD_FLOOR * level_std[:, None, None]
                std = np.where(np.isfinite(std), np.maximum(std, floor), level_std[:, None, None])
                cell_std = np.where(ocean, std, 1.0).astype(np.float32)
        else:
            level_std = np.ones(ocean.shape[0], dtype=np.float32)
        return cls(kind, ocean, clim, level_std, conditioning, cell_std)

    @property
    def scale(self) -> np.ndarray:
        """The anomaly scale, broadcastable to (levels, H, W), °C."""
        return self.level_std[:, None, None] if self.cell_std is None else self.cell_std

    @classmethod
    def fit_streamed(cls, kind: str, read, months: np.ndarray, ocean: np.ndarray,
                     conditioning: bool, block: int = 12) -> Normaliser:
        """:meth:`fit` reading the train split ``block`` months at a time.

        ``read(start, stop)`` returns months ``start:stop`` (time, levels, H, W) °C of
        the split; ``months`` (time,) their calendar months. Sums are float64 and the
        level std comes from float64 sums of the anomalies and their squares, so the
        result equals :meth:`fit`'s to float32 rounding; memory: (12, levels, H, W)
        float64 twice and one block, however long the split.
        """
        if kind not in NORMALISATIONS:
            raise InputError(f"normalisation must be one of {NORMALISATIONS}, got {kind!r}")
        sums, counts = np.zeros((12, *ocean.shape)), np.zeros((12, *ocean.shape), np.int64)
        for start in range(0, months.size, block):
            values = read(start, min(start + block, months.size))
            known = np.isfinite(values)
            for i, m in enumerate(months[start:start + block]):
                sums[m - 1] += np.where(known[i], values[i], 0.0)
                counts[m - 1] += known[i]
        overall = sums.sum(axis=0) / np.maximum(counts.sum(axis=0), 1)
        clim = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
        clim = np.where(ocean, clim, 0.0).astype(np.float32)
        level_std = np.ones(ocean.shape[0], dtype=np.float32)
        cell_std = None
        if kind in ("anomaly", "anomaly_std"):
            n, s1, s2 = (np.zeros(ocean.shape[0]) for _ in range(3))
            cell_n, cell_s2 = np.zeros(ocean.shape), np.zeros(ocean.shape)
            for start in range(0, months.size, block):
                stop = min(start + block, months.size)
                anomaly = (read(start, stop) - clim[months[start:stop] - 1]).astype(np.float64)
                seen = np.isfinite(anomaly)
                cell_n += seen.sum(axis=0)
                cell_s2 += (np.where(seen, anomaly, 0.0) ** 2).sum(axis=0)
                for k in range(ocean.shape[0]):
                    a = anomaly[:, k][:, ocean[k]]
                    a = a[np.isfinite(a)]
                    n[k] += a.size
                    s1[k] += a.sum()
                    s2[k] += (a * a).sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                var = np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
            std = np.sqrt(var)
            level_std = np.where(np.isfinite(std) & (std > 0), std, 1.0).astype(np.float32)
            if kind == "anomaly_std":  # as in :meth:`fit`: per-cell RMS, floored
                level = level_std[:, None, None]
                rms = np.where(cell_n > 0, np.sqrt(cell_s2 / np.maximum(cell_n, 1)), np.nan)
                rms = np.where(np.isfinite(rms), np.maximum(rms, STD_FLOOR * level), level)
                cell_std = np.where(ocean, rms, 1.0).astype(np.float32)
        return cls(kind, ocean, clim, level_std, conditioning, cell_std)

    @property
    def n_cond(self) -> int:
        """Number of conditioning channels."""
        return 2 * self.ocean.shape[0] if self.conditioning else 0

    @property
    def clip(self) -> float | None:
        """The natural clipping range of x̂₀: 1 for ``paper`` (its [-1, 1]), else none."""
        return 1.0 if self.kind == "paper" else None

    def encode(self, temperature: np.ndarray, months: np.ndarray) -> np.ndarray:
        """(n, levels, H, W) °C (NaN allowed) -> normalised float32; NaN and land -> 0 °C
        (``paper``) or anomaly 0 (``anomaly``)."""
        t = np.where(self.ocean & np.isfinite(temperature), temperature, np.nan)
        if self.kind == "paper":
            return paper_forward(np.nan_to_num(t, nan=0.0)).astype(np.float32)
        x = (t - self.climatology[months - 1]) / self.scale
        return np.nan_to_num(x, nan=0.0).astype(np.float32)

    def decode(self, x: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Normalised (n, levels, H, W) -> °C, NaN off the ocean."""
        if self.kind == "paper":
            t = paper_inverse(x)
        else:
            t = self.climatology[months - 1] + x * self.scale
        return np.where(self.ocean, t, np.nan).astype(np.float32)

    def cond(self, months: np.ndarray) -> np.ndarray | None:
        """Conditioning channels (n, 2 · levels, H, W) float32 for calendar ``months``."""
        if not self.conditioning:
            return None
        clim = paper_forward(self.climatology[months - 1])
        mask = np.broadcast_to(self.ocean, clim.shape).astype(np.float32)
        return np.concatenate([mask, clim], axis=1).astype(np.float32)
