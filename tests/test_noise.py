"""sk_cria.noise on real eegmat windows: the SNR asked is the SNR added, reproducibly."""

import numpy as np
import pytest
from scipy.signal import welch

from sk_cria.noise import (NOISE_KINDS, add_electrode_pops, add_mains_hum, add_muscle_bursts,
                           add_noise, add_white_noise, measure_snr, relative_change)

SFREQ = 500.0  # eegmat_small's rate


@pytest.fixture(scope="module")
def windows(eegmat_small):
    """Five real microvolt windows (float32), 20 channels, 5 s at 500 Hz."""
    return np.ascontiguousarray(eegmat_small.data[::40][:12], dtype=np.float32)


@pytest.mark.parametrize("kind", list(NOISE_KINDS))
@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 15.0])
def test_measured_snr_is_asked_snr(windows, kind, snr_db):
    noisy = add_noise(windows, kind, snr_db, SFREQ, random_state=0)
    measured = measure_snr(windows, noisy.astype(np.float64) - windows)
    np.testing.assert_allclose(measured, snr_db, atol=0.01)


@pytest.mark.parametrize("kind", list(NOISE_KINDS))
def test_shape_dtype_kept_input_untouched_reproducible(windows, kind):
    before = windows.copy()
    noisy = add_noise(windows, kind, 0.0, SFREQ, random_state=3)
    assert noisy.shape == windows.shape and noisy.dtype == np.float32
    np.testing.assert_array_equal(windows, before)
    np.testing.assert_array_equal(noisy, add_noise(windows, kind, 0.0, SFREQ, random_state=3))
    assert not np.array_equal(noisy, add_noise(windows, kind, 0.0, SFREQ, random_state=4))
    rng = np.random.RandomState(3)
    assert np.array_equal(add_noise(windows, kind, 0.0, SFREQ, random_state=rng), noisy)
    noisy64 = add_noise(windows.astype(np.float64), kind, 0.0, SFREQ, random_state=3)
    assert noisy64.dtype == np.float64
    ints = add_noise(np.round(windows).astype(np.int32), kind, 0.0, SFREQ, random_state=3)
    assert ints.dtype == np.float64


def _noise(noisy, clean):
    return noisy.astype(np.float64) - clean


def _spectrum(noise, sfreq):
    """Power per frequency bin (no taper: the tones fall on exact bins of whole windows)."""
    return (np.fft.rfftfreq(noise.shape[-1], 1 / sfreq),
            (np.abs(np.fft.rfft(noise, axis=-1)) ** 2).mean(axis=(0, 1)))


def test_mains_hum_sits_at_line_frequency_and_harmonics(windows):
    hum = _noise(add_mains_hum(windows, SFREQ, 0.0, line_freq=60.0, random_state=0), windows)
    freqs, spectrum = _spectrum(hum, SFREQ)
    top = np.argsort(spectrum)[::-1][:3]
    assert freqs[top].tolist() == [60.0, 120.0, 180.0]
    # Harmonic k has amplitude 1 / k.
    np.testing.assert_allclose(spectrum[top] / spectrum[top[0]], [1, 1 / 4, 1 / 9], rtol=1e-3)
    assert spectrum[top].sum() > 0.999 * spectrum.sum()
    # At 100 Hz (Nyquist 50 Hz) the harmonics of 20 Hz at 60 Hz and above would alias:
    # left out.
    low = _noise(add_mains_hum(windows[:, :, ::5], 100.0, 0.0, line_freq=20.0,
                               n_harmonics=5, random_state=0), windows[:, :, ::5])
    freqs, spectrum = _spectrum(low, 100.0)
    assert spectrum[(freqs == 20.0) | (freqs == 40.0)].sum() > 0.999 * spectrum.sum()


def test_muscle_bursts_are_broadband_short_and_on_few_channels(windows):
    bursts = _noise(add_muscle_bursts(windows, SFREQ, 0.0, n_channels=2, random_state=0),
                    windows)
    hit = (np.abs(bursts) > 0).any(axis=-1)
    assert (hit.sum(axis=1) == 2).all()
    freqs, psd = welch(bursts, fs=SFREQ, nperseg=500, axis=-1)
    spectrum = psd.sum(axis=(0, 1))
    in_band = spectrum[(freqs >= 20) & (freqs <= 100)].sum() / spectrum.sum()
    assert in_band > 0.9
    # Short: two bursts of at most 0.5 s leave most of the 5 s window untouched.
    active = (np.abs(bursts[hit]) > 1e-9 * np.abs(bursts).max()).mean(axis=-1)
    assert (active <= 2 * 0.5 / 5 + 0.01).all()


