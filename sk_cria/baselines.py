"""Ready baseline pipelines for EEG classification: Riemannian, CSP, band power, log-variance.

These are the pipelines CRIA is compared with (design notes, sections 8 and
9): covariances + tangent space + logistic regression, the same over a filter
bank, minimum distance to mean (MDM), common spatial patterns (CSP) + linear
discriminant analysis (the motor-imagery classic), log band power + logistic
regression and log-variance per channel + logistic regression (the simplest
floor), each with an optional per-subject alignment for cross-subject work.
Every factory returns a fresh, unfitted :class:`~sklearn.pipeline.Pipeline`
that takes EEG windows of shape ``(n_windows, n_channels, n_times)`` in
microvolts.

The aligned variants need the subjects as ``groups``, through scikit-learn's
metadata routing, for ``fit`` and for ``predict``::

    import sklearn
    sklearn.set_config(enable_metadata_routing=True)
    pipe = make_mdm_pipeline(sfreq=200.0, recenter=True)
    pipe.fit(X_train, y_train, groups=subjects_train)
    pipe.predict_proba(X_test, groups=subjects_test)

In cross-validation, pass ``params={"groups": subjects}`` and score with
:class:`sk_cria.alignment.GroupScorer`.
"""

from numbers import Real
import warnings

import mne
import numpy as np
from pyriemann.classification import MDM
from pyriemann.estimation import Covariances
from pyriemann.spatialfilters import CSP
from pyriemann.tangentspace import TangentSpace
from scipy.signal import welch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._check import check_eeg_values, check_params, number, one_of
from .alignment import GroupStandardScaler, RiemannianRecentering, _mean_of
from .preprocessing import sfreq_check

__all__ = [
    "BASELINES",
    "BandPassFilter",
    "DEFAULT_BANDS",
    "LogBandPower",
    "MU_BETA_BANDS",
    "LogVariance",
    "get_baselines",
    "make_band_power_pipeline",
    "make_csp_pipeline",
    "make_filter_bank_tangent_space_pipeline",
    "make_log_variance_pipeline",
    "make_mdm_pipeline",
    "make_tangent_space_pipeline",
]

#: Frequency bands (Hz) of :class:`LogBandPower`: delta, theta, alpha, low
#: beta, high beta and gamma up to the 40 Hz edge of the baselines' band-pass.
DEFAULT_BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 20.0), (20.0, 30.0), (30.0, 40.0))
#: Sub-bands (Hz) of :func:`make_filter_bank_tangent_space_pipeline`: 8-30 Hz,
#: the mu and beta rhythms of motor imagery, in four pieces.
MU_BETA_BANDS = ((8.0, 12.0), (12.0, 16.0), (16.0, 22.0), (22.0, 30.0))


_HZ = "Give a frequency in Hz, or None to disable it."


