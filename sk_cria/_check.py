"""Input checks of the sk_cria estimators, in one place (as pyRiemann keeps ``_check.py``).

Each check names the problem and the fix in its error message.
"""

import warnings

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["as_three_d", "check_eeg_array", "check_groups", "check_n_features",
           "get_ch_names", "resolve_ch_names", "warn_if_constant_within_groups"]


def get_ch_names(X):
    """Return the channel names carried by ``X`` (an :class:`EEGArray`), else None."""
    return getattr(X, "ch_names", None)

def check_n_features(estimator, n_features, reset):
    """scikit-learn's ``n_features_in_`` contract on axis 1 of the raw input.

    Axis 1 is the channels of a 3-D array and the samples of a 2-D
    single-channel array; every sk_cria estimator checks it the same way.
    """
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input (axis 1: the "
            "channels of a 3-D array, the samples of a 2-D single-channel array); "
            "give data shaped like the data given to fit, or fit again."
        )

def as_three_d(data):
    """View a 2-D single-channel array as (n, 1, t); refuse anything but 2-D or 3-D."""
    if data.ndim == 2:
        data = data[:, np.newaxis, :]
    if data.ndim != 3:
        raise ValueError(
            f"Expected a 3-D array (n_examples, n_channels, n_times) or a 2-D "
            f"single-channel array (n_examples, n_times), got shape {data.shape}."
        )
    return data

def check_eeg_array(estimator, X, reset, patch_size):
    """Validate X and return a float32 (n, C, T) array, T a multiple of ``patch_size``.

    A 2-D array is one channel. Time axes that are not a whole number of
    1-second patches (arrays that did not go through EEGPreprocessor) are
    zero-padded with a warning. Samples past an :class:`~sk_cria.EEGArray`'s
    ``n_valid_times`` are padding: they are set to zero here, on a copy, so
    that what the padded region holds changes nothing downstream (fit,
    transform, predict). ``n_features_in_`` follows scikit-learn: the
    length of axis 1 (the channels of a 3-D array); ``reset=None`` leaves it
    unchecked (an estimator fitted on a dataset of several montages).
    """
    ch_names = get_ch_names(X)
    n_valid = getattr(X, "n_valid_times", None)
    X = check_array(X, allow_nd=True, dtype=np.float32, ensure_all_finite=True)
    if reset is not None:
        check_n_features(estimator, X.shape[1], reset)
    X = as_three_d(X)
    n_times = X.shape[-1]
    if n_valid is not None and n_valid < n_times:
        X = X.copy()  # never write into the caller's array
        X[..., n_valid:] = 0.0
    remainder = n_times % patch_size
    if remainder:
        if reset:
            warnings.warn(
                f"{type(estimator).__name__}: n_times={n_times} is not a whole number "
                "of 1 s patches "
                f"at 200 Hz; the last patch is zero-padded. Put EEGPreprocessor "
                "before this step to resample, scale and patch the signal.",
                UserWarning,
            )
        X = np.pad(X, ((0, 0), (0, 0), (0, patch_size - remainder)))
    return np.ascontiguousarray(X), ch_names

def resolve_ch_names(estimator, X_ch_names, n_channels, reset):
    """Channel names for this call: from the EEGArray, else the ``ch_names`` param.

    At fit, they are stored in ``ch_names_``; at predict/transform, data with
    a different channel count or other names is refused.
    """
    name = type(estimator).__name__
    names = X_ch_names if X_ch_names is not None else estimator.ch_names
    if names is not None:
        names = list(names)
        if len(names) != n_channels:
            raise ValueError(
                f"{name} got {len(names)} channel names for {n_channels} channels; "
                "give one name per channel of axis 1."
            )
    if reset:
        if names is None:
            # Position-free by design: without names every channel shares the
            # "unknown" embedding, so say so once here.
            warnings.warn(
                f"{name}: no channel names given (neither by an EEGPreprocessor "
                "before it nor by ch_names=...); all channels share the 'unknown' "
                "channel embedding, so a pre-trained encoder cannot use them.",
                UserWarning,
            )
            names = [f"unknown{i}" for i in range(n_channels)]
        estimator.ch_names_ = names
        estimator.n_channels_in_ = n_channels
        return names
    if n_channels != estimator.n_channels_in_:
        raise ValueError(
            f"X has {n_channels} channels, but {name} was fitted on "
            f"{estimator.n_channels_in_} channels; give the channels seen at fit, "
            "or fit again."
        )
    if names is not None and X_ch_names is not None and names != estimator.ch_names_:
        raise ValueError(
            f"X carries channels {names}, but {name} was fitted on "
            f"{estimator.ch_names_}; reorder or rename them, or fit again."
        )
    return estimator.ch_names_

