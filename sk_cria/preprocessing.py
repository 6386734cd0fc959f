"""EEG preprocessing as a scikit-learn transformer, and the array that carries
channel names from one pipeline step to the next.

The steps follow section 1 of the CRIA design: zero-phase Butterworth band-pass
and a mains notch at the input rate, polyphase resampling to 200 Hz, per-channel
95th-percentile scaling (per window, per group of windows, or by a fixed unit)
and 1-second patches.
"""

from fractions import Fraction
import functools
from numbers import Integral, Real
import warnings

import numpy as np
from scipy import signal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._check import (as_three_d, check_ch_names, check_eeg_values, check_groups,
                     check_n_features, check_number, check_params, check_params_of, number,
                     one_of, warn_groups_not_routed, warn_half_precision)

__all__ = ["EEGArray", "EEGPreprocessor"]

#: Output rate of the preprocessor and input rate of the CRIA model.
TARGET_SFREQ = 200.0
#: Samples per patch: one second at :data:`TARGET_SFREQ`.
PATCH_SIZE = 200
#: The paper's upper band edge; capped below the Nyquist frequencies when implicit.
DEFAULT_H_FREQ = 120.0
# Cut-offs are kept this far below a Nyquist frequency: a Butterworth design at
# exactly Nyquist is undefined, and close to it the filter is numerically fragile.
_NYQUIST_MARGIN = 0.9


_HZ = "Give a frequency in Hz, or None to disable it."
#: Plausible sampling rates of EEG (Hz). Below the lower bound almost all of the
#: 200 Hz output would be invented by upsampling (nothing above 16 Hz is left);
#: far above the upper one a rate is a unit mistake (samples per minute, or a
#: count of samples given as the rate).
SFREQ_RANGE = (32.0, 100_000.0)
#: Largest Butterworth order taken: the band-pass rings for about 1.4 s per
#: order after a 0.5 Hz edge, so much higher orders ring through any window, and
#: soon cannot be designed in floating point (NaN output, or an overflow).
MAX_FILTER_ORDER = 100
#: Below this typical amplitude (uV), input to a fixed-unit scaling is in another unit.
MIN_TYPICAL_UV = 0.5
#: Scaling scopes by name; a positive number is the third kind, a fixed unit in uV.
SCALINGS = ("window", "group")
#: What an encoder folder saved before the scope was recorded was trained on.
LEGACY_SCALING = "window"


def check_scaling(name, value):
    """Check of ``scaling``: "window", "group" or a fixed unit in uV (a number > 0)."""
    valid = '"window", "group" or a fixed unit in microvolts (a number > 0, e.g. 100.0)'
    if isinstance(value, str):
        if value not in SCALINGS:
            raise ValueError(f"{name} must be {valid}, got {value!r}.")
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {valid}, got {value!r} ({type(value).__name__}).")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be {valid}, got {value!r}.")