class _SignalTransformer(TransformerMixin, BaseEstimator):
    """Validation shared by the transformers of EEG windows."""

    #: Parameter -> check (sk_cria._check.check_params); subclasses add theirs.
    _PARAM_CHECKS = {"sfreq": sfreq_check(hint="Give the sampling rate of the windows in "
                                                "Hz, e.g. sfreq=200.")}

    def fit(self, X, y=None):
        """Check the windows and the sampling rate; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times)
            EEG windows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        X = self._check_windows(X)
        self.n_channels_ = X.shape[1]
        return self

    def _check_params(self):
        check_params(self, self._PARAM_CHECKS)

    def _check_windows(self, X, *, fitted=False):
        # float16 is computed in float64: its squares overflow at 256 (LogVariance gave inf).
        X = check_eeg_values(X, type(self).__name__, dtype=(np.float64, np.float32))
        if X.ndim != 3:
            raise ValueError(
                "Expected EEG windows of shape (n_windows, n_channels, n_times); "
                f"got an array of shape {X.shape}."
            )
        if 0 in X.shape:  # check_array counts the windows only, for 3-D input
            raise ValueError(
                f"{type(self).__name__}: X is empty (shape {X.shape}): it needs at least "
                "one window, one channel and one sample."
            )
        if fitted and X.shape[1] != self.n_channels_:
            raise ValueError(
                f"X has {X.shape[1]} channels, but {type(self).__name__} was fitted "
                f"on {self.n_channels_}."
            )
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 3-D input: scikit-learn's generic checks, which feed 2-D arrays, do not apply.
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class BandPassFilter(_SignalTransformer):
    """Zero-phase band-pass filter of EEG windows (MNE's filters).

    The Riemannian baselines filter to 1-40 Hz, as in the measurements of the
    design notes: covariances are dominated by the largest-power frequencies,
    so slow drifts and line noise would otherwise swamp the task's rhythms.
    Unlike :class:`sk_cria.EEGPreprocessor` it keeps each channel's
    amplitude, which the covariance matrices need.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the windows in Hz, 32 to 100 000 (checked as
        :class:`~sk_cria.EEGPreprocessor` checks its ``sfreq``).
    l_freq : float or None, default=1.0
        High-pass edge in Hz, below ``h_freq``; None for a low-pass only.
    h_freq : float or None, default=40.0
        Low-pass edge in Hz; None for a high-pass only. An edge at or above
        the Nyquist frequency is dropped with a warning.
    method : {"fir", "iir"}, default="fir"
        MNE's filter design. "fir" (MNE's default) reproduces the numbers of
        the design notes; "iir" (4th-order Butterworth, forward and backward)
        is about three times faster on 5-second windows, with scores on
        eegmat that differ within the noise of 4 test subjects.

    Attributes
    ----------
    n_channels_ : int
        Number of channels seen during fit.

    See Also
    --------
    mne.filter.filter_data : The filter applied.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria.baselines import BandPassFilter
    >>> t = np.arange(1000) / 200.0
    >>> X = np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 60 * t)
    >>> X_filtered = BandPassFilter(sfreq=200.0).fit_transform(X[None, None])
    >>> bool(np.abs(X_filtered[0, 0, 200:800]).max() < 1.1)
    True
    """

    _PARAM_CHECKS = {
        **_SignalTransformer._PARAM_CHECKS,
        "l_freq": number(Real, 0, None, "neither", none=True, hint=_HZ),
        "h_freq": number(Real, 0, None, "neither", none=True, hint=_HZ),
        "method": one_of(("fir", "iir")),
    }

    def __init__(self, sfreq, l_freq=1.0, h_freq=40.0, method="fir"):
        self.sfreq = sfreq
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.method = method

    def _check_params(self):
        super()._check_params()
        # MNE reads l_freq > h_freq as a band-stop: a band-pass asked for with its
        # edges swapped would silently keep everything but the band.
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(
                f"{type(self).__name__}: l_freq ({self.l_freq}) must be below h_freq "
                f"({self.h_freq}); give the band's lower edge as l_freq and its upper "
                "edge as h_freq (None for a high-pass or low-pass only)."
            )
        if self.l_freq is not None and self.l_freq >= self.sfreq / 2.0:
            raise ValueError(
                f"{type(self).__name__}: l_freq ({self.l_freq}) must be below the Nyquist "
                f"frequency ({self.sfreq / 2.0:g} Hz) of sfreq={self.sfreq}; nothing would "
                "pass the high-pass."
            )

    def transform(self, X):
        """Filter each channel of each window.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times)
            EEG windows sampled at ``sfreq``.

        Returns
        -------
        X_new : ndarray of shape (n_windows, n_channels, n_times)
            Filtered windows, float64.
        """
        check_is_fitted(self)
        X = self._check_windows(X, fitted=True)
        h_freq = self.h_freq
        if h_freq is not None and h_freq >= self.sfreq / 2.0:
            warnings.warn(
                f"h_freq={h_freq} Hz is at or above the Nyquist frequency "
                f"({self.sfreq / 2.0:g} Hz); the low-pass is skipped.",
                UserWarning,
                stacklevel=2,
            )
            h_freq = None
        if self.l_freq is None and h_freq is None:
            return X.astype(np.float64)
        return mne.filter.filter_data(
            X.astype(np.float64),
            self.sfreq,
            self.l_freq,
            h_freq,
            method=self.method,
            verbose="error",
        )


class LogBandPower(_SignalTransformer):
    """Log power of each channel in each frequency band (Welch's method).

    Parameters
    ----------
    sfreq : float
        Sampling rate of the windows in Hz, 32 to 100 000 (checked as
        :class:`~sk_cria.EEGPreprocessor` checks its ``sfreq``).
    bands : sequence of (float, float) or None, default=None
        ``(low, high)`` edges in Hz of each band, the power summed over
        ``low <= f < high``; None uses :data:`DEFAULT_BANDS` (delta, theta,
        alpha, low beta, high beta, gamma to 40 Hz).
    window_seconds : float, default=2.0
        Length of Welch's segments (50 % overlap); 2 s resolves 0.5 Hz.
        Shortened to the window's length when the window is shorter.

    Attributes
    ----------
    n_channels_ : int
        Number of channels seen during fit.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria.baselines import LogBandPower
    >>> t = np.arange(1000) / 200.0
    >>> X = np.sin(2 * np.pi * 10 * t)[None, None]
    >>> features = LogBandPower(sfreq=200.0).fit_transform(X)
    >>> features.shape, int(features.argmax())  # alpha is the 3rd band
    ((1, 6), 2)
    """

    _PARAM_CHECKS = {
        **_SignalTransformer._PARAM_CHECKS,
        "window_seconds": number(Real, 0, None, "neither",
                                 hint="Give the length of Welch's segments in seconds."),
    }

    def __init__(self, sfreq, bands=None, window_seconds=2.0):
        self.sfreq = sfreq
        self.bands = bands
        self.window_seconds = window_seconds

    def transform(self, X):
        """Compute the log band powers.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times)
            EEG windows sampled at ``sfreq``.

        Returns
        -------
        X_new : ndarray of shape (n_windows, n_channels * n_bands)
            Natural log of the power of each channel in each band, channel
            by channel (all bands of the first channel come first).
        """
        check_is_fitted(self)
        X = self._check_windows(X, fitted=True)
        bands = DEFAULT_BANDS if self.bands is None else self.bands
        nperseg = min(X.shape[-1], max(1, int(round(self.window_seconds * self.sfreq))))
        freqs, psd = welch(X, fs=self.sfreq, nperseg=nperseg, axis=-1)
        df = freqs[1] - freqs[0] if len(freqs) > 1 else self.sfreq
        powers = []
        for low, high in bands:
            in_band = (freqs >= low) & (freqs < high)
            if not in_band.any():
                raise ValueError(
                    f"Band ({low}, {high}) Hz holds no frequency bin at "
                    f"{self.sfreq} Hz with {nperseg}-sample segments (bins every {df:g} Hz)."
                )
            powers.append(psd[..., in_band].sum(axis=-1) * df)
        powers = np.stack(powers, axis=-1)
        # A flat channel has zero power; the floor keeps its log finite.
        return np.log(np.maximum(powers, np.finfo(powers.dtype).tiny)).reshape(len(X), -1)


class LogVariance(_SignalTransformer):
    """Log variance of each channel: the simplest spectral-power feature.

    On band-passed windows the variance of a channel is its power in the
    pass band, so these ``n_channels`` numbers are the floor every learned
    representation of EEG power has to beat.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz, 32 to 100 000 (checked, not used:
        the variance does not depend on it).

    Attributes
    ----------
    n_channels_ : int
        Number of channels seen during fit.

    See Also
    --------
    LogBandPower : The same per frequency band.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria.baselines import LogVariance
    >>> X = (np.tile([1.0, -1.0], 50) * [[1.0], [2.0]])[None]  # variances 1 and 4
    >>> np.round(LogVariance().fit_transform(X), 3)
    array([[0.   , 1.386]])
    """

    def __init__(self, sfreq=200.0):
        self.sfreq = sfreq

    def transform(self, X):
        """Compute the log variance of each channel over time.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_channels, n_times)
            EEG windows.

        Returns
        -------
        X_new : ndarray of shape (n_windows, n_channels)
            Natural log of each channel's variance (floored so that a flat
            channel stays finite).
        """
        check_is_fitted(self)
        X = self._check_windows(X, fitted=True)
        variance = X.var(axis=-1)
        return np.log(np.maximum(variance, np.finfo(variance.dtype).tiny))


#: The tangent-space pipelines' default ``C``: their features are many and z-scored
#: (see :func:`make_tangent_space_pipeline`).
TANGENT_C = 0.01


def make_tangent_space_pipeline(
    sfreq=200.0, *, recenter=False, align=False, l_freq=1.0, h_freq=40.0, C=TANGENT_C
):
    """Band-pass, covariances, [re-centring], tangent space, scaling, logistic regression.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    recenter : bool, default=False
        Whiten each subject's covariances by that subject's Riemannian mean
        (:class:`~sk_cria.alignment.RiemannianRecentering`); needs ``groups``.
    align : bool, default=False
        Z-score each subject's tangent vectors on that subject's own windows
        (:class:`~sk_cria.alignment.GroupStandardScaler`, needs ``groups``)
        instead of on the whole training set (:class:`~sklearn.preprocessing.StandardScaler`).
    l_freq, h_freq : float or None, default=1.0, 40.0
        Band-pass edges in Hz; both None for windows that are already filtered.
    C : float, default=TANGENT_C (0.01)
        Inverse regularisation strength of the logistic regression. Tangent
        vectors have ``n(n+1)/2`` features (210 for 20 channels), each scaled
        to unit variance: at C=1.0 the regression fits eegmat's training
        windows perfectly and scores .639 BAcc on protocol (a), where MDM on
        the same covariances scores 1.000; 0.01 is what grouped 4-fold
        cross-validation over the training subjects chose on each of eegmat's
        five splits (protocols (a) and (c)), and scores .785 there
        (``docs/results.rst``, "The tangent-space floor").

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``bandpass``, ``covariances`` (OAS shrinkage, which
        keeps 20-channel covariances of short windows well conditioned),
        [``recentering``], ``tangent_space``, ``scaler``, ``classifier``
        (class-balanced, since the metric is balanced accuracy and eegmat is
        3:1 rest).

    Examples
    --------
    >>> from sk_cria.baselines import make_tangent_space_pipeline
    >>> list(make_tangent_space_pipeline(recenter=True).named_steps)
    ['bandpass', 'covariances', 'recentering', 'tangent_space', 'scaler', 'classifier']
    """
    return Pipeline(
        _covariance_steps(sfreq, recenter, l_freq, h_freq)
        + [("tangent_space", TangentSpace(metric=_RIEMANN_TANGENT))]
        + _linear_steps(align, C)
    )


def make_filter_bank_tangent_space_pipeline(
    sfreq=200.0, *, bands=MU_BETA_BANDS, recenter=False, align=False, C=TANGENT_C
):
    """Tangent space of each sub-band's covariances, concatenated, then logistic regression.

    Each band gets its own band-pass, covariances, [re-centring] and tangent
    space, so rhythms whose power changes in different directions (mu and
    beta in motor imagery) are not summed into one covariance.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    bands : sequence of (float, float), default=MU_BETA_BANDS
        ``(l_freq, h_freq)`` of each sub-band in Hz; the default cuts 8-30 Hz
        into 8-12, 12-16, 16-22 and 22-30 Hz.
    recenter : bool, default=False
        Whiten each subject's covariances by that subject's Riemannian mean,
        band by band (:class:`~sk_cria.alignment.RiemannianRecentering`);
        needs ``groups``.
    align : bool, default=False
        Z-score each subject's tangent vectors on that subject's own windows
        (:class:`~sk_cria.alignment.GroupStandardScaler`, needs ``groups``)
        instead of on the whole training set (:class:`~sklearn.preprocessing.StandardScaler`).
    C : float, default=TANGENT_C (0.01)
        Inverse regularisation strength of the logistic regression (see
        :func:`make_tangent_space_pipeline`).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``filter_bank`` (a :class:`~sklearn.pipeline.FeatureUnion`
        of one pipeline per band, named like ``"8-12Hz"``, each with the steps
        of :func:`make_tangent_space_pipeline` up to ``tangent_space``),
        ``scaler``, ``classifier`` (class-balanced logistic regression).

    Examples
    --------
    >>> from sk_cria.baselines import make_filter_bank_tangent_space_pipeline
    >>> pipe = make_filter_bank_tangent_space_pipeline(160.0, recenter=True)
    >>> [name for name, _ in pipe["filter_bank"].transformer_list]
    ['8-12Hz', '12-16Hz', '16-22Hz', '22-30Hz']
    """
    if len(bands) == 0:
        raise ValueError("bands must hold at least one (l_freq, h_freq) pair; got none.")
    per_band = [
        (f"{low:g}-{high:g}Hz",
         Pipeline(_covariance_steps(sfreq, recenter, low, high)
                  + [("tangent_space", TangentSpace(metric=_RIEMANN_TANGENT))]))
        for low, high in bands
    ]
    return Pipeline([("filter_bank", FeatureUnion(per_band))] + _linear_steps(align, C))


def make_csp_pipeline(
    sfreq=200.0, *, n_filters=8, recenter=False, align=False, l_freq=8.0, h_freq=30.0
):
    """Band-pass, covariances, [re-centring], CSP log-variances, scaling, LDA.

    Common spatial patterns + linear discriminant analysis: the classic
    motor-imagery pipeline (MNE's and pyRiemann's examples). CSP finds the
    spatial filters whose output power differs most between two classes; the
    log-variance of each filtered signal is a feature of the LDA.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    n_filters : int, default=8
        Number of CSP filters (:class:`pyriemann.spatialfilters.CSP`'s
        ``nfilter``), taken from both ends of the spectrum of eigenvalues.
    recenter : bool, default=False
        Whiten each subject's covariances by that subject's Riemannian mean
        (:class:`~sk_cria.alignment.RiemannianRecentering`); needs ``groups``.
    align : bool, default=False
        Z-score each subject's CSP features on that subject's own windows
        (:class:`~sk_cria.alignment.GroupStandardScaler`, needs ``groups``)
        instead of on the whole training set (:class:`~sklearn.preprocessing.StandardScaler`,
        which leaves the LDA's decisions unchanged).
    l_freq, h_freq : float or None, default=8.0, 30.0
        Band-pass edges in Hz (the mu and beta rhythms); both None for
        windows that are already filtered.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``bandpass``, ``covariances`` (OAS shrinkage),
        [``recentering``], ``csp``, ``scaler``, ``classifier``
        (:class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`).

    Examples
    --------
    >>> from sk_cria.baselines import make_csp_pipeline
    >>> list(make_csp_pipeline(160.0, recenter=True).named_steps)
    ['bandpass', 'covariances', 'recentering', 'csp', 'scaler', 'classifier']
    """
    return Pipeline(
        _covariance_steps(sfreq, recenter, l_freq, h_freq)
        + [
            ("csp", CSP(nfilter=n_filters, metric="euclid", log=True)),
            ("scaler", GroupStandardScaler() if align else StandardScaler()),
            ("classifier", LinearDiscriminantAnalysis()),
        ]
    )


def make_mdm_pipeline(sfreq=200.0, *, recenter=False, l_freq=1.0, h_freq=40.0):
    """Band-pass, covariances, [re-centring], minimum distance to mean.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    recenter : bool, default=False
        Whiten each subject's covariances by that subject's Riemannian mean
        (:class:`~sk_cria.alignment.RiemannianRecentering`); needs ``groups``.
    l_freq, h_freq : float or None, default=1.0, 40.0
        Band-pass edges in Hz.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``bandpass``, ``covariances`` (OAS shrinkage),
        [``recentering``], ``classifier`` (:class:`pyriemann.classification.MDM`
        with the Riemannian metric).

    Examples
    --------
    >>> from sk_cria.baselines import make_mdm_pipeline
    >>> list(make_mdm_pipeline().named_steps)
    ['bandpass', 'covariances', 'classifier']
    """
    return Pipeline(
        _covariance_steps(sfreq, recenter, l_freq, h_freq)
        + [("classifier", MDM(metric=_RIEMANN_MDM))]
    )


def make_band_power_pipeline(
    sfreq=200.0, *, align=False, l_freq=1.0, h_freq=40.0, bands=None, C=1.0
):
    """Band-pass, log band power, standardisation, logistic regression.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    align : bool, default=False
        Z-score each subject's features on that subject's own windows
        (:class:`~sk_cria.alignment.GroupStandardScaler`, needs ``groups``)
        instead of on the whole training set (:class:`~sklearn.preprocessing.StandardScaler`).
    l_freq, h_freq : float or None, default=1.0, 40.0
        Band-pass edges in Hz; both None for windows that are already filtered.
    bands : sequence of (float, float) or None, default=None
        Bands of :class:`LogBandPower`; None uses :data:`DEFAULT_BANDS`.
    C : float, default=1.0
        Inverse regularisation strength of the logistic regression.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``bandpass``, ``band_power``, ``scaler``,
        ``classifier`` (class-balanced logistic regression).

    Examples
    --------
    >>> from sk_cria.baselines import make_band_power_pipeline
    >>> make_band_power_pipeline(align=True).named_steps["scaler"]
    GroupStandardScaler()
    """
    return Pipeline(
        [
            ("bandpass", BandPassFilter(sfreq, l_freq=l_freq, h_freq=h_freq)),
            ("band_power", LogBandPower(sfreq, bands=bands)),
        ]
        + _linear_steps(align, C)
    )


def make_log_variance_pipeline(sfreq=200.0, *, align=False, l_freq=1.0, h_freq=40.0, C=1.0):
    """Band-pass, log-variance per channel, standardisation, logistic regression.

    The smallest floor: one number per channel. With per-subject alignment
    it is hard to beat on eegmat (``sk-cria benchmark``).

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    align : bool, default=False
        Z-score each subject's features on that subject's own windows
        (:class:`~sk_cria.alignment.GroupStandardScaler`, needs ``groups``)
        instead of on the whole training set (:class:`~sklearn.preprocessing.StandardScaler`).
    l_freq, h_freq : float or None, default=1.0, 40.0
        Band-pass edges in Hz; both None for windows that are already filtered.
    C : float, default=1.0
        Inverse regularisation strength of the logistic regression.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; steps ``bandpass``, ``log_variance``, ``scaler``,
        ``classifier`` (class-balanced logistic regression).

    Examples
    --------
    >>> from sk_cria.baselines import make_log_variance_pipeline
    >>> list(make_log_variance_pipeline().named_steps)
    ['bandpass', 'log_variance', 'scaler', 'classifier']
    """
    return Pipeline(
        [
            ("bandpass", BandPassFilter(sfreq, l_freq=l_freq, h_freq=h_freq)),
            ("log_variance", LogVariance(sfreq)),
        ]
        + _linear_steps(align, C)
    )


def riemann_mean(covariances, sample_weight=None):
    """pyRiemann's Riemannian mean, iterated until it meets its tolerance.

    What the tangent space and MDM average with: pyRiemann's own mean stops
    after 50 iterations and warns "Convergence not reached" on covariances
    that need more (up to about 500 on eegmat), although it is then within
    about 1e-5 of the converged mean; this one lets it finish.

    Parameters
    ----------
    covariances : ndarray of shape (n_matrices, n_channels, n_channels)
    sample_weight : ndarray of shape (n_matrices,) or None, default=None

    Returns
    -------
    mean : ndarray of shape (n_channels, n_channels)
    """
    return _mean_of(covariances, "riemann", sample_weight)


# pyRiemann's metric dicts: the Riemannian geometry, with the mean iterated to tolerance.
_RIEMANN_TANGENT = {"mean": riemann_mean, "map": "riemann"}
_RIEMANN_MDM = {"mean": riemann_mean, "distance": "riemann"}


def _covariance_steps(sfreq, recenter, l_freq, h_freq):
    steps = [
        ("bandpass", BandPassFilter(sfreq, l_freq=l_freq, h_freq=h_freq)),
        ("covariances", Covariances(estimator="oas")),
    ]
    if recenter:
        steps.append(("recentering", RiemannianRecentering()))
    return steps


def _linear_steps(align, C):
    """Per-subject or training-set z-scoring, then class-balanced logistic regression."""
    scaler = GroupStandardScaler() if align else StandardScaler()
    return [
        ("scaler", scaler),
        ("classifier", LogisticRegression(C=C, class_weight="balanced", max_iter=1000)),
    ]


def _factory(make, **options):
    def factory(sfreq=200.0):
        return make(sfreq, **options)

    factory.__name__ = make.__name__
    factory.__doc__ = f"``{make.__name__}(sfreq, {options})``: see that function."
    return factory


#: Name -> factory ``f(sfreq=200.0)`` returning a fresh unfitted pipeline; the
#: ``*_aligned`` / ``*_recentered`` ones need ``groups`` at fit and predict.
BASELINES = {
    "log_variance": _factory(make_log_variance_pipeline, align=False),
    "log_variance_aligned": _factory(make_log_variance_pipeline, align=True),
    "band_power": _factory(make_band_power_pipeline, align=False),
    "band_power_aligned": _factory(make_band_power_pipeline, align=True),
    "mdm": _factory(make_mdm_pipeline, recenter=False),
    "mdm_recentered": _factory(make_mdm_pipeline, recenter=True),
    "tangent_space": _factory(make_tangent_space_pipeline, recenter=False),
    "tangent_space_recentered": _factory(make_tangent_space_pipeline, recenter=True),
    "tangent_space_recentered_aligned": _factory(
        make_tangent_space_pipeline, recenter=True, align=True
    ),
    "filter_bank_tangent_space": _factory(make_filter_bank_tangent_space_pipeline),
    "filter_bank_tangent_space_recentered": _factory(
        make_filter_bank_tangent_space_pipeline, recenter=True
    ),
    "csp_lda": _factory(make_csp_pipeline, recenter=False),
    "csp_lda_recentered": _factory(make_csp_pipeline, recenter=True),
}


def get_baselines(sfreq=200.0, names=None):
    """Fresh unfitted baseline pipelines, by name.

    Parameters
    ----------
    sfreq : float, default=200.0
        Sampling rate of the windows in Hz.
    names : sequence of str or None, default=None
        Which of :data:`BASELINES` to build; None builds all.

    Returns
    -------
    pipelines : dict of str to sklearn.pipeline.Pipeline
        In the order of ``names`` (or of :data:`BASELINES`).

    Examples
    --------
    >>> from sk_cria.baselines import get_baselines
    >>> sorted(get_baselines(names=["mdm", "mdm_recentered"]))
    ['mdm', 'mdm_recentered']
    """
    names = list(BASELINES) if names is None else list(names)
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"Unknown baselines {unknown}; choose from {sorted(BASELINES)}.")
    return {name: BASELINES[name](sfreq) for name in names}
