"""Reading recordings into fixed-length windows."""

import mne
import numpy as np


def read_edf_windows(file, channels, window, sfreq=None):
    """Cut one EDF recording into non-overlapping windows, in microvolts.

    Returns
    -------
    windows : ndarray of shape (n_windows, n_channels, n_times), float32
    sfreq : float
        The rate of ``windows``.
    """
    raw = mne.io.read_raw_edf(file, preload=False, verbose="error")
    missing = [ch for ch in channels if ch not in raw.ch_names]
    if missing:
        raise ValueError(f"{file} lacks the channels {missing}; it has {raw.ch_names}.")
    raw.pick(list(channels)).load_data(verbose="error")
    if sfreq is not None and sfreq != raw.info["sfreq"]:
        raw.resample(sfreq, verbose="error")
    rate = float(raw.info["sfreq"])
    n_window = int(round(window * rate))
    if n_window < 1:
        raise ValueError(f"window={window} s is shorter than one sample at {rate} Hz.")
    signal = raw.get_data(units="uV").astype(np.float32)
    n_windows = signal.shape[1] // n_window
    if n_windows == 0:
        raise ValueError(
            f"window={window} s is longer than {file} ({signal.shape[1] / rate:.1f} s), "
            "so it holds no window; give a shorter window."
        )
    windows = signal[:, : n_windows * n_window].reshape(len(channels), n_windows, n_window)
    return np.ascontiguousarray(windows.transpose(1, 0, 2)), rate