def same_scaling(a, b):
    """Whether two scopes are the same ("group" == "group", 100 == 100.0)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return float(a) == float(b)

def sfreq_check(*, none=False, hint="Give the sampling rate in Hz, e.g. sfreq=500."):
    """The check of a sampling rate in Hz (:data:`SFREQ_RANGE`), wherever one is given.

    One check for every ``sfreq`` of sk_cria (EEGPreprocessor, the baselines'
    transformers, the loaders' resampling rate), so that an implausible rate
    gets the same refusal everywhere; ``none`` says whether None is valid.
    """
    return number(Real, *SFREQ_RANGE, none=none, hint=hint)


#: What each parameter of EEGPreprocessor takes, checked at fit (_check.check_params).
_PARAM_CHECKS = {
    "partial_patch": one_of(("pad", "drop")),
    "sfreq": sfreq_check(none=True, hint="Give the sampling rate of the array in Hz, "
                         "e.g. sfreq=500."),
    "ch_names": check_ch_names,
    "l_freq": number(Real, 0, None, "neither", none=True, hint=_HZ),
    "h_freq": number(Real, 0, None, "neither", none=True, hint=_HZ),
    "line_freq": number(Real, 0, None, "neither", none=True,
                        hint="Give the mains frequency (50 or 60 Hz), or None for no notch."),
    "filter_order": number(Integral, 1, MAX_FILTER_ORDER,
                           hint="Give the Butterworth order, e.g. 4 (the default)."),
    "notch_quality": number(Real, 0, None, "neither",
                            hint="Give the notch's quality factor, e.g. 10 (the default)."),
    "scaling": check_scaling,
    "scale_quantile": number(Real, 0, 100, "right",
                             hint="Give a percentile, e.g. 95 (the default)."),
}


class EEGArray(np.ndarray):
    """A float array of preprocessed EEG that remembers its channels.

    ``EEGPreprocessor`` returns this subclass of :class:`numpy.ndarray` so that
    the next step of a :class:`~sklearn.pipeline.Pipeline` (a CRIA estimator)
    knows the channel names without the user repeating them. It behaves like a
    plain array everywhere else; pickling and joblib keep the metadata.

    Indexing follows the metadata: selecting examples keeps it,
    selecting or reordering channels (``X[:, [2, 0]]``, ``X.take(picks,
    axis=1)``) selects or reorders ``ch_names`` with them, and cropping the
    time axis (``X[..., :400]``) updates ``n_valid_times``. An index after
    which axis 1 is no longer channels, or axis 2 no longer consecutive
    200 Hz samples (``X[0]``, ``X[..., ::2]``, ``X[mask]``), gives a plain
    :class:`numpy.ndarray`: channel names that no longer describe the data
    are dropped, never carried on.

    Parameters
    ----------
    data : array-like
        The samples, (n_examples, n_channels, n_times) (or (n_examples,
        n_times) for one channel).
    ch_names, sfreq, n_valid_times, scaling
        The attributes below; ``ch_names`` is checked as every estimator
        checks it (one name per channel, each channel once).

    Attributes
    ----------
    ch_names : list of str or None
        Channel names, in the order of axis 1.
    sfreq : float
        Sampling frequency in Hz (200 after preprocessing).
    n_valid_times : int or None
        Number of real samples on the time axis; samples after it are zero
        padding added to complete the last patch. The CRIA estimators set them
        to zero again before use, so what they hold changes nothing.
    scaling : str, float or None
        The ``scaling`` of the EEGPreprocessor that made it ("window",
        "group" or a unit in uV); a CRIA estimator warns when it differs from
        what its encoder was trained on. None: unknown.
    """

    _META = ("ch_names", "sfreq", "n_valid_times", "scaling")

    def __new__(cls, data, ch_names=None, sfreq=TARGET_SFREQ, n_valid_times=None,
                scaling=None):
        obj = np.asarray(data).view(cls)
        if ch_names is not None:
            check_ch_names("ch_names", ch_names)
            n_channels = {2: 1, 3: obj.shape[1] if obj.ndim == 3 else None}.get(obj.ndim)
            if n_channels is not None and len(ch_names) != n_channels:
                raise ValueError(
                    f"ch_names has {len(ch_names)} names but data of shape {obj.shape} has "
                    f"{n_channels} channel(s) (axis 1); give one name per channel."
                )
        obj.ch_names = None if ch_names is None else list(ch_names)
        obj.sfreq = check_number(sfreq, "sfreq", low=0, low_open=True)
        n_times = obj.shape[-1] if obj.ndim else 0
        obj.n_valid_times = check_number(
            n_valid_times, "n_valid_times", integer=True, low=0, high=n_times,
            allow_none=True, fix="It counts the real samples of the time axis, before the "
            "zero padding of the last patch.")
        obj.scaling = scaling
        return obj

    def with_data(self, data):
        """``data`` (same shape) as an EEGArray with this array's metadata."""
        return EEGArray(data, **{key: getattr(self, key) for key in self._META})

    def __array_finalize__(self, obj):
        for key in self._META:
            setattr(self, key, getattr(obj, key, None))
        # A reshape or transpose that leaves axis 1 another length: the names no
        # longer describe it (indexing, in __getitem__, carries them exactly).
        n_channels = {2: 1, 3: self.shape[1] if self.ndim == 3 else None}.get(self.ndim)
        if self.ch_names is not None and n_channels != len(self.ch_names):
            self.ch_names = None

    def __getitem__(self, key):
        out = super().__getitem__(key)
        if not isinstance(out, EEGArray) or self.ndim != 3:
            return out  # a scalar, or not an (n_examples, n_channels, n_times) batch
        if out.ndim != 3:
            return out.view(np.ndarray)  # one example, one channel, a mask: no batch
        if _indexes_examples_only(key):
            return out  # the channel and time axes are untouched
        # Where each element of the result comes from, on the channel and time axes:
        # index position arrays (broadcast views, no memory) with the same key.
        channels, times = (_positions(self.shape, axis)[key] for axis in (1, 2))
        if out.size == 0:  # nothing to trace; empty arrays are refused downstream
            if out.shape[1:] != self.shape[1:]:
                out.ch_names = out.n_valid_times = None
            return out
        channel_of, time_of = channels[0, :, 0], times[0, 0, :]
        if not (_along_axis(channels, 1, channel_of) and _along_axis(times, 2, time_of)
                and np.all(np.diff(time_of) == 1)):
            return out.view(np.ndarray)  # axes mixed, or time no longer consecutive
        if self.ch_names is not None:
            out.ch_names = [self.ch_names[i] for i in channel_of]
        if self.n_valid_times is not None:
            out.n_valid_times = int(np.clip(self.n_valid_times - time_of[0], 0,
                                            len(time_of)))
        return out

    def transpose(self, *axes):
        """:meth:`numpy.ndarray.transpose`; a plain array unless the axes stay in order."""
        out = super().transpose(*axes)
        order = axes[0] if len(axes) == 1 and axes[0] is not None else axes
        order = [a % self.ndim for a in order] if order else list(range(self.ndim))[::-1]
        return out if order == list(range(self.ndim)) else out.view(np.ndarray)

    def swapaxes(self, axis1, axis2):
        """:meth:`numpy.ndarray.swapaxes`; a plain array unless nothing moves."""
        order = list(range(self.ndim))
        order[axis1], order[axis2] = order[axis2], order[axis1]
        return self.transpose(order)

    @property
    def T(self):  # noqa: N802 - numpy's name
        """The transposed array, a plain :class:`numpy.ndarray`."""
        return self.transpose()

    def __array_function__(self, func, types, args, kwargs):
        # np.roll fills an empty_like copy slice by slice, so indexing never sees
        # it: roll the names with the channels, and give up the metadata otherwise.
        if func is np.roll and isinstance(args[0], EEGArray):
            return _roll(*args, **kwargs)
        return super().__array_function__(func, types, args, kwargs)

    def take(self, indices, axis=None, out=None, mode="raise"):
        """:meth:`numpy.ndarray.take`; along axis 1 or 2 the metadata follow, as in indexing."""
        if out is None and mode == "raise" and axis is not None and self.ndim == 3:
            return self[(slice(None),) * (axis % 3) + (np.asarray(indices),)]
        return np.asarray(self).take(indices, axis=axis, out=out, mode=mode)

    def __reduce__(self):
        # ndarray pickles only its buffer; append the metadata so joblib and
        # multiprocessing hand the channel names to worker processes.
        constructor, args, state = super().__reduce__()
        meta = {key: getattr(self, key) for key in self._META}
        return constructor, args, (state, meta)

    def __setstate__(self, state):
        nd_state, meta = state
        super().__setstate__(nd_state)
        for key, value in meta.items():
            setattr(self, key, value)


def _roll(X, shift, axis=None):
    """np.roll of an EEGArray: along examples or channels it keeps (rolled) names."""
    out = np.roll(np.asarray(X), shift, axis)
    if X.ndim != 3 or not isinstance(axis, (int, np.integer)) or axis % 3 == 2:
        return out  # flattened, several axes, or time: no longer the windows described
    rolled = X.with_data(out)
    if axis % 3 == 1 and X.ch_names is not None:
        rolled.ch_names = [X.ch_names[i] for i in np.roll(np.arange(X.shape[1]), shift)]
    return rolled


def _indexes_examples_only(key):
    """Whether ``key`` indexes axis 0 alone (an int, slice, list or 1-D index array)."""
    if isinstance(key, tuple) or key is None:  # None adds an axis
        return False
    return key is Ellipsis or np.ndim(key) <= 1


def _positions(shape, axis):
    """An array of ``shape`` holding each element's index along ``axis`` (a strided view)."""
    index = np.arange(shape[axis])
    strides = [0] * len(shape)
    strides[axis] = index.strides[0]
    return np.lib.stride_tricks.as_strided(index, shape=shape, strides=strides,
                                           writeable=False)


def _along_axis(positions, axis, expected):
    """Whether ``positions`` varies along ``axis`` only, as ``expected``."""
    shape = [1, 1, 1]
    shape[axis] = -1
    return bool(np.all(positions == expected.reshape(shape)))


class EEGPreprocessor(TransformerMixin, BaseEstimator):
    """Band-pass, notch, resample, scale and patch EEG for CRIA.

    The transformer is stateless apart from what it checks: it learns the
    number of channels and their names at ``fit`` and refuses data that
    disagree at ``transform``. Every example is filtered, resampled to 200 Hz,
    scaled per channel (see ``scaling``) and cut to a whole number of
    1-second patches.

    Parameters
    ----------
    sfreq : float or None, default=None
        Sampling frequency of array input in Hz, 32 to 100 000 (:data:`SFREQ_RANGE`;
        an ``mne.Epochs``' rate is checked the same way). Required for arrays (a
        rate is never assumed); ignored for :class:`mne.Epochs`, whose ``info``
        gives it.
    ch_names : list of str or None, default=None
        Channel names of array input, in the order of axis 1 (distinct). They
        are passed on to the next pipeline step so that a pre-trained encoder
        can look its channel embeddings up by name. Ignored for
        :class:`mne.Epochs`, whose EEG channels are used: channels of other
        types (stim, EOG, ECG, ...) and those in ``info["bads"]`` are left
        out, with a warning at ``fit`` naming them.
    l_freq : float or None, default=0.5
        High-pass edge of the band-pass in Hz; None disables the high-pass.
    h_freq : float or None, default=None
        Low-pass edge in Hz. None means the paper's 120 Hz capped below the
        Nyquist frequencies of the input and output rates, silently; an
        explicit value at or above one of them is clamped with a warning.
    line_freq : float or None, default=60.0
        Mains frequency to notch out (60 Hz in the paper and in the Americas;
        use 50.0 for European and most Asian recordings). None disables it.
    filter_order : int, default=4
        Order of the Butterworth band-pass (applied forward and backward, so
        the effective order is doubled and the phase is zero), 1 to 100. An
        order whose filter floating point cannot hold at the input's rate and
        band (its poles on the unit circle) is refused, naming the usable ones;
        a step that turns finite input into NaN or infinity is refused too.
    notch_quality : float, default=10.0
        Quality factor of the notch (its -3 dB width is ``line_freq / Q``,
        5 Hz at 50 Hz). Narrower notches ring for longer than the edges of
        a few-second window allow; tests/test_preprocessing.py checks that a
        40 uV line added to 5 s eegmat windows ends below a tenth of the power
        of its spectral neighbourhood.
    scaling : {"window", "group"} or float, default="window"
        What each channel is divided by, i.e. which differences in amplitude
        the model gets to see (``benchmarks/results/scaling.md`` and
        ``corpus_ablation.md`` measure each; feed a pre-trained encoder the
        scaling its ``config.json`` records: ``cria-base`` 100.0,
        ``cria-small`` "window"):

        - "window": the ``scale_quantile`` percentile of that channel's
          absolute amplitude in that window (design notes, section 1). Every
          window's per-channel power is erased: only the shape of the signal
          within the window is left. Robust to any unit, gain or artefact
          level; nothing can be learnt from power.
        - "group": that percentile over all windows of the channel's group
          (a recording or subject), computed at ``transform`` on that group's
          own windows, without labels, like the aligners of
          :mod:`sk_cria.alignment`; ``groups`` reaches ``fit``, ``transform``
          and ``fit_transform`` by metadata routing (requested by default),
          and None makes all windows of the call one group. Power
          differences between windows of a subject (motor imagery's
          desynchronisation, the alpha of rest) are kept, while subjects
          and recordings of different gains land on one scale. With one
          window per group it equals "window".
        - a number: a fixed unit in microvolts, ``x / scaling`` (CBraMod and
          LaBraM divide by 100 uV). Keeps all power, across subjects too;
          needs input in microvolts (``mne.Epochs`` are converted; an array
          whose typical amplitude is below 0.5, such as volts, is refused).

        Where a per-subject alignment follows (``RiemannianAlignment`` or
        ``EuclideanAlignment``, the benchmark's ``ra`` and ``ea`` recipes),
        it whitens each subject anyway, so "group" and a fixed unit give the
        same input up to a rotation per subject; "window" is the one that
        alignment cannot undo. Without alignment, "group" is what makes
        subjects comparable.
    scale_quantile : float, default=95.0
        Percentile of the absolute amplitude each channel is divided by
        (``scaling`` "window" and "group").
    partial_patch : {"pad", "drop"}, default="pad"
        What to do with a trailing part of a second: zero-pad it to a full
        patch (its samples are recorded in ``n_valid_times``) or drop it.
        A signal shorter than one patch is always padded, with a warning.

    Attributes
    ----------
    n_channels_in_ : int
        Number of channels seen at ``fit``.
    n_features_in_ : int
        Length of axis 1 at ``fit``, as in scikit-learn (the number of
        channels for 3-D input; for 2-D single-channel input, the number of
        samples).
    ch_names_ : list of str or None
        Channel names seen at ``fit`` (for :class:`mne.Epochs`, the EEG
        channels kept).
    sfreq_in_ : float
        Input sampling frequency used at ``fit``.
    n_groups_ : int
        Number of groups seen at ``fit`` (1 when fitted without groups).

    See Also
    --------
    sk_cria.datasets.load_eegmat : real recordings to try it on.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria import EEGPreprocessor
    >>> X = np.random.default_rng(0).normal(size=(4, 3, 1000))  # 4 s at 250 Hz
    >>> Xt = EEGPreprocessor(sfreq=250, ch_names=["Fz", "Cz", "Pz"]).fit_transform(X)
    >>> Xt.shape, Xt.ch_names, Xt.scaling
    ((4, 3, 800), ['Fz', 'Cz', 'Pz'], 'window')
    """

    # As the aligners of sk_cria.alignment: groups are requested by default
    # once metadata routing is enabled (only scaling="group" uses them).
    __metadata_request__fit = {"groups": True}
    __metadata_request__transform = {"groups": True}

    def __init__(
        self,
        sfreq=None,
        ch_names=None,
        l_freq=0.5,
        h_freq=None,
        line_freq=60.0,
        filter_order=4,
        notch_quality=10.0,
        scaling="window",
        scale_quantile=95.0,
        partial_patch="pad",
    ):
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.l_freq = l_freq
        self.h_freq = h_freq
        self.line_freq = line_freq
        self.filter_order = filter_order
        self.notch_quality = notch_quality
        self.scaling = scaling
        self.scale_quantile = scale_quantile
        self.partial_patch = partial_patch

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None, groups=None):
        """Check ``X`` and remember its channels.

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or \
                (n_examples, n_times), or mne.Epochs
            EEG in microvolts. A 2-D array is a single channel. Any real dtype;
            float16 is computed in float64 (as scikit-learn upcasts it), with a
            warning that its lost precision is not restored.
        y : None
            Ignored; present for the pipeline API.
        groups : array-like of shape (n_examples,) or None, default=None
            Group (recording or subject) of each example; only counted here
            (``n_groups_``); ``scaling="group"`` scales at ``transform``.

        Returns
        -------
        self : EEGPreprocessor
        """
        self._check_params()
        data, sfreq, ch_names, n_features = self._read_input(X, warn_dropped=True)
        self.sfreq_in_ = sfreq
        self.n_channels_in_ = data.shape[1]
        check_n_features(self, n_features, reset=True)
        self.ch_names_ = ch_names
        self.n_groups_ = len(np.unique(check_groups(groups, len(data))))
        return self

    def fit_transform(self, X, y=None, groups=None):
        """Fit, then preprocess ``X``; ``groups`` reaches both steps.

        Parameters
        ----------
        X : array-like or mne.Epochs
            As in :meth:`fit`.
        y : None
            Ignored.
        groups : array-like of shape (n_examples,) or None, default=None
            As in :meth:`transform`.

        Returns
        -------
        Xt : EEGArray
            As in :meth:`transform`.
        """
        # TransformerMixin.fit_transform would pass groups to fit only.
        return self.fit(X, y, groups).transform(X, groups)

    def transform(self, X, groups=None):
        """Preprocess ``X``.

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or \
                (n_examples, n_times), or mne.Epochs
            EEG in microvolts, with the channels seen at ``fit``.
        groups : array-like of shape (n_examples,) or None, default=None
            Group (recording or subject) of each example, for
            ``scaling="group"``: each group is scaled on its own examples, so
            groups need not have been seen at ``fit``. None scales all
            examples as one group, with a warning if ``fit`` saw several.
            Ignored by the other scalings.

        Returns
        -------
        Xt : EEGArray of shape (n_examples, n_channels, n_patches * 200)
            float32 at 200 Hz, carrying ``ch_names``, ``n_valid_times`` and
            ``scaling``.
        """
        check_is_fitted(self)
        data, sfreq, ch_names, n_features = self._read_input(X)
        if self.scaling == "group":
            if groups is None and self.n_groups_ > 1:
                warn_groups_not_routed(type(self).__name__, self.n_groups_, len(data),
                                       "scaled")
            groups = check_groups(groups, len(data))
        # Names first: for mne.Epochs they say which channel (or bad) changed.
        if ch_names is not None and self.ch_names_ is not None and ch_names != self.ch_names_:
            extra = [n for n in ch_names if n not in self.ch_names_]
            missing = [n for n in self.ch_names_ if n not in ch_names]
            raise ValueError(
                f"X has channels {ch_names} but EEGPreprocessor was fitted with "
                f"{self.ch_names_} (not seen at fit: {extra}; missing: {missing}; "
                "for mne.Epochs, the good EEG channels count); give the channels "
                "of fit, in that order, or fit again."
            )
        check_n_features(self, n_features, reset=False)
        if sfreq != self.sfreq_in_:
            raise ValueError(
                f"X is sampled at {sfreq} Hz but EEGPreprocessor was fitted at "
                f"{self.sfreq_in_} Hz; resample it or fit again."
            )
        flat = _flat_channels(data)
        if flat.all(axis=1).any():
            warnings.warn(
                f"{int(flat.all(axis=1).sum())} of {len(data)} example(s) of X have no "
                "signal at all (every channel constant, e.g. all zeros); they come out "
                "as zeros. Check that the right data (and units) were given.",
                UserWarning,
            )
        out = self._filter(data, sfreq)
        out = self._check_finite(_resample(out, sfreq, TARGET_SFREQ), "resampling to 200 Hz")
        out = self._check_finite(self._scale(out, flat, groups), "scaling")
        out, n_valid = self._to_patches(out)
        return EEGArray(out, ch_names=ch_names, sfreq=TARGET_SFREQ, n_valid_times=n_valid,
                        scaling=self.scaling)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        # Fitting learns nothing from the values, but transform needs to know
        # the channels, so fit is still required.
        tags.requires_fit = True
        return tags

    # ------------------------------------------------------------ internals
    def _check_params(self):
        check_params(self, _PARAM_CHECKS)
        l_freq, h_freq = self.l_freq, self.h_freq
        if l_freq is not None and h_freq is not None and l_freq >= h_freq:
            raise ValueError(
                f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq})."
            )

    def _read_input(self, X, warn_dropped=False):
        """Return data (n, c, t) float64 in uV, sfreq, ch_names and n_features."""
        if _is_mne_epochs(X):
            picks = _eeg_picks(X, warn_dropped)
            data = X.get_data(picks=picks, units="uV")
            sfreq = float(X.info["sfreq"])
            ch_names = [X.ch_names[i] for i in picks]
            # As the array parameters are checked at fit (MNE allows "Fp1" and "FP1").
            check_params_of(self, _PARAM_CHECKS["sfreq"], "the mne.Epochs' info['sfreq']",
                            sfreq)
            check_params_of(self, check_ch_names, "the EEG channels of the mne.Epochs",
                            ch_names)
        else:
            if self.sfreq is None:
                raise ValueError(
                    "sfreq is required for array input: pass "
                    "EEGPreprocessor(sfreq=<rate in Hz>), or give mne.Epochs, "
                    "whose info holds the rate. No rate is ever assumed."
                )
            # check_array gives scikit-learn's standard messages for sparse,
            # object and 1-D input, check_eeg_values ours for complex values and
            # examples of different lengths; finiteness is checked below with an
            # EEG-specific hint. float16 is computed in float64, as scikit-learn
            # upcasts it, with a warning: its precision is lost already.
            warn_half_precision(self, X, "float64")
            data = check_eeg_values(
                X, type(self).__name__, ensure_all_finite=False, dtype=np.float64,
                ensure_min_samples=1, ensure_min_features=1,
            )
            sfreq = float(self.sfreq)
            ch_names = None if self.ch_names is None else list(self.ch_names)
        n_features = data.shape[1] if data.ndim >= 2 else None
        data = as_three_d(data)
        if 0 in data.shape:
            raise ValueError(
                f"X is empty (shape {data.shape}): it needs at least one example, "
                "one channel and one sample."
            )
        if not np.all(np.isfinite(data)):
            bad = np.argwhere(~np.isfinite(data))[0]
            raise ValueError(
                "X contains NaN or infinity (first at example, channel, sample "
                f"{tuple(int(i) for i in bad)}); interpolate or drop the bad "
                "segments (e.g. mne's annotations with reject_by_annotation) first."
            )
        if ch_names is not None and len(ch_names) != data.shape[1]:
            raise ValueError(
                f"ch_names has {len(ch_names)} names but X has {data.shape[1]} "
                "channels; give one name per channel of axis 1."
            )
        return data.astype(np.float64, copy=False), sfreq, ch_names, n_features

    def _band_edges(self, sfreq):
        """Effective (l_freq, h_freq) at this input rate, clamped below Nyquist."""
        nyquist = min(sfreq, TARGET_SFREQ) / 2.0
        limit = _NYQUIST_MARGIN * nyquist
        h_freq = self.h_freq
        if h_freq is None:
            h_freq = min(DEFAULT_H_FREQ, limit)
        elif h_freq >= nyquist:
            warnings.warn(
                f"h_freq={h_freq} Hz is at or above the Nyquist frequency "
                f"({nyquist} Hz) of the input or output rate; using {limit:g} Hz.",
                UserWarning,
            )
            h_freq = limit
        l_freq = self.l_freq
        if l_freq is not None and l_freq >= h_freq:
            warnings.warn(
                f"l_freq={l_freq} Hz is not below the effective h_freq "
                f"({h_freq:g} Hz) at {sfreq} Hz; the high-pass is skipped.",
                UserWarning,
            )
            l_freq = None
        return l_freq, h_freq

    def _filter(self, data, sfreq):
        l_freq, h_freq = self._band_edges(sfreq)
        sos = _band_pass_sos(self.filter_order, l_freq, h_freq, sfreq)
        try:
            filtered = None if sos is None else _filtfilt(sos, data, "band-pass")
        except np.linalg.LinAlgError:  # its initial conditions: poles nearly at 1
            filtered = None
        if filtered is None or not np.isfinite(filtered).all():
            self._refuse_band_pass(l_freq, h_freq, sfreq)
        data = filtered
        if self.line_freq is not None:
            if self.line_freq < _NYQUIST_MARGIN * sfreq / 2.0:
                sos = _notch_sos(self.line_freq, self.notch_quality, sfreq)
                data = self._check_finite(_filtfilt(sos, data, "notch"),
                                          f"the notch (notch_quality={self.notch_quality})")
            else:
                warnings.warn(
                    f"line_freq={self.line_freq} Hz is at or above the Nyquist "
                    f"frequency of the {sfreq} Hz input; the notch is skipped.",
                    UserWarning,
                )
        return data

    def _refuse_band_pass(self, l_freq, h_freq, sfreq):
        """Raise the error of a band-pass that floating point cannot hold, with valid orders."""
        usable = _usable_orders(self.filter_order, l_freq, h_freq, sfreq)
        band = f"{l_freq:g}-{h_freq:g} Hz" if l_freq is not None else f"below {h_freq:g} Hz"
        fix = [f"filter_order in [1, {usable}]"] if usable else []
        fix += ["a higher l_freq (0.5 Hz, the default)"] if l_freq is not None else []
        fix = " or ".join(fix) or "a lower sfreq"
        raise ValueError(
            f"EEGPreprocessor: filter_order={self.filter_order} cannot be designed as a "
            f"Butterworth band-pass of {band} at {sfreq:g} Hz in floating point (its "
            f"poles reach the unit circle, so the output would be NaN or infinite); give "
            f"{fix} for this rate."
        )

    def _check_finite(self, data, step):
        """Refuse NaN or infinite output of a step (the input was checked finite)."""
        if not np.isfinite(data).all():
            raise ValueError(
                f"EEGPreprocessor: {step} turned finite input into NaN or infinite values "
                f"(sfreq={self.sfreq_in_:g} Hz, filter_order={self.filter_order}, "
                f"l_freq={self.l_freq}, h_freq={self.h_freq}, line_freq={self.line_freq}, "
                f"notch_quality={self.notch_quality}); nothing is returned. Use the "
                "defaults (filter_order=4, notch_quality=10) or values near them."
            )
        return data

    def _scale(self, data, flat, groups):
        """Divide each channel by its scale; flat channels come out as zeros."""
        if self.scaling == "window":
            scale = np.percentile(np.abs(data), self.scale_quantile, axis=-1, keepdims=True)
        elif self.scaling == "group":
            scale = np.empty(data.shape[:2] + (1,))
            labels, index = np.unique(groups, return_inverse=True)
            for i in range(len(labels)):
                rows = index.reshape(-1) == i
                # One scale per channel over all samples of the group's windows.
                scale[rows] = np.percentile(np.abs(data[rows]), self.scale_quantile,
                                            axis=(0, 2), keepdims=True)
        else:
            self._check_microvolts(data, flat)
            scale = np.full(data.shape[:2] + (1,), float(self.scaling))
        # A flat channel leaves only rounding noise after filtering; dividing by
        # its tiny percentile would blow that noise up, so it becomes zeros.
        tiny = np.finfo(np.float32).tiny
        out = data / np.maximum(scale, tiny)
        out[flat | (scale[..., 0] <= tiny)] = 0.0
        return out.astype(np.float32)

    def _check_microvolts(self, data, flat):
        """Refuse input to a fixed unit whose amplitude is far below any scalp EEG in uV.

        Dividing volts by 100 "uV" gives values near 1e-7: the model would see
        silence, with no error. Scalp EEG has a 95th percentile of tens of uV;
        below MIN_TYPICAL_UV (the flat-electrode threshold of
        :mod:`sk_cria.datasets._quality`) in most channels, the unit is wrong.
        """
        live = ~flat
        if not live.any():
            return  # all flat: warned about already, and comes out as zeros
        typical = float(np.median(np.percentile(np.abs(data), self.scale_quantile,
                                                axis=-1)[live]))
        if typical < MIN_TYPICAL_UV:
            raise ValueError(
                f"EEGPreprocessor(scaling={self.scaling!r}) divides by a fixed unit in "
                f"microvolts, but the typical amplitude of X is {typical:.3g} (the "
                f"{self.scale_quantile:g}th percentile of |x| per channel, median over "
                "channels and examples), far below scalp EEG in microvolts: X looks like "
                "volts or millivolts (MNE's get_data() returns volts). Give microvolts "
                "(X * 1e6 for volts, get_data(units='uV'), or the mne.Epochs themselves), "
                "or use scaling='window', which does not depend on the unit."
            )

    def _to_patches(self, data):
        n_times = data.shape[-1]
        if n_times < PATCH_SIZE:
            warnings.warn(
                f"The signal has {n_times} samples at 200 Hz, shorter than one "
                f"{PATCH_SIZE}-sample patch; it is zero-padded to one patch and "
                "the padding is recorded in n_valid_times.",
                UserWarning,
            )
            n_patches = 1
        elif self.partial_patch == "pad":
            n_patches = -(-n_times // PATCH_SIZE)
        else:
            n_patches = n_times // PATCH_SIZE
        total = n_patches * PATCH_SIZE
        if total <= n_times:
            return np.ascontiguousarray(data[..., :total]), total
        padded = np.zeros(data.shape[:-1] + (total,), dtype=data.dtype)
        padded[..., :n_times] = data
        return padded, n_times


def _eeg_picks(epochs, warn_dropped):
    """Indices of the good EEG channels of ``epochs``, chosen by MNE's picking.

    Stim, EOG, ECG and other non-EEG channels must not be filtered and
    embedded as EEG, and channels marked bad are left out, as MNE does.
    """
    import mne

    picks = mne.pick_types(epochs.info, meg=False, eeg=True, exclude="bads")
    if len(picks) == 0:
        raise ValueError(
            "The mne.Epochs hold no good EEG channel (channel types: "
            f"{sorted(set(epochs.get_channel_types()))}, bads: {epochs.info['bads']}); "
            "set the EEG channels' type with epochs.set_channel_types({name: 'eeg'}) "
            "or clear info['bads']."
        )
    if warn_dropped and len(picks) < len(epochs.ch_names):
        kinds = epochs.get_channel_types()
        dropped = [
            f"{name} ({'bad' if name in epochs.info['bads'] else kind})"
            for i, (name, kind) in enumerate(zip(epochs.ch_names, kinds)) if i not in picks
        ]
        warnings.warn(
            f"EEGPreprocessor uses the {len(picks)} good EEG channels of the mne.Epochs "
            f"and leaves out {len(dropped)}: {', '.join(dropped)}.",
            UserWarning,
        )
    return picks


def _is_mne_epochs(X):
    try:
        # Deferred: mne takes seconds to import, and arrays never need it.
        from mne import BaseEpochs
    except ImportError:  # pragma: no cover - mne is a dependency
        return False
    return isinstance(X, BaseEpochs)


# The filters are designed once per setting: EEGWindowsDataset preprocesses
# window by window, and designing them anew took a quarter of its time
# (benchmarks/results/pretrain_profile.md).
@functools.lru_cache(maxsize=64)
def _band_pass_sos(order, l_freq, h_freq, sfreq):
    """The band-pass in second-order sections, or None when floating point cannot hold it."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's BadCoefficients: judged below
            if l_freq is None:
                sos = signal.butter(order, h_freq, "lowpass", fs=sfreq, output="sos")
            else:
                sos = signal.butter(order, [l_freq, h_freq], "bandpass", fs=sfreq,
                                    output="sos")
            poles = signal.sos2zpk(sos)[1]
            signal.sosfilt_zi(sos)  # sosfiltfilt's initial conditions: singular near 1
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):  # OverflowError, NaN
        return None
    if not (np.isfinite(sos).all() and np.abs(poles).max() < 1.0):
        return None  # unstable: filtering would blow up to inf/NaN
    return sos  # shared by every call; sosfiltfilt only reads it


def _usable_orders(order, l_freq, h_freq, sfreq):
    """How many orders from 1 up can all be designed, below ``order`` (0: none).

    Usable orders need not form an interval at extreme edges, so they are
    counted up from 1 rather than bisected.
    """
    return next((k - 1 for k in range(1, order)
                 if _band_pass_sos(k, l_freq, h_freq, sfreq) is None), order - 1)


@functools.lru_cache(maxsize=64)
def _notch_sos(line_freq, quality, sfreq):
    sos = signal.tf2sos(*signal.iirnotch(line_freq, quality, fs=sfreq))
    return sos  # shared by every call; sosfiltfilt only reads it


def _filtfilt(sos, data, what):
    """Zero-phase filtering that degrades gracefully on short signals."""
    default_padlen = 3 * (2 * len(sos) + 1)
    n_times = data.shape[-1]
    padlen = min(default_padlen, n_times - 1)
    if padlen < default_padlen:
        if n_times < 2 * len(sos) + 1:
            warnings.warn(
                f"The signal ({n_times} samples) is too short for the {what} "
                "filter; that filter is skipped.",
                UserWarning,
            )
            return data
        warnings.warn(
            f"The signal ({n_times} samples) is short for the {what} filter; "
            f"edge padding is reduced from {default_padlen} to {padlen} samples.",
            UserWarning,
        )
    return signal.sosfiltfilt(sos, data, axis=-1, padlen=padlen)


def _resample(data, sfreq_in, sfreq_out):
    if sfreq_in == sfreq_out:
        return data
    ratio = Fraction(sfreq_out / sfreq_in).limit_denominator(1000)
    out = signal.resample_poly(data, ratio.numerator, ratio.denominator, axis=-1)
    # As many samples as the duration holds at sfreq_out: resample_poly rounds
    # up (and the ratio is approximated), which gave 1 s at 173.61 or 199.9 Hz
    # 201 samples, a second patch of one sample.
    n_out = max(1, int(round(data.shape[-1] * sfreq_out / sfreq_in)))
    if out.shape[-1] >= n_out:
        return out[..., :n_out]
    return np.concatenate([out, np.repeat(out[..., -1:], n_out - out.shape[-1], axis=-1)],
                          axis=-1)


def _flat_channels(data):
    """Boolean (n_examples, n_channels): channels with no variation at all."""
    return np.ptp(data, axis=-1) == 0

