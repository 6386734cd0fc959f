"""Input checks of the sk_cria estimators, in one place (as pyRiemann keeps ``_check.py``).

Each check names the problem and the fix in its error message.
"""

import math
import numbers
import os
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array

from .channels import electrode_duplicates, normalize_channel_name

__all__ = ["as_three_d", "boolean", "check_ch_names", "check_device", "check_eeg_array",
           "check_eeg_values", "stackable",
           "check_fit_params", "check_groups", "check_n_features", "check_number",
           "check_optimizer", "check_params",
           "check_params_of", "class_weight", "verbosity", "warn_half_precision",
           "get_ch_names", "number", "one_of", "optional_path", "random_state",
           "resolve_ch_names", "warn_groups_not_routed", "warn_if_constant_within_groups"]


# ------------------------------------------------------ constructor parameters
# The one mechanism by which the estimators check their parameters in fit:
# each estimator lists ``{name: check}`` and calls :func:`check_params`. A
# check takes ``(name, value)`` and raises TypeError for a wrong type,
# ValueError for a wrong value, naming the parameter, the value and what is
# valid; check_params puts the estimator's name in front.

def check_params(estimator, checks):
    """Check the constructor parameters of ``estimator`` named in ``checks``.

    Parameters
    ----------
    estimator : object
        Its attributes hold the parameters (scikit-learn's contract).
    checks : dict of str to callable
        Parameter name -> check, built with :func:`number`, :func:`boolean`,
        :func:`one_of`, ... A check is called as ``check(name, value)``.
    """
    for name, check in checks.items():
        check_params_of(estimator, check, name, getattr(estimator, name))


def check_params_of(estimator, check, name, value):
    """Run ``check(name, value)``; its error names the estimator in front."""
    owner = type(estimator).__name__
    try:
        check(name, value)
    except TypeError as error:
        raise TypeError(f"{owner}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{owner}: {error}") from None


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _interval(low, high, closed):
    left = closed in ("both", "left")
    right = closed in ("both", "right")
    if high is None:
        return f"{'>=' if left else '>'} {low}"
    if low is None:
        return f"{'<=' if right else '<'} {high}"
    return f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"


def number(kind, low=None, high=None, closed="both", *, none=False, also=(), hint=""):
    """Check of a number parameter: an int (``kind=numbers.Integral``) or a real.

    The range is checked by :func:`sklearn.utils.check_scalar`; booleans and,
    for reals, NaN and infinities are refused.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
    low, high : number or None
        Bounds of the valid range (None: unbounded).
    closed : {"both", "left", "right", "neither"}
        Which bounds are valid values.
    none : bool
        Whether None is valid.
    also : tuple
        Further valid values outside the range (``-1`` for batch_size,
        ``"auto"`` for a learning rate).
    hint : str
        Appended to the message: why the range is what it is, or the fix.
    """
    word = "an integer" if kind is numbers.Integral else "a number"
    # check_scalar refuses a closed side without its bound: keep only the bounds given.
    left = closed in ("both", "left") and low is not None
    right = closed in ("both", "right") and high is not None
    closed = {(True, True): "both", (True, False): "left", (False, True): "right",
              (False, False): "neither"}[(left, right)]
    valid = f"{word} {_interval(low, high, closed)}" if low is not None or high is not None else word
    valid += "".join(f" or {v!r}" for v in also) + (" or None" if none else "")
    hint = f" {hint}" if hint else ""

    def check(name, value):
        if value is None and none:
            return
        # also may name a string ("auto"); arrays and booleans are never among them.
        if isinstance(value, (str, numbers.Number)) and not _is_bool(value) and value in also:
            return
        if _is_bool(value) or not isinstance(value, kind):
            raise TypeError(f"{name} must be {valid}, got {value!r} "
                            f"({type(value).__name__}).{hint}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be {valid}, got {value!r}.{hint}")
        try:
            check_scalar(value, name, kind, min_val=low, max_val=high,
                         include_boundaries=closed)
        except ValueError:
            # One wording for every refusal: what is valid, then the value given.
            raise ValueError(f"{name} must be {valid}, got {value!r}.{hint}") from None

    return check



def check_number(value, name, *, integer=False, low=None, high=None, low_open=False,
                 high_open=False, allow_none=False, fix=""):
    """Check one numeric argument given to a function, and return it as int or float.

    The function-call form of :func:`number` (the same rules and messages), for
    loaders and other functions that take their arguments directly. An integer
    argument also accepts a whole float (``4.0``) and returns an int.

    Raises
    ------
    TypeError
        ``value`` is not a real number (or not None when ``allow_none``).
    ValueError
        ``value`` is not finite, not whole (``integer``) or out of range.
    """
    if value is None and allow_none:
        return None
    if integer and isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    closed = {(False, False): "both", (False, True): "left", (True, False): "right",
              (True, True): "neither"}[(low_open, high_open)]
    kind = numbers.Integral if integer else numbers.Real
    try:
        number(kind, low, high, closed, none=allow_none, hint=fix)(name, value)
    except TypeError as error:
        if isinstance(value, (float, np.floating)):  # a number, only not a whole one
            raise ValueError(str(error)) from None
        raise
    return int(value) if integer else float(value)


