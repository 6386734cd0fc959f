"""Noise and artefacts added to EEG at a chosen signal-to-noise ratio.

Four kinds, for testing a pipeline's robustness on one's own recordings
(``benchmarks/bench_noise.py`` measures CRIA and the floors with them):

- :func:`add_white_noise`: independent Gaussian noise on every channel and sample;
- :func:`add_mains_hum`: the power line (50 or 60 Hz) and its harmonics;
- :func:`add_muscle_bursts`: broadband (20-100 Hz) bursts on a few channels;
- :func:`add_electrode_pops`: a sudden step decaying exponentially on one channel.

:func:`add_noise` calls one of them by name (:data:`NOISE_KINDS`), and
:func:`relative_change` measures how far an output (an embedding, a feature
vector) moved under the noise.

**Signal-to-noise ratio.** All take ``snr_db`` and scale the noise of each
example so that

    ``snr_db = 10 * log10(P(signal) / P(noise))``,

where ``P(x)`` is the power of one example over all its channels: the
variance over time of each channel (its mean removed), averaged over
channels (:func:`measure_snr` computes it). Per example, because the
artefacts that matter most are local (a pop on one channel, bursts on a few):
a per-channel ratio is undefined on the channels they leave untouched, whereas
tying the artefact's total power to the example's total power puts all of it
on the channels it hits, as real artefacts do. Over all channels, because the
same per-channel ratio would give the quietest channels the most noise. The
mean of each channel is left out of both powers because the DC offset of
unfiltered recordings carries no EEG and would inflate the signal power.
"""

import numbers

import numpy as np
from scipy.signal import butter, sosfiltfilt
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from . import _check

__all__ = ["NOISE_KINDS", "add_electrode_pops", "add_mains_hum", "add_muscle_bursts",
           "add_noise", "add_white_noise", "measure_snr", "relative_change"]


def _power(X):
    """Power of each example: per-channel variance over time, averaged over channels."""
    return np.asarray(X, dtype=np.float64).var(axis=-1).mean(axis=-1)


def measure_snr(signal, noise):
    """Signal-to-noise ratio of each example, in dB.

    Parameters
    ----------
    signal : array-like of shape (n_examples, n_channels, n_times)
        The clean signal.
    noise : array-like of shape (n_examples, n_channels, n_times)
        What was added to it (the noisy signal minus the clean one).

    Returns
    -------
    snr_db : ndarray of shape (n_examples,)
        ``10 * log10(P(signal) / P(noise))``, with ``P`` the per-channel
        variance over time averaged over channels (see :mod:`sk_cria.noise`).
    """
    signal, noise = _check_array("signal", signal), _check_array("noise", noise)
    if signal.shape != noise.shape:
        raise ValueError(f"signal and noise must have the same shape, got {signal.shape} "
                         f"and {noise.shape}.")
    with np.errstate(divide="ignore"):
        return 10 * np.log10(_power(signal) / _power(noise))


