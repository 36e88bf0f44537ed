"""Effective resolution on a field of known (white) spectrum and a known low-pass reconstruction."""

import numpy as np
import pytest
from scipy.signal import periodogram

from reconbench.benchmark.spectral import (
    EARTH_RADIUS_KM,
    WAVELENGTH_EDGES_KM,
    SpectralBox,
    effective_resolution,
    hann_periodogram,
    ocean_segments,
    psd_score,
    zonal_spectra,
)


def test_ocean_segments_cut_runs_into_whole_segments():
    row = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1], bool)
    assert ocean_segments(row, 4) == [slice(0, 4), slice(6, 10), slice(10, 14)]


def lowpass(field: np.ndarray, cutoff_km: float, dx: float) -> np.ndarray:
    """Remove every zonal wavelength shorter than ``cutoff_km`` (periodic rows)."""
    spectrum = np.fft.rfft(field, axis=-1)
    freq = np.fft.rfftfreq(field.shape[-1], d=dx)
    spectrum[..., freq > 1 / cutoff_km] = 0
    return np.fft.irfft(spectrum, n=field.shape[-1], axis=-1)


@pytest.mark.parametrize("cutoff_km", [1000.0, 3000.0])
def test_a_low_pass_reconstruction_is_resolved_down_to_its_cutoff(cutoff_km):
    rng = np.random.default_rng(0)
    lat, lon = np.array([-0.5, 0.5]), np.arange(0.0, 360.0, 1.0)
    dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(0.5)) * np.deg2rad(1.0)
    truth = rng.standard_normal((40, 2, 360))  # white: flat spectrum
    recon = lowpass(truth, cutoff_km, dx)
    ocean = np.ones((2, 360), bool)
    wavelength, p_truth, p_error = zonal_spectra(truth, recon, ocean, lat, lon, length=120)
    score = psd_score(p_truth, p_error)
    # the truth's spectrum is flat (within sampling noise), scales above the cutoff are kept
    known = np.isfinite(p_truth)
    assert np.nanstd(p_truth) / np.nanmean(p_truth) < 0.3
    assert (score[known & (wavelength > 2 * cutoff_km)] > 0.9).all()
    assert (score[known & (wavelength < cutoff_km / 2)] < 0.1).all()
    assert effective_resolution(wavelength, score) == pytest.approx(cutoff_km, rel=0.25)
    # a perfect reconstruction resolves every scale; the climatology none
    _, _, zero = zonal_spectra(truth, truth, ocean, lat, lon, length=120)
    assert effective_resolution(wavelength, psd_score(p_truth, zero)) == wavelength[known].min()
    _, _, full = zonal_spectra(truth, 0 * truth, ocean, lat, lon, length=120)
    assert np.isnan(effective_resolution(wavelength, psd_score(p_truth, full)))


@pytest.mark.parametrize("n", [16, 15])
def test_hann_periodogram_equals_scipy_periodogram(n):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, n)) + 0.3 * np.arange(n)  # with a trend to remove
    freq, power = hann_periodogram(x)
    ref_freq, ref_power = periodogram(x, fs=1.0, window="hann", detrend="linear", axis=-1)
    np.testing.assert_allclose(freq, ref_freq, rtol=1e-12)
    np.testing.assert_allclose(power, ref_power, rtol=1e-10, atol=1e-12 * ref_power.max())


def reference_zonal_spectra(truth, recon, ocean, lat, lon, length):
    """Segment by segment with scipy.signal.periodogram, binned as zonal_spectra states."""
    dlon = np.deg2rad(abs(float(lon[1] - lon[0])))
    n_bins = WAVELENGTH_EDGES_KM.size - 1
    sums, counts = np.zeros((2, n_bins)), np.zeros(n_bins)
    for j, latitude in enumerate(lat):
        dx = EARTH_RADIUS_KM * np.cos(np.deg2rad(latitude)) * dlon
        for seg in ocean_segments(ocean[j], length):
            for which, field in enumerate([truth, recon - truth]):
                freq, power = periodogram(field[:, j, seg], fs=1.0, window="hann",
                                          detrend="linear", axis=-1)
                for f, p in zip(freq[1:], power[:, 1:].sum(axis=0), strict=True):
                    b = np.digitize(dx / f, WAVELENGTH_EDGES_KM) - 1
                    if 0 <= b < n_bins:
                        sums[which, b] += p * dx
                        counts[b] += truth.shape[0] if which == 0 else 0
    with np.errstate(invalid="ignore"):
        return sums[0] / counts, sums[1] / counts


