"""Spectral effective resolution along zonal lines, as the ocean data challenges define it.

Along each latitude row of a level, the runs of consecutive ocean cells are cut
into segments of ``length`` cells (dx = R cos(lat) Δlon km); each segment's power
spectral density of the truth and of the error (reconstruction − truth) is taken
with :func:`scipy.signal.periodogram` (Hann window, linear detrend) and averaged
in the wavelength bins :data:`WAVELENGTH_EDGES_KM` over segments, rows and
samples. The PSD score is 1 − PSD(error) / PSD(truth) per bin (1: that scale is
recovered; 0: its error is as large as the signal) and the *effective
resolution* is the wavelength (km) where the score first falls to 0.5 going from
long to short scales, interpolated linearly in log wavelength.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import periodogram

EARTH_RADIUS_KM = 6371.0
#: Edges of the wavelength bins (km), log-spaced from 50 km to 40 000 km.
WAVELENGTH_EDGES_KM = np.geomspace(50.0, 40000.0, 25)


def ocean_segments(ocean_row: np.ndarray, length: int) -> list[slice]:
    """Non-overlapping ``length``-cell segments of the runs of True in ``ocean_row``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ocean_row.astype(np.int8), [0]])))
    return [slice(s, s + length) for start, stop in zip(edges[::2], edges[1::2], strict=True)
            for s in range(start, stop - length + 1, length)]


def zonal_spectra(truth: np.ndarray, recon: np.ndarray, ocean: np.ndarray, lat: np.ndarray,
                  lon: np.ndarray, length: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin-averaged PSDs of the truth and of the error along zonal ocean segments.

    ``truth``, ``recon``: (sample, lat, lon) °C of one level; ``ocean``: (lat, lon)
    bool; ``lat``, ``lon`` in degrees (regular in longitude). Returns the bin
    centre wavelengths (km), PSD(truth) and PSD(error) per bin (°C² km; NaN in
    bins no segment reaches).
    """
    dlon = np.deg2rad(abs(float(lon[1] - lon[0])))
    n_bins = WAVELENGTH_EDGES_KM.size - 1
    pieces, spacing = [], []
    error = recon - truth
    for j, latitude in enumerate(lat):
        dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(latitude)) * dlon
        if dx <= 0:
            continue
        for seg in ocean_segments(ocean[j], length):
            pieces.append(np.stack([truth[:, j, seg], error[:, j, seg]]))  # (2, sample, length)
            spacing.append(dx)
    sums, counts = np.zeros((2, n_bins)), np.zeros(n_bins)
    if pieces:
        # one call for every segment: frequencies in cycles per cell, then km per segment
        freq, power = periodogram(np.stack(pieces), fs=1.0, window="hann", detrend="linear",
                                  axis=-1)  # power: (segment, 2, sample, frequency)
        keep = freq > 0
        spacing = np.asarray(spacing)
        bins = np.digitize(spacing[:, None] / freq[None, keep], WAVELENGTH_EDGES_KM) - 1
        # PSD per km: the per-cell density times the cell width
        power = power[..., keep].sum(axis=2) * spacing[:, None, None]  # (segment, 2, freq)
        inside = (bins >= 0) & (bins < n_bins)
        for which in range(2):
            sums[which] = np.bincount(bins[inside], power[:, which][inside], minlength=n_bins)
        counts = np.bincount(bins[inside], minlength=n_bins) * float(truth.shape[0])
    centres = np.sqrt(WAVELENGTH_EDGES_KM[:-1] * WAVELENGTH_EDGES_KM[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    return centres, mean[0], mean[1]


def psd_score(psd_truth: np.ndarray, psd_error: np.ndarray) -> np.ndarray:
    """1 − PSD(error) / PSD(truth) per bin (NaN where the truth has no power)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(psd_truth > 0, 1 - psd_error / psd_truth, np.nan)


def effective_resolution(wavelength: np.ndarray, score: np.ndarray) -> float:
    """The wavelength (km) where ``score`` first drops to 0.5 from the long-wave end.

    NaN when no bin scores 0.5 or more (nothing is resolved); the shortest
    wavelength with a score when the score never drops below 0.5.
    """
    known = np.isfinite(score)
    wl, sc = wavelength[known][::-1], score[known][::-1]  # long to short
    if wl.size == 0 or sc[0] < 0.5:
        return float("nan")
    below = np.nonzero(sc < 0.5)[0]
    if below.size == 0:
        return float(wl[-1])
    i = below[0]
    frac = (sc[i - 1] - 0.5) / (sc[i - 1] - sc[i])
    return float(np.exp(np.log(wl[i - 1]) + frac * (np.log(wl[i]) - np.log(wl[i - 1]))))