def check_groups(groups, n_samples):
    """Return ``groups`` as a 1-D array, one group per row; None makes one group.

    A missing group (None or NaN) is refused: NaN would make a group of each
    row, and None cannot be sorted with the other groups.
    """
    if groups is None:
        return np.zeros(n_samples, dtype=int)
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(
            f"groups must have shape ({n_samples},), one group per row of X; "
            f"got shape {groups.shape}."
        )
    if groups.dtype.kind == "f":
        missing = np.isnan(groups)
    elif groups.dtype.kind == "O":
        missing = np.array([g is None or (isinstance(g, (float, np.floating)) and np.isnan(g))
                            for g in groups], dtype=bool)
    else:
        missing = np.zeros(n_samples, dtype=bool)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"groups has no group (None or NaN) for row(s) {rows[:5].tolist()}"
            f"{' ...' if len(rows) > 5 else ''} of {n_samples}; give every row its group "
            "(subject), or leave those rows out."
        )
    try:
        np.unique(groups)
    except TypeError as error:
        kinds = sorted({type(g).__name__ for g in groups})
        raise TypeError(
            f"groups mixes values that cannot be compared ({', '.join(kinds)}); give "
            "every group as the same type, e.g. all int or all str."
        ) from error
    return groups

def warn_if_constant_within_groups(owner, y, groups):
    """Warn when y takes one value per group: alignment would erase what predicts it."""
    if y is None:
        return
    y = np.asarray(y)
    if y.shape[:1] != groups.shape or len(np.unique(groups)) < 2 or len(np.unique(y)) < 2:
        return
    _, group_index = np.unique(groups, return_inverse=True)
    _, y_index = np.unique(y, return_inverse=True)
    values_per_group = np.unique(np.stack([group_index, y_index]), axis=1)[0]
    if len(values_per_group) == len(np.unique(group_index)):
        warnings.warn(
            f"{owner} was fitted with a y that is constant within every group: each "
            "group is aligned on its own statistics, which removes whatever is constant "
            "within a group, so a per-group label (patient vs control, one class per "
            "subject) cannot be learnt after this step. Align only when the label varies "
            "within subjects.",
            UserWarning,
            stacklevel=3,
        )

def check_number(value, name, *, integer=False, low=None, high=None, low_open=False,
                 high_open=False, allow_none=False, fix=""):
    """Check one numeric parameter and return it as int or float.

    Like :func:`sklearn.utils.check_scalar`, but NaN, infinity, booleans and
    strings are refused too, and the message ends with ``fix``. An integer
    parameter accepts a whole float (``4.0``) and returns an int.

    Raises
    ------
    TypeError
        ``value`` is not a real number (or not None when ``allow_none``).
    ValueError
        ``value`` is not finite, not whole (``integer``) or out of range.
    """
    import numbers  # local: keeps this addition to the module self-contained

    if value is None and allow_none:
        return None
    kind = "an integer" if integer else "a number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high}")
    wanted = f"{kind}{' ' + ' and '.join(bounds) if bounds else ''}{' or None' if allow_none else ''}"
    message = f"{name} must be {wanted}, got {value!r}. {fix}".rstrip()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(message)
    if not np.isfinite(value) or (integer and float(value) != int(value)):
        raise ValueError(message)
    value = int(value) if integer else float(value)
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(message)
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(message)
    return value
