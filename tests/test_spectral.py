"""Effective resolution on a field of known (white) spectrum and a known low-pass reconstruction."""

import numpy as np
import pytest

from reconbench.benchmark.spectral import (
    EARTH_RADIUS_KM,
    effective_resolution,
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
