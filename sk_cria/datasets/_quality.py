"""Loose and dead electrodes, NaN samples: which windows and channels pre-training leaves out.

The rule, per window and channel: the standard deviation of the channel in
the window, in microvolts, after a :data:`DRIFT_CUTOFF` Hz high-pass (slow
drift of a DC-coupled amplifier is no loose contact, and the preprocessing
removes it anyway), is

* **flat** (a dead channel) below ``flat_sd`` (default :data:`FLAT_SD`): real
  EEG stays above about 2 uV over 10 s, a dead Muse channel moves by one
  quantisation step (0.49 uV);
* **loose** (saturated or a lost contact) above ``loose_sd`` (default
  :data:`LOOSE_SD`, the 200 uV of issue 26).

* **non-finite** where the window holds a NaN or infinite sample (a gap a
  recorder filled with NaN, an overflow): the model cannot take it, and a
  single one would stop a whole training run at the batch that reaches it.
  This test cannot be disabled.

A channel that is flat, loose or non-finite in more than
:data:`BAD_CHANNEL_FRACTION` of a recording's windows is left out of that
recording (its other channels are kept); then every window in which a
remaining channel is so is left out. The model has no per-channel mask in
pre-training (its view-masking pretext encodes every channel of a window), so
a window is kept whole or
dropped.
"""

from collections import Counter

import numpy as np
from scipy import signal

__all__ = ["BAD_CHANNEL_FRACTION", "DRIFT_CUTOFF", "FLAT_SD", "KINDS", "LOOSE_SD",
           "check_thresholds",
           "judge_windows", "window_sd"]

#: Standard deviation (uV) under which a channel is flat in a window.
FLAT_SD = 0.5
#: Standard deviation (uV) above which a channel is loose (or saturated) in a window.
LOOSE_SD = 200.0
#: A channel bad in more than this share of a recording's windows is left out of it.
BAD_CHANNEL_FRACTION = 0.5
#: High-pass (Hz) applied before the standard deviation: drift is not a loose contact.
DRIFT_CUTOFF = 0.5
#: What a channel can be in a window that leaves the window out.
KINDS = ("flat", "loose", "non-finite")


def check_thresholds(flat_sd, loose_sd):
    """Refuse thresholds that would call every channel flat or loose."""
    if flat_sd is not None and loose_sd is not None and flat_sd >= loose_sd:
        raise ValueError(
            f"flat_sd={flat_sd!r} must be below loose_sd={loose_sd!r} (uV): every channel "
            "would be flat or loose. Give flat_sd < loose_sd, or None to disable one test."
        )


def window_sd(data, sfreq):
    """Standard deviation of each channel of each window after the drift high-pass.

    Parameters
    ----------
    data : ndarray of shape (n_windows, n_channels, n_times)
        Windows in microvolts.
    sfreq : float

    Returns
    -------
    sd : ndarray of shape (n_windows, n_channels)
        NaN where the channel holds a NaN or infinite sample in the window.
    """
    sos = signal.butter(2, DRIFT_CUTOFF, "highpass", fs=sfreq, output="sos")
    finite = np.isfinite(data).all(axis=-1)
    data = np.where(finite[..., np.newaxis], data, 0.0)  # no NaN arithmetic, no warnings
    # Zero phase with the signal's own mean as the start: no edge transient.
    filtered = signal.sosfiltfilt(sos, data - data.mean(axis=-1, keepdims=True), axis=-1)
    return np.where(finite, filtered.std(axis=-1), np.nan)


def judge_windows(sd, ch_names, flat_sd=FLAT_SD, loose_sd=LOOSE_SD):
    """Which channels of a recording and which of its windows pre-training keeps.

    Parameters
    ----------
    sd : ndarray of shape (n_windows, n_channels)
        :func:`window_sd` of every window of the recording.
    ch_names : sequence of str
    flat_sd, loose_sd : float or None
        The thresholds in uV; None disables one.

    Returns
    -------
    channels : ndarray of bool, shape (n_channels,)
        The channels kept.
    windows : ndarray of bool, shape (n_windows,)
        The windows kept (judged on the channels kept).
    bad : collections.Counter
        ``(channel, "flat" | "loose" | "non-finite")`` -> windows in which it
        was so (all windows, also those of a channel left out).
    """
    # NaN compares False with both thresholds: a window with a NaN or infinite
    # sample is caught here, whatever the thresholds.
    non_finite = ~np.isfinite(sd)
    flat = sd < flat_sd if flat_sd is not None else np.zeros(sd.shape, bool)
    loose = sd > loose_sd if loose_sd is not None else np.zeros(sd.shape, bool)
    bad = Counter()
    for j, name in enumerate(ch_names):
        for kind, mask in zip(KINDS, (flat, loose, non_finite)):
            if mask[:, j].any():
                bad[(name, kind)] = int(mask[:, j].sum())
    either = flat | loose | non_finite
    channels = ~(either.mean(axis=0) > BAD_CHANNEL_FRACTION) if len(sd) else \
        np.ones(len(ch_names), bool)
    windows = ~either[:, channels].any(axis=1)
    return channels, windows, bad
