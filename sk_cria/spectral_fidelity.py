"""Spectral fidelity: does an embedding keep what the spectrum of its input shows?

A diagnostic for encoders (issue 21): real EEG windows get a sinusoid at one of
a few frequencies added to some of their channels, at a fixed signal-to-noise
ratio; a linear probe then decodes the frequency from the embeddings and, as
the reference, from the log power spectrum of the same windows. An encoder
that keeps the spectral information of its input decodes about as well as the
spectrum does.
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

__all__ = ["add_sinusoids", "log_power_spectrum", "probe_accuracy"]


def add_sinusoids(X, sfreq, frequencies, snr_db, channels, random_state=None):
    """Add a sinusoid of a randomly drawn frequency to some channels of each window.

    Parameters
    ----------
    X : ndarray of shape (n_windows, n_channels, n_times)
        EEG windows (any unit).
    sfreq : float
        Sampling rate of ``X`` in Hz.
    frequencies : sequence of float
        The candidate frequencies in Hz; each window gets one of them, drawn
        so that every frequency is used equally often (up to one window).
    snr_db : float
        Power of the sinusoid relative to the power (variance) of the channel
        it is added to, in dB, channel by channel and window by window, so
        that the ratio is the same whatever the channel's amplitude.
    channels : sequence of int
        The channels that receive the sinusoid (the others are unchanged).
    random_state : int, RandomState or None, default=None
        Draws the frequencies and a random phase per window.

    Returns
    -------
    X_out : ndarray, same shape and dtype as ``X``
    y : ndarray of int, shape (n_windows,)
        Index into ``frequencies`` of each window's sinusoid.
    """
    rng = check_random_state(random_state)
    X = np.asarray(X)
    n_windows, _, n_times = X.shape
    frequencies = np.asarray(frequencies, dtype=float)
    y = rng.permutation(np.arange(n_windows) % len(frequencies))
    phase = rng.uniform(0, 2 * np.pi, size=(n_windows, 1))
    t = np.arange(n_times) / sfreq
    # Unit-power sinusoids (amplitude sqrt(2)), scaled to each channel's power.
    waves = np.sqrt(2) * np.sin(2 * np.pi * frequencies[y][:, None] * t + phase)
    channels = list(channels)
    power = X[:, channels].var(axis=-1, keepdims=True)
    X_out = X.copy()
    X_out[:, channels] += (np.sqrt(power * 10 ** (snr_db / 10)) * waves[:, None]).astype(X.dtype)
    return X_out, y


def log_power_spectrum(X, sfreq, fmin=1.0, fmax=45.0):
    """Welch log power spectrum in 1 Hz bins, channels concatenated.

    Parameters
    ----------
    X : ndarray of shape (n_windows, n_channels, n_times)
        At least one second long.
    sfreq : float
    fmin, fmax : float, default=1.0, 45.0
        Band kept, inclusive.

    Returns
    -------
    ndarray of shape (n_windows, n_channels * n_bins)
    """
    # One-second segments give 1 Hz bins.
    freqs, power = signal.welch(np.asarray(X, dtype=np.float64), fs=sfreq, nperseg=int(sfreq))
    band = (freqs >= fmin) & (freqs <= fmax)
    # The floor only keeps a flat channel finite.
    return np.log(power[..., band] + 1e-12).reshape(len(X), -1)


def probe_accuracy(features, y, n_splits=5, random_state=0):
    """Cross-validated accuracy of a standardised logistic-regression probe.

    Parameters
    ----------
    features : ndarray of shape (n_windows, n_features)
    y : ndarray of shape (n_windows,)
    n_splits : int, default=5
        Stratified folds.
    random_state : int, default=0
        Shuffles the folds.

    Returns
    -------
    float
        Mean accuracy over the folds.
    """
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    return float(cross_val_score(probe, features, y, cv=folds, scoring="accuracy").mean())