def test_zonal_spectra_equal_scipy_segment_by_segment():
    rng = np.random.default_rng(2)
    lat, lon = np.arange(-60.0, 61.0, 8.0), np.arange(0.0, 360.0, 4.0)
    ocean = rng.random((lat.size, lon.size)) < 0.85
    ocean[:, 10:40] = True  # long runs too
    truth = rng.standard_normal((3, lat.size, lon.size)).cumsum(axis=-1)
    recon = truth + 0.5 * rng.standard_normal(truth.shape)
    _, p_truth, p_error = zonal_spectra(truth, recon, ocean, lat, lon, length=8)
    ref_truth, ref_error = reference_zonal_spectra(truth, recon, ocean, lat, lon, length=8)
    assert np.isfinite(p_truth).sum() >= 3
    np.testing.assert_allclose(p_truth, ref_truth, rtol=1e-10)
    np.testing.assert_allclose(p_error, ref_error, rtol=1e-10)


def test_box_mask_keeps_the_cells_inside_also_across_the_dateline():
    lat, lon = np.array([-40.0, 0.0, 40.0]), np.arange(-180.0, 180.0, 30.0)
    box = SpectralBox("pacific", lon=(150.0, -150.0), lat=(-10.0, 50.0))
    mask = box.mask(lat, lon)
    assert mask[0].sum() == 0 and (mask[1] == mask[2]).all()
    assert sorted(lon[mask[1]]) == [-180.0, -150.0, 150.0]
    # the same box in 0-360 longitudes
    assert sorted(lon[box.mask(lat, np.mod(lon, 360))[2]]) == [-180.0, -150.0, 150.0]


def test_spectral_rows_score_each_box_on_its_own_segments():
    from reconbench.benchmark.cells import spectral_rows
    from reconbench.datasets.grid import Grid

    rng = np.random.default_rng(3)
    lat, lon, depth = np.arange(-58.0, 60.0, 4.0), np.arange(0.0, 360.0, 2.0), np.array([5.0])
    grid = Grid(lat=lat, lon=lon, depth=depth, ocean=np.ones((1, lat.size, lon.size), bool))
    truth = rng.standard_normal((2, 1, lat.size, lon.size)).cumsum(axis=-1)
    recon = truth.copy()
    recon[..., :, 90:] += rng.standard_normal(recon[..., :, 90:].shape)  # east half noisy
    boxes = (SpectralBox("west", (0.0, 170.0), (-30.0, 30.0)),
             SpectralBox("east", (180.0, 350.0), (-30.0, 30.0), segment_cells=20))
    rows = spectral_rows(truth, recon, grid, boxes)
    assert set(rows.point_set) == {"spectral", "spectral:west", "spectral:east"}
    for box in boxes:
        mine = rows[(rows.point_set == f"spectral:{box.name}") & rows.depth.isna()]
        wavelength, p_truth, p_error = zonal_spectra(
            truth[:, 0], recon[:, 0], box.mask(lat, lon), lat, lon, box.segment_cells)
        score = psd_score(p_truth, p_error)
        resolution = mine[mine.metric == "effective_resolution_km"].value.item()
        assert resolution == pytest.approx(effective_resolution(wavelength, score), nan_ok=True)
        psd = mine[mine.metric.str.startswith("psd_score_")]
        bins = psd.metric.str[-2:].astype(int).to_numpy()
        np.testing.assert_allclose(psd.value, score[bins])
        assert np.isfinite(score).sum() == bins.size > 0
    west = rows[(rows.point_set == "spectral:west") & rows.metric.str.startswith("psd_score_")]
    east = rows[(rows.point_set == "spectral:east") & rows.metric.str.startswith("psd_score_")]
    assert (west.value == 1).all() and east.value.min() < 0  # west exact, east noisy