def boolean(name, value):
    """Check of a True/False parameter (a truthy string such as "no" is refused)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {value!r} "
                        f"({type(value).__name__}).")


def one_of(choices, *, none=False, types=()):
    """Check of a parameter that takes one of ``choices`` (strings), or a value of ``types``."""
    valid = f"one of {choices}" + "".join(f" or a {t.__name__}" for t in types)
    valid += " or None" if none else ""

    def check(name, value):
        if (value is None and none) or (types and isinstance(value, types)):
            return
        if not isinstance(value, str):
            raise TypeError(f"{name} must be {valid}, got {value!r} "
                            f"({type(value).__name__}).")
        if value not in choices:
            raise ValueError(f"{name} must be {valid}, got {value!r}.")

    return check


def optional_path(name, value):
    """Check of a folder parameter: None, a str or a path-like, not an existing file."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be None, a str or a path-like, got {value!r} "
                        f"({type(value).__name__}).")
    if value is not None and os.path.isfile(value):
        raise ValueError(f"{name}={str(value)!r} is a file; give a folder (created if "
                         "missing).")


def verbosity(name, value):
    """Check of ``verbose``: a bool or an int >= 0 (a string such as "no" is refused)."""
    if _is_bool(value):
        return
    number(numbers.Integral, 0, hint="(0 is silent; True or 1 prints progress)")(name, value)


def class_weight(name, value):
    """Check of ``class_weight``: "balanced", None or {label: finite weight >= 0}."""
    one_of(("balanced",), none=True, types=(dict,))(name, value)
    if isinstance(value, dict):
        weight = number(numbers.Real, 0, hint="A class weight multiplies the loss of "
                        "that class's windows.")
        for label, w in value.items():
            weight(f"the weight of class {label!r} in {name}={value!r}", w)


def random_state(name, value):
    """Check of ``random_state``: None, an int or a numpy RandomState (as scikit-learn)."""
    if value is None or isinstance(value, np.random.RandomState):
        return
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None, an int or a numpy RandomState, got "
                        f"{value!r} ({type(value).__name__}).")
    if not 0 <= value < 2**32:
        raise ValueError(f"{name} must be an int in [0, 2**32), got {value!r}.")


def check_optimizer(name, value):
    """Check of ``optimizer``: a torch optimizer class (or a factory such as a partial)."""
    if isinstance(value, type):
        if issubclass(value, torch.optim.Optimizer):
            return
    elif callable(value):  # functools.partial(torch.optim.SGD, momentum=0.9)
        return
    raise TypeError(
        f"{name} must be a torch optimizer class such as torch.optim.AdamW (the "
        f"class, not an instance or a name), got {value!r}; its settings go as "
        f"{name}__<setting>=..., e.g. {name}__weight_decay=0.01."
    )


def check_device(name, value):
    """Check of ``device``: "auto", None, or a torch device that this machine has."""
    if value is None or value == "auto":
        return
    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a "
                        f"torch.device, got {value!r} ({type(value).__name__}).")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a torch device; use 'auto', 'cpu', "
                         "'cuda' or 'cuda:<index>'.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={value!r}, but CUDA is not available on this "
                             "machine (or this torch build has no CUDA); use "
                             f"{name}='auto' (CUDA when present, else the CPU) or 'cpu'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={value!r}, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s); use "
                             f"{name}='auto' or a device index below that.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={value!r}, but MPS is not available on this machine; "
                         f"use {name}='auto' or 'cpu'.")


def check_ch_names(name, value, *, none=True):
    """Check of a list of channel names: strings, each channel once (None if ``none``).

    A channel given twice would make two channels share one channel embedding
    without a word, so duplicates are refused, named. Names are compared as
    the encoder looks them up (:func:`sk_cria.channels.normalize_channel_name`):
    ``"Fp1"``, ``"FP1"`` and ``"EEG Fp1-REF"`` are one channel, as ``"T3"``
    and ``"T7"`` are.
    """
    if value is None and none:
        return
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of channel names, got the string {value!r} "
                        f"(its letters would be taken as names); write {name}=[{value!r}].")
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of channel names (one str per channel)"
                        f"{' or None' if none else ''}, got {value!r}.")
    bad = [ch for ch in value if not isinstance(ch, str)]
    if bad:
        raise TypeError(f"{name} must hold str channel names, got {bad[0]!r} "
                        f"({type(bad[0]).__name__}) among them.")
    duplicates = electrode_duplicates(value)
    if duplicates:
        repeated = sorted({ch for group in duplicates for ch in group if group.count(ch) > 1})
        spelt = [list(dict.fromkeys(group)) for group in duplicates]
        problems = ([f"channel name(s) {repeated} appear more than once"] if repeated else [])
        problems += [f"channel names {', '.join(map(repr, group[:-1]))} and {group[-1]!r} "
                     "are one channel, "
                     f"{normalize_channel_name(group[0])}" for group in spelt if len(group) > 1]
        raise ValueError(
            f"{name}: {'; '.join(problems)} (in {list(value)}); each channel needs a name "
            "of its own (a repeated channel would give two channels one channel embedding; "
            "names are matched as the encoder looks them up, ignoring case, an 'EEG' "
            "prefix and a '-REF' suffix, with old names such as T3 meaning T7). Rename or "
            "drop the duplicates."
        )


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