def relative_change(clean, noisy):
    """How far each example's output moved: ``||noisy - clean|| / ||clean||``.

    The stability measure of ``benchmarks/bench_noise.py --stability``: the
    outputs of one transformer (an encoder's embeddings, a floor's features,
    the preprocessed windows) on clean examples and on the same examples with
    noise added, compared example by example in the Euclidean norm over all
    of an example's values.

    Parameters
    ----------
    clean : array-like of shape (n_examples, ...)
        The outputs on the clean examples.
    noisy : array-like of the same shape
        The outputs on the noisy examples.

    Returns
    -------
    change : ndarray of shape (n_examples,)
        The relative change of each example (``inf`` where the clean output
        is all zeros and the noisy one is not; ``nan`` where both are).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria.noise import relative_change
    >>> relative_change([[3.0, 4.0], [1.0, 0.0]], [[3.0, 4.5], [1.0, 0.0]])
    array([0.1, 0. ])
    """
    clean, noisy = np.asarray(clean, dtype=np.float64), np.asarray(noisy, dtype=np.float64)
    if clean.shape != noisy.shape or clean.ndim < 1:
        raise ValueError(f"clean and noisy must be outputs of the same shape (n_examples, "
                         f"...), got {clean.shape} and {noisy.shape}.")
    clean, noisy = clean.reshape(len(clean), -1), noisy.reshape(len(noisy), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.norm(noisy - clean, axis=1) / np.linalg.norm(clean, axis=1)


def add_white_noise(X, snr_db, *, random_state=None):
    """Add Gaussian white noise, independent on every channel and sample.

    Parameters
    ----------
    X : array-like of shape (n_examples, n_channels, n_times)
        EEG, e.g. in microvolts; not modified.
    snr_db : float
        Signal-to-noise ratio of each example in dB (see :mod:`sk_cria.noise`
        for the definition); lower is noisier, 0 is noise as strong as the
        signal.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise (scikit-learn's convention).

    Returns
    -------
    X_noisy : ndarray of shape (n_examples, n_channels, n_times)
        ``X`` plus the noise, in ``X``'s floating dtype (float64 for integer
        input).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria.noise import add_white_noise, measure_snr
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 400))
    >>> noisy = add_white_noise(X, snr_db=0.0, random_state=0)
    >>> measure_snr(X, noisy - X).round(6)
    array([0., 0., 0., 0.])
    """
    X, snr_db, rng = _check_common(X, snr_db, random_state)
    return _add(X, rng.standard_normal(X.shape), snr_db)


def add_mains_hum(X, sfreq, snr_db, *, line_freq=50.0, n_harmonics=3, random_state=None):
    """Add power-line hum: a sinusoid at the mains frequency and its harmonics.

    The hum is common to all channels (one phase per example and harmonic),
    with a random gain per channel (uniform in [0.5, 1.5]), as unequal
    electrode impedances let the same field in unequally; harmonic ``k`` has
    amplitude ``1 / k``.

    Parameters
    ----------
    X : array-like of shape (n_examples, n_channels, n_times)
        EEG, e.g. in microvolts; not modified.
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    snr_db : float
        Signal-to-noise ratio of each example in dB (see :mod:`sk_cria.noise`).
    line_freq : float, default=50.0
        Mains frequency in Hz (50 in Europe and most of Asia, 60 in the
        Americas); it must be below the Nyquist frequency ``sfreq / 2``.
    n_harmonics : int, default=3
        Number of components: the fundamental and its multiples up to
        ``n_harmonics * line_freq``; those at or above the Nyquist frequency
        are left out (they would alias).
    random_state : int, RandomState instance or None, default=None
        Seed of the phases and gains.

    Returns
    -------
    X_noisy : ndarray of shape (n_examples, n_channels, n_times)
        ``X`` plus the hum, in ``X``'s floating dtype.
    """
    X, snr_db, rng = _check_common(X, snr_db, random_state)
    sfreq = _check_sfreq(sfreq)
    line_freq = _check.check_number(line_freq, "line_freq", low=0, low_open=True,
                                    fix="Give the mains frequency in Hz (50 or 60).")
    if line_freq >= sfreq / 2:
        raise ValueError(f"line_freq={line_freq:g} Hz must be below the Nyquist frequency "
                         f"sfreq / 2 = {sfreq / 2:g} Hz of the data.")
    n_harmonics = _check.check_number(n_harmonics, "n_harmonics", integer=True, low=1)
    n, c, t = X.shape
    time = np.arange(t) / sfreq
    noise = np.zeros(X.shape)
    for k in range(1, n_harmonics + 1):
        if k * line_freq >= sfreq / 2:
            break
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        noise += np.sin(2 * np.pi * k * line_freq * time + phase) / k
    noise *= rng.uniform(0.5, 1.5, size=(n, c, 1))
    return _add(X, noise, snr_db)


def add_muscle_bursts(X, sfreq, snr_db, *, band=(20.0, 100.0), n_channels=3, n_bursts=2,
                      burst_duration=(0.1, 0.5), random_state=None):
    """Add muscle-like artefacts: short bursts of band-limited noise on a few channels.

    Each example gets ``n_bursts`` bursts on each of ``n_channels`` channels
    drawn at random; a burst is Gaussian noise band-passed to ``band``
    (4th-order Butterworth, zero phase) under a Hann envelope, of a duration
    drawn uniformly in ``burst_duration``, at a random time.

    Parameters
    ----------
    X : array-like of shape (n_examples, n_channels, n_times)
        EEG, e.g. in microvolts; not modified.
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    snr_db : float
        Signal-to-noise ratio of each example in dB (see :mod:`sk_cria.noise`):
        all of the artefact's power is on the channels it hits.
    band : tuple of (float, float), default=(20.0, 100.0)
        Band of the bursts in Hz (surface EMG spreads over about 20-150 Hz);
        the upper edge is capped at 0.45 ``sfreq`` (below the Nyquist
        frequency), and the lower edge must lie under that cap.
    n_channels : int, default=3
        Channels hit per example (all of them if the data have fewer).
    n_bursts : int, default=2
        Bursts per hit channel and example.
    burst_duration : tuple of (float, float), default=(0.1, 0.5)
        Range of the burst durations in seconds (a burst longer than the
        example is cut to it).
    random_state : int, RandomState instance or None, default=None
        Seed of the noise, channels, times and durations.

    Returns
    -------
    X_noisy : ndarray of shape (n_examples, n_channels, n_times)
        ``X`` plus the bursts, in ``X``'s floating dtype.
    """
    X, snr_db, rng = _check_common(X, snr_db, random_state)
    sfreq = _check_sfreq(sfreq)
    low, high = _check_range("band", band, "Give (low, high) in Hz, e.g. (20.0, 100.0).")
    high = min(high, 0.45 * sfreq)
    if low >= high:
        raise ValueError(f"band={tuple(band)!r}: its lower edge must lie below "
                         f"0.45 * sfreq = {0.45 * sfreq:g} Hz (the upper edge is capped "
                         "there, below the Nyquist frequency); lower it or use data of a "
                         "higher sampling rate.")
    n_channels = _check.check_number(n_channels, "n_channels", integer=True, low=1)
    n_bursts = _check.check_number(n_bursts, "n_bursts", integer=True, low=1)
    shortest, longest = _check_range("burst_duration", burst_duration,
                                     "Give (shortest, longest) in seconds, e.g. (0.1, 0.5).")
    n, c, t = X.shape
    hit = min(n_channels, c)
    carrier = rng.standard_normal((n, hit, t))
    sos = butter(4, (low, high), btype="bandpass", fs=sfreq, output="sos")
    carrier = sosfiltfilt(sos, carrier, axis=-1, padlen=min(t - 1, 3 * 2 * len(sos) + 3))
    envelope = np.zeros((n, hit, t))
    for i in range(n):
        for j in range(hit):
            for _ in range(n_bursts):
                # At least 2 samples: a Hann window of one sample is zero.
                length = int(np.clip(round(rng.uniform(shortest, longest) * sfreq), 2, t))
                start = rng.randint(0, t - length + 1)
                envelope[i, j, start:start + length] += np.hanning(length + 2)[1:-1]
    noise = np.zeros(X.shape)
    channels = np.array([rng.choice(c, size=hit, replace=False) for _ in range(n)])
    noise[np.arange(n)[:, None], channels] = carrier * envelope
    return _add(X, noise, snr_db)


def add_electrode_pops(X, sfreq, snr_db, *, n_pops=1, decay=0.3, random_state=None):
    """Add electrode pops: a sudden step decaying exponentially, on one channel.

    Each pop hits one channel drawn at random, at a time drawn uniformly over
    the example, with a random sign; it jumps at once and decays as
    ``exp(-(t - onset) / decay)``, as an electrode whose contact changes
    abruptly recharges.

    Parameters
    ----------
    X : array-like of shape (n_examples, n_channels, n_times)
        EEG, e.g. in microvolts; not modified.
    sfreq : float
        Sampling frequency of ``X`` in Hz.
    snr_db : float
        Signal-to-noise ratio of each example in dB (see :mod:`sk_cria.noise`):
        all of the pop's power is on the channel it hits.
    n_pops : int, default=1
        Pops per example (each on its own random channel and time).
    decay : float, default=0.3
        Time constant of the decay in seconds.
    random_state : int, RandomState instance or None, default=None
        Seed of the channels, times and signs.

    Returns
    -------
    X_noisy : ndarray of shape (n_examples, n_channels, n_times)
        ``X`` plus the pops, in ``X``'s floating dtype.
    """
    X, snr_db, rng = _check_common(X, snr_db, random_state)
    sfreq = _check_sfreq(sfreq)
    n_pops = _check.check_number(n_pops, "n_pops", integer=True, low=1)
    decay = _check.check_number(decay, "decay", low=0, low_open=True,
                                fix="Give the decay time constant in seconds.")
    n, c, t = X.shape
    time = np.arange(t) / sfreq
    noise = np.zeros(X.shape)
    for i in range(n):
        for _ in range(n_pops):
            # Onset before the last sample, so that every pop changes the example's variance.
            channel, onset = rng.randint(c), rng.randint(t - 1)
            after = time[onset:] - time[onset]
            noise[i, channel, onset:] += rng.choice((-1.0, 1.0)) * np.exp(-after / decay)
    return _add(X, noise, snr_db)


#: Name -> noise function, for :func:`add_noise`.
NOISE_KINDS = {
    "white": add_white_noise,
    "mains": add_mains_hum,
    "muscle": add_muscle_bursts,
    "pops": add_electrode_pops,
}


def add_noise(X, kind, snr_db, sfreq, *, random_state=None, **options):
    """Add noise of a kind named in :data:`NOISE_KINDS`.

    Parameters
    ----------
    X : array-like of shape (n_examples, n_channels, n_times)
        EEG, e.g. in microvolts; not modified.
    kind : {"white", "mains", "muscle", "pops"}
        :func:`add_white_noise`, :func:`add_mains_hum`,
        :func:`add_muscle_bursts` or :func:`add_electrode_pops`.
    snr_db : float
        Signal-to-noise ratio of each example in dB (see :mod:`sk_cria.noise`).
    sfreq : float
        Sampling frequency of ``X`` in Hz (white noise does not use it).
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.
    **options
        Further keyword arguments of that function (``line_freq``...).

    Returns
    -------
    X_noisy : ndarray of shape (n_examples, n_channels, n_times)
        ``X`` plus the noise, in ``X``'s floating dtype.
    """
    _check.one_of(tuple(NOISE_KINDS))("kind", kind)
    if kind == "white":
        _check_sfreq(sfreq)
        return add_white_noise(X, snr_db, random_state=random_state, **options)
    return NOISE_KINDS[kind](X, sfreq, snr_db, random_state=random_state, **options)


# ------------------------------------------------------------------ internals
def _check_array(name, X):
    if not hasattr(X, "shape") and not isinstance(X, (list, tuple)):
        raise TypeError(f"{name} must be an array of shape (n_examples, n_channels, "
                        f"n_times), got {type(X).__name__}.")
    X = check_array(X, allow_nd=True, dtype="numeric", ensure_all_finite=True,
                    ensure_2d=False, input_name=name)
    if X.ndim != 3:
        raise ValueError(f"{name} must be a 3-D array (n_examples, n_channels, n_times), "
                         f"got shape {X.shape}; add an axis for a single example or "
                         "channel (X[np.newaxis] or X[:, np.newaxis]).")
    return X


def _check_common(X, snr_db, random_state):
    X = _check_array("X", X)
    snr_db = _check.check_number(snr_db, "snr_db",
                                 fix="Give the signal-to-noise ratio in dB, e.g. 0.0.")
    _check.random_state("random_state", random_state)
    return X, snr_db, check_random_state(random_state)


def _check_sfreq(sfreq):
    return _check.check_number(sfreq, "sfreq", low=0, low_open=True,
                               fix="Give the sampling frequency of X in Hz.")


def _check_range(name, value, fix):
    """A (low, high) pair of positive numbers with low <= high."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                       for v in value)):
        raise TypeError(f"{name} must be a pair of numbers (low, high), got {value!r}. {fix}")
    low, high = value
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise ValueError(f"{name} must satisfy 0 < low <= high, got {tuple(value)!r}. {fix}")
    return float(low), float(high)


def _add(X, noise, snr_db):
    """``X + noise``, the noise of each example scaled to ``snr_db``."""
    signal = _power(X)
    flat = np.flatnonzero(signal == 0)
    if flat.size:
        raise ValueError(f"X: example(s) {flat[:10].tolist()} are constant on every channel "
                         "(zero signal power), so no noise can be set relative to it; "
                         "leave them out.")
    scale = np.sqrt(signal / (_power(noise) * 10 ** (snr_db / 10)))
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    return (X + noise * scale[:, None, None]).astype(dtype, copy=False)
