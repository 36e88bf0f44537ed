"""Spectral effective resolution along zonal lines, as the ocean data challenges define it.

Along each latitude row of a level, the runs of consecutive ocean cells are cut
into segments of ``length`` cells (dx = R cos(lat) Δlon km); each segment's power
spectral density of the truth and of the error (reconstruction − truth) is taken
as :func:`scipy.signal.periodogram` does it (Hann window, linear detrend; here with
:func:`numpy.fft.rfft` over all segments at once, which is what the test compares
with scipy) and averaged in the wavelength bins :data:`WAVELENGTH_EDGES_KM` over
segments, rows and samples. The PSD score is 1 − PSD(error) / PSD(truth) per bin (1: that scale is
recovered; 0: its error is as large as the signal) and the *effective
resolution* is the wavelength (km) where the score first falls to 0.5 going from
long to short scales, interpolated linearly in log wavelength.

A suite may name regional boxes (:class:`SpectralBox`, its ``[spectral]`` table):
the same score is then computed on the zonal segments inside each box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconbench.errors import ConfigError

EARTH_RADIUS_KM = 6371.0
#: Edges of the wavelength bins (km), log-spaced from 50 km to 40 000 km.
WAVELENGTH_EDGES_KM = np.geomspace(50.0, 40000.0, 25)


def ocean_segments(ocean_row: np.ndarray, length: int) -> list[slice]:
    """Non-overlapping ``length``-cell segments of the runs of True in ``ocean_row``."""
    _, starts = segment_starts(ocean_row[None], length)
    return [slice(int(s), int(s) + length) for s in starts]


def segment_starts(ocean: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and first column of every ``length``-cell segment of the runs of True in the rows
    of ``ocean`` (lat, lon) bool, row by row, each run cut from its start; two int arrays."""
    padded = np.zeros((ocean.shape[0], ocean.shape[1] + 2), np.int8)
    padded[:, 1:-1] = ocean
    rows, cols = np.nonzero(np.diff(padded, axis=1))  # run starts and stops, row-major
    row, start, stop = rows[::2], cols[::2], cols[1::2]
    count = (stop - start) // length
    run = np.repeat(np.arange(row.size), count)
    within = np.arange(run.size) - np.repeat(np.cumsum(count) - count, count)
    return row[run], start[run] + within * length


def hann_periodogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD along the last axis in units per cycle per cell, as
    ``scipy.signal.periodogram(x, fs=1, window="hann", detrend="linear", axis=-1)``:
    the least-squares line removed, a periodic Hann window, density scaling
    |FFT|² / Σ w², doubled except at zero and (even length) Nyquist frequency.
    Returns the frequencies (cycles per cell) and the PSD (..., frequency)."""
    n = x.shape[-1]
    t = np.arange(n) - (n - 1) / 2
    slope = (x @ t) / (t @ t)
    detrended = x - x.mean(axis=-1, keepdims=True) - slope[..., None] * t
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    power = np.abs(np.fft.rfft(detrended * window, axis=-1)) ** 2 / (window @ window)
    power[..., 1:n - n // 2] *= 2  # one-sided: all but zero and an even length's Nyquist
    return np.fft.rfftfreq(n), power


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
    width = EARTH_RADIUS_KM * np.cos(np.deg2rad(np.asarray(lat, float))) * dlon  # (lat,) km
    row, start = segment_starts(ocean & (width > 0)[:, None], length)
    sums, counts = np.zeros((2, n_bins)), np.zeros(n_bins)
    if row.size:
        columns = start[:, None] + np.arange(length)  # (segment, length)
        pieces = np.stack([truth[:, row[:, None], columns],
                           recon[:, row[:, None], columns] - truth[:, row[:, None], columns]],
                          axis=1)  # (sample, 2, segment, length)
        freq, power = hann_periodogram(pieces)
        keep = freq > 0
        spacing = width[row]
        bins = np.digitize(spacing[:, None] / freq[None, keep], WAVELENGTH_EDGES_KM) - 1
        # PSD per km: the per-cell density times the cell width
        power = power[..., keep].sum(axis=0) * spacing[:, None]  # (2, segment, freq)
        inside = (bins >= 0) & (bins < n_bins)
        for which in range(2):
            sums[which] = np.bincount(bins[inside], power[which][inside], minlength=n_bins)
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


@dataclass(frozen=True)
class SpectralBox:
    """A regional box a suite names for the spectral score: longitudes ``lon`` = (west,
    east) and latitudes ``lat`` = (south, north) in degrees (a box may cross the
    dateline: west > east), and the length of its zonal segments in cells."""

    name: str
    lon: tuple[float, float]
    lat: tuple[float, float]
    segment_cells: int = 16

    def mask(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(lat, lon) bool: the grid cells whose centres are inside the box."""
        west, east = self.lon
        in_lon = np.mod(np.asarray(lon, float) - west, 360.0) <= np.mod(east - west, 360.0)
        in_lat = (np.asarray(lat, float) >= self.lat[0]) & (np.asarray(lat, float) <= self.lat[1])
        return in_lat[:, None] & in_lon[None, :]


def parse_boxes(table, origin: str) -> tuple[SpectralBox, ...]:
    """The boxes of a suite's ``[spectral]`` table, ``boxes = [{name = "...", lon = [W, E],
    lat = [S, N]}, ...]`` (optional ``segment_cells``, default 16); one clear
    :class:`ConfigError` line naming the box and key otherwise."""
    if not isinstance(table, dict) or set(table) - {"boxes"}:
        raise ConfigError(f"{origin}: [spectral] takes one key, boxes = [{{name = ..., "
                         f"lon = [W, E], lat = [S, N]}}, ...], got {table!r}")
    boxes = table.get("boxes", [])
    if not isinstance(boxes, list) or not all(isinstance(b, dict) for b in boxes):
        raise ConfigError(f"{origin}: [spectral] boxes must be a list of tables, got {boxes!r}")
    parsed = []
    for i, box in enumerate(boxes):
        where = f"{origin}: [spectral] box {box.get('name', i)!r}"
        unknown = sorted(set(box) - {"name", "lon", "lat", "segment_cells"})
        if unknown or not {"name", "lon", "lat"} <= set(box):
            raise ConfigError(f"{where} needs name, lon, lat (and optionally segment_cells); "
                             f"got keys {sorted(box)}")
        pairs = {}
        for key, limit in (("lon", 360.0), ("lat", 90.0)):
            value = box[key]
            if (not isinstance(value, list) or len(value) != 2 or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and -limit <= v <= limit
                    for v in value)):
                raise ConfigError(f"{where}: {key} must be [low, high] in degrees within "
                                 f"±{limit:g}, got {value!r}")
            pairs[key] = (float(value[0]), float(value[1]))
        if pairs["lat"][0] >= pairs["lat"][1] or pairs["lon"][0] == pairs["lon"][1]:
            raise ConfigError(f"{where}: lat must be [south, north] with south < north and lon "
                             f"[west, east] with west != east, got lat {box['lat']!r}, "
                             f"lon {box['lon']!r}")
        cells = box.get("segment_cells", 16)
        if isinstance(cells, bool) or not isinstance(cells, int) or cells < 4:
            raise ConfigError(f"{where}: segment_cells must be an integer >= 4, got {cells!r}")
        parsed.append(SpectralBox(str(box["name"]), pairs["lon"], pairs["lat"], cells))
    names = [b.name for b in parsed]
    if len(set(names)) != len(names):
        raise ConfigError(f"{origin}: [spectral] box names must be unique, got {names}")
    return tuple(parsed)