def check_eeg_values(X, owner, **params):
    """scikit-learn's ``check_array(X, allow_nd=True, **params)``, with plain words for two inputs.

    numpy's message for examples of different shapes ("inhomogeneous shape
    after 2 dimensions", :func:`stackable`) and scikit-learn's for complex
    values (which prints the whole array) name neither the problem nor the fix.
    """
    with stackable(X, owner):
        try:
            return check_array(X, allow_nd=True, **params)
        except ValueError as error:
            if "Complex data not supported" not in str(error):
                raise
            # scikit-learn's words first: its estimator checks match them.
            raise ValueError(
                f"{owner}: Complex data not supported; X holds complex numbers, and EEG "
                "is a real signal. Give the real signal (X.real), or a real feature of "
                "it (np.abs(X) for an envelope)."
            ) from None


@contextmanager
def stackable(X, owner):
    """Say it plainly when a list of examples of different shapes fails to stack."""
    try:
        yield
    except ValueError as error:
        if not (isinstance(X, (list, tuple)) and "inhomogeneous" in str(error)):
            raise
        shapes = sorted({np.shape(x) for x in X})
        raise ValueError(
            f"{owner}: the {len(X)} examples of X have different shapes "
            f"({', '.join(map(str, shapes[:4]))}{', ...' if len(shapes) > 4 else ''}); "
            "they need one shape to stack into one array. Cut EEG windows to one "
            "length (mne.Epochs with fixed tmin and tmax, or sk_cria.datasets' "
            "fixed-length windows), or process each shape apart."
        ) from None


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

def check_fit_params(estimator, fit_params, instead):
    """Refuse keyword arguments of ``fit`` that the estimator does not take, at once.

    skorch passes ``fit(**fit_params)`` on to the module's ``forward``, so a
    ``sample_weight`` (which scikit-learn's meta-estimators pass to estimators
    that take one) would fail inside torch after training started, or be
    ignored. ``instead`` says how to weigh windows with this estimator.
    """
    if "sample_weight" in fit_params:
        raise TypeError(
            f"{type(estimator).__name__}.fit does not take sample_weight (the windows "
            f"are weighed alike); {instead}"
        )
    if fit_params:
        raise TypeError(
            f"{type(estimator).__name__}.fit got unexpected keyword argument(s) "
            f"{sorted(fit_params)}; it takes X, y and groups (groups by keyword, or "
            "routed by scikit-learn's metadata routing)."
        )


def warn_half_precision(estimator, X, computed_in):
    """Warn that float16 ``X`` is computed in ``computed_in``, its lost precision not restored.

    scikit-learn's ``check_array`` upcasts float16 without a word; an EEG array
    stored in float16 has already lost all but about 3 significant digits (a
    20 uV signal on a 2000 uV offset keeps steps of 1 uV) and holds nothing
    beyond 65504, so the estimators that take EEG say so. The result is that
    of the float16 values, computed in ``computed_in``.
    """
    if getattr(X, "dtype", None) == np.float16:
        from .model.cria import _outside_caller_level  # deferred: torch model code

        warnings.warn(
            f"{type(estimator).__name__}: X is float16 (half precision: about 3 "
            "significant digits, nothing beyond 65504); it is computed in "
            f"{computed_in}, but the precision lost when it was stored in float16 is "
            "not restored. Keep EEG in float32 or float64 (EEGPreprocessor returns "
            "float32).",
            UserWarning,
            stacklevel=_outside_caller_level(),
        )


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
    warn_half_precision(estimator, X, "float32")
    X = check_eeg_values(X, type(estimator).__name__, dtype=np.float32,
                         ensure_all_finite=True)
    if reset is not None:
        check_n_features(estimator, X.shape[1], reset)
    X = as_three_d(X)
    if 0 in X.shape:  # check_array counts the examples only, for 3-D input
        raise ValueError(
            f"{type(estimator).__name__}: X is empty (shape {X.shape}): it needs at least "
            "one example, one channel and one sample."
        )
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
        source = "the channel names of X" if X_ch_names is not None else "ch_names"
        check_params_of(estimator, check_ch_names, source, names)
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

def warn_groups_not_routed(owner, n_groups, n_rows, verb="aligned"):
    """Warn that ``transform`` got groups=None after a fit on several groups.

    The usual sign that ``groups`` was not routed to ``predict``: all rows
    of the call are then treated as one group.
    """
    warnings.warn(
        f"{owner} was fitted on {n_groups} groups but transform received groups=None: "
        f"all {n_rows} rows are {verb} as one group. Route groups to predict (enable "
        "metadata routing and pass groups=..., or score with "
        "sk_cria.alignment.GroupScorer), or test one subject at a time (LeaveOneGroupOut).",
        UserWarning,
        stacklevel=3,
    )


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