def test_electrode_pop_is_a_decaying_step_on_one_channel(windows):
    pops = _noise(add_electrode_pops(windows, SFREQ, 0.0, decay=0.2, random_state=0), windows)
    for pop in pops:
        channels = np.flatnonzero(np.abs(pop).max(axis=-1) > 0)
        assert len(channels) == 1
        trace = pop[channels[0]]
        onset = np.flatnonzero(trace)[0]
        # Full height at the onset, exp(-1) of it one time constant later.
        after = trace[onset:]
        assert np.abs(after).argmax() == 0
        if len(after) > 100:
            np.testing.assert_allclose(after[100] / after[0], np.exp(-1), rtol=1e-3)


@pytest.mark.parametrize("call, error, match", [
    (lambda X: add_white_noise(X, np.nan), ValueError, "snr_db must be a number"),
    (lambda X: add_white_noise(X, "10"), TypeError, "snr_db must be a number"),
    (lambda X: add_white_noise(X, 0.0, random_state=-1), ValueError, "random_state"),
    (lambda X: add_white_noise(X[0], 0.0), ValueError, r"X must be a 3-D array.*got shape"),
    (lambda X: add_white_noise("eeg", 0.0), TypeError, "X must be an array"),
    (lambda X: add_white_noise(np.where(X > 0, np.nan, X), 0.0), ValueError, "NaN"),
    (lambda X: add_white_noise(np.concatenate([X, 0 * X[:1] + 7]), 0.0), ValueError,
     r"example\(s\) \[5\] are constant"),
    (lambda X: add_mains_hum(X, 0.0, 0.0), ValueError, "sfreq must be a number > 0"),
    (lambda X: add_mains_hum(X, SFREQ, 0.0, line_freq=250.0), ValueError,
     "line_freq=250 Hz must be below the Nyquist frequency"),
    (lambda X: add_mains_hum(X, SFREQ, 0.0, n_harmonics=0), ValueError, "n_harmonics"),
    (lambda X: add_muscle_bursts(X, 40.0, 0.0), ValueError, "its lower edge must lie below"),
    (lambda X: add_muscle_bursts(X, SFREQ, 0.0, band=(50, 20)), ValueError, "0 < low <= high"),
    (lambda X: add_muscle_bursts(X, SFREQ, 0.0, band=20), TypeError, "band must be a pair"),
    (lambda X: add_muscle_bursts(X, SFREQ, 0.0, n_channels=0), ValueError, "n_channels"),
    (lambda X: add_muscle_bursts(X, SFREQ, 0.0, burst_duration=(0, 1)), ValueError,
     "burst_duration must satisfy"),
    (lambda X: add_electrode_pops(X, SFREQ, 0.0, decay=0), ValueError, "decay must be"),
    (lambda X: add_electrode_pops(X, SFREQ, 0.0, n_pops=1.5), ValueError, "n_pops"),
    (lambda X: add_noise(X, "pink", 0.0, SFREQ), ValueError,
     r"kind must be one of \('white', 'mains', 'muscle', 'pops'\)"),
    (lambda X: add_noise(X, "white", 0.0, None), TypeError, "sfreq must be a number"),
    (lambda X: measure_snr(X, X[:, :3]), ValueError, "same shape"),
])
def test_bad_parameters_are_refused(windows, call, error, match):
    with pytest.raises(error, match=match):
        call(windows)


@pytest.mark.slow  # a benchmark run
def test_bench_noise_runs_end_to_end(data_path, tmp_path):
    """benchmarks/bench_noise.py at a toy size: two subjects, one kind, one SNR."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_noise.py"
    spec = importlib.util.spec_from_file_location("bench_noise", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--data", str(data_path), "--task", "eegmat", "--subjects", "32", "33",
                "--folds", "2", "--kinds", "pops", "--snrs", "-20", "--seeds", "1",
                "--pipelines", "cria_probe_pretrained", "band_power", "--out", str(tmp_path)])
    frame = pd.read_csv(tmp_path / "results.csv")
    # Two pipelines x two folds, each scored clean and with pops at -20 dB.
    assert len(frame) == 8
    assert set(frame.noise) == {"none", "pops"} and frame.bacc.between(0, 1).all()
    report = (tmp_path / "results.md").read_text()
    assert "## eegmat: pops" in report and "| cria_probe_pretrained | 2 |" in report
    assert (tmp_path / "results.png").stat().st_size > 0


def test_relative_change_per_example(windows):
    noisy = add_white_noise(windows, 20.0, random_state=0)
    change = relative_change(windows, noisy)
    assert change.shape == (len(windows),)
    # 20 dB below the signal: the noise's norm is a tenth of the signal's, up to the
    # channel means, which the SNR leaves out and the norms count (a fraction of a percent).
    np.testing.assert_allclose(change, 0.1, rtol=0.01)
    np.testing.assert_array_equal(relative_change(windows, windows), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        relative_change(windows, windows[:, :3])
