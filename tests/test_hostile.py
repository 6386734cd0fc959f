"""Hostile input to every public estimator, function and CLI flag (issue 37).

What a hostile but realistic user gives: NaN and infinities, half precision,
integers, complex and object arrays, empty arrays, the wrong number of
dimensions, a single example, channel names spelt twice, names that do not
fit the channels, implausible sampling rates, negative, zero and huge
numbers, wrong types, ``sample_weight``, and paths that do not exist or name
a file where a folder is wanted. Each case either

- raises a clear error early: the expected exception type, a message naming
  the parameter or the problem, raised by sk_cria's or scikit-learn's input
  validation (never a traceback that ends in torch, scipy, numpy or MNE),
  and before any training (``initialized_`` stays unset); or
- gives a correct result: finite, of the right shape, equal to what the same
  values give as float64 where a dtype only changes the storage.

The CLI is walked flag by flag from its own parser, so that a new flag is
covered without editing this file; only parse-time validation runs (the
commands' run functions are replaced by a stub that fails the test). Tiny
arrays and a one-layer encoder keep the module in the fast lane.

Cases marked ``xfail(strict=True)`` are defects found by this module in files
outside its change (listed in the reason); fixing one turns its case into a
failure (XPASS), so the mark is removed with the fix.
"""

import argparse
import os
import re
import warnings

import numpy as np
import pytest

import sk_cria
from sk_cria import (
    CRIAClassifier,
    EEGArray,
    EEGPreprocessor,
    EuclideanAlignment,
    GroupStandardScaler,
    RiemannianAlignment,
    RiemannianRecentering,
    ViewMaskPretrainer,
)
from sk_cria import baselines, cli
from sk_cria.datasets import (EEGWindowsDataset, find_recordings, get_data_home,
                              load_eegbci_imagery, load_eegmat)

# The smallest encoder that trains (sk_cria/model/config.py): one layer, width 32.
TINY = dict(config=dict(d_model=32, n_heads=2, n_layers=1, embed_dim=32), max_epochs=1,
            batch_size=4, random_state=0)
NAMES = ["Fz", "Cz", "Pz"]
RNG = np.random.default_rng(0)
RAW = 20.0 * RNG.normal(size=(6, 3, 400))  # 2 s at 200 Hz, in uV
WINDOWS = np.asarray(EEGPreprocessor(sfreq=200, ch_names=NAMES).fit_transform(RAW))
_A = RNG.normal(size=(6, 3, 40))
SPD = _A @ _A.transpose(0, 2, 1) / 40
FEATURES = 1000.0 * RNG.normal(size=(8, 3))
Y = np.array([0, 1] * 3)

# Where a validation error may come from: sk_cria and scikit-learn's input checks.
_VALIDATORS = (f"{os.sep}sk_cria{os.sep}", f"{os.sep}sklearn{os.sep}utils{os.sep}")


def refused(call, error, match, estimator=None):
    """``call()`` raises ``error`` matching ``match``, from validation, before training."""
    with pytest.raises(error, match=match) as info:
        call()
    origin = str(info.traceback[-1].path)
    assert any(part in origin for part in _VALIDATORS), (
        f"raised deep inside a library ({origin}), not by input validation")
    assert f"{os.sep}sk_cria{os.sep}model{os.sep}cria.py" not in origin, (
        "raised by the model's forward, i.e. after training started")
    if estimator is not None:
        assert not getattr(estimator, "initialized_", False), "training had started"


def finite(out):
    out = np.asarray(out)
    assert out.size and np.isfinite(out.astype(np.float64)).all()
    return out


# --------------------------------------------------------------- the estimators
def _cria(make, with_y):
    def run(X, names=None):
        est = make(ch_names=names)
        fitted = est.fit(X, Y[:len(X)]) if with_y else est.fit(X)
        return est, (fitted.predict_proba(X) if with_y else fitted.transform(X))
    return run


def _plain(make, with_names=False):
    def run(X, names=None):
        est = make(ch_names=names) if with_names else make()
        return est, est.fit_transform(X)
    return run


ESTIMATORS = {
    # name: (run(X, names) -> (estimator, output), the base input)
    "EEGPreprocessor": (_plain(lambda **kw: EEGPreprocessor(sfreq=200, **kw), True), RAW),
    "ViewMaskPretrainer": (_cria(lambda **kw: ViewMaskPretrainer(**TINY, **kw), False),
                           WINDOWS),
    "CRIAClassifier": (_cria(lambda **kw: CRIAClassifier(**TINY, early_stopping=False, **kw),
                             True), WINDOWS),
    "EuclideanAlignment": (_plain(EuclideanAlignment), RAW),
    "RiemannianAlignment": (_plain(RiemannianAlignment), RAW),
    "RiemannianRecentering": (_plain(RiemannianRecentering), SPD),
    "GroupStandardScaler": (_plain(GroupStandardScaler), FEATURES),
    "BandPassFilter": (_plain(lambda: baselines.BandPassFilter(sfreq=200)), RAW),
    "LogBandPower": (_plain(lambda: baselines.LogBandPower(sfreq=200)), RAW),
    "LogVariance": (_plain(lambda: baselines.LogVariance(sfreq=200)), RAW),
}


def _with(X, index, value):
    X = X.astype(np.float64)
    X[index] = value
    return X


# name: (make hostile X from the base, error or None (a correct result), match)
INPUTS = {
    "nan": (lambda X: _with(X, (0,) * X.ndim, np.nan), ValueError, r"NaN"),
    "inf": (lambda X: _with(X, (-1,) * X.ndim, -np.inf), ValueError, r"[Ii]nfinity"),
    "float16": (lambda X: X.astype(np.float16), None, None),
    "int": (lambda X: np.round(X).astype(np.int64), None, None),
    "object of numbers": (lambda X: X.astype(object), None, None),
    "nested lists": (lambda X: X.tolist(), None, None),
    "complex": (lambda X: X.astype(np.complex128), ValueError, r"[Cc]omplex data not supported"),
    "strings": (lambda X: np.full(X.shape, "1,5"), ValueError, r"could not convert string"),
    "no examples": (lambda X: X[:0], ValueError, r"0 sample\(s\)|empty"),
    "no samples": (lambda X: X[..., :0], ValueError,
                   r"empty|0 feature\(s\)|Expected SPD matrices"),
    "1-D": (lambda X: X.ravel()[:10], ValueError, r"Expected 2D array, got 1D"),
    "one more axis": (lambda X: X[None], ValueError, r"Expected|dim 3|3-D"),
    # A list of examples that do not stack (windows of different lengths).
    "ragged list": (lambda X: list(X[:-1]) + [X[-1][..., :-1]], ValueError,
                    r"examples of X have different shapes \(.*\); they need one shape"),
}
# Refusals particular to an estimator: a single window has no contrastive
# negatives, and one window is one class.
SPECIAL = {
    ("ViewMaskPretrainer", "one example"): (ValueError, r"no batch to train on"),
    ("CRIAClassifier", "one example"): (ValueError, r"at least 2 classes"),
}
# Defects in files outside this change: the reason says which and where.
KNOWN = {}
INPUTS["one example"] = (lambda X: X[:1], None, None)

# A class of input that makes a value only change its storage: the result is
# what the same values give as float64 (rounded the same way).
_SAME_VALUES = {"float16", "int", "object of numbers", "nested lists"}


def _cases():
    for estimator in ESTIMATORS:
        for kind in INPUTS:
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN[estimator, kind])]
                     if (estimator, kind) in KNOWN else [])
            yield pytest.param(estimator, kind, marks=marks, id=f"{estimator}-{kind}")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("estimator, kind", list(_cases()))
def test_hostile_arrays(estimator, kind):
    run, base = ESTIMATORS[estimator]
    make, error, match = INPUTS[kind]
    error, match = SPECIAL.get((estimator, kind), (error, match))
    X = make(base)
    if error is not None:
        holder = {}

        def call():
            holder["estimator"], _ = run(X)

        refused(call, error, match)
        assert not getattr(holder.get("estimator"), "initialized_", False)
        return
    _, out = run(X)
    out = finite(out)
    if kind in _SAME_VALUES:
        values = np.asarray(make(base), dtype=np.float64)
        _, expected = run(values)
        np.testing.assert_allclose(out.astype(np.float64), np.asarray(expected, np.float64),
                                   rtol=2e-3, atol=5e-3)


@pytest.mark.parametrize("estimator", ["EEGPreprocessor", "ViewMaskPretrainer",
                                       "CRIAClassifier"])
def test_half_precision_eeg_is_warned_about(estimator):
    run, base = ESTIMATORS[estimator]
    with pytest.warns(UserWarning, match=r"X is float16 .*computed in float(32|64)"):
        run(base.astype(np.float16))


# ------------------------------------------------------------- channel names
@pytest.mark.parametrize("names, error, match", [
    (["Fp1", "FP1", "EEG Fp1-REF"], ValueError, r"'Fp1', 'FP1' and 'EEG Fp1-REF' are one channel"),
    (["T3", "Cz", "T7"], ValueError, r"'T3' and 'T7' are one channel"),
    (["Fz", "Cz", "Fz"], ValueError, r"\['Fz'\] appear more than once"),
    (["Fz", "Cz"], ValueError, r"2 (channel )?names.* 3 channels|ch_names has 2 names"),
    (["Fz", "Cz", "Pz", "Oz"], ValueError, r"4 (channel )?names.* 3 channels|ch_names has 4"),
    ("Fz", TypeError, r"got the string 'Fz'"),
    ([1, 2, 3], TypeError, r"must hold str channel names, got 1"),
])
@pytest.mark.parametrize("estimator", ["EEGPreprocessor", "ViewMaskPretrainer",
                                       "CRIAClassifier", "EEGArray"])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_hostile_channel_names(estimator, names, error, match):
    if estimator == "EEGArray":
        refused(lambda: EEGArray(WINDOWS, ch_names=names), error, match)
        return
    run, base = ESTIMATORS[estimator]
    refused(lambda: run(base, names), error, match)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_reordered_eeg_array_is_refused_by_a_fitted_estimator():
    X = EEGArray(WINDOWS, ch_names=NAMES)
    net = ViewMaskPretrainer(**TINY).fit(X)
    assert X[:, ::-1].ch_names == NAMES[::-1]
    refused(lambda: net.transform(X[:, ::-1]), ValueError, r"X carries channels")
    assert np.isfinite(net.transform(X[:, :])).all()


# ----------------------------------------------------------------- parameters
def _fit(est):
    def call():
        if isinstance(est, CRIAClassifier):
            est.fit(WINDOWS, Y)
        elif isinstance(est, (ViewMaskPretrainer, EEGPreprocessor)):
            est.fit(WINDOWS if isinstance(est, ViewMaskPretrainer) else RAW)
        elif isinstance(est, RiemannianRecentering):
            est.fit(SPD)
        elif isinstance(est, GroupStandardScaler):
            est.fit(FEATURES)
        else:
            est.fit_transform(RAW)
    return call


PARAMS = [
    # (estimator class and fixed params, parameter, hostile value, error, match)
    *[(EEGPreprocessor, {}, "sfreq", value, ValueError, r"sfreq must be a number in \[32")
      for value in (0.5, 1e7, -1, 0, float("nan"), float("inf"))],
    (EEGPreprocessor, {}, "sfreq", "200", TypeError, r"sfreq must be a number"),
    (EEGPreprocessor, {}, "sfreq", None, ValueError, r"sfreq is required for array input"),
    *[(EEGPreprocessor, {"sfreq": 200}, "filter_order", value, ValueError,
       r"filter_order must be an integer in \[1, 100\]") for value in (0, -4, 10**6)],
    (EEGPreprocessor, {"sfreq": 200}, "filter_order", 4.5, TypeError, r"filter_order must be"),
    (EEGPreprocessor, {"sfreq": 200}, "l_freq", -1.0, ValueError, r"l_freq must be"),
    (EEGPreprocessor, {"sfreq": 200, "h_freq": 10.0}, "l_freq", 1e9, ValueError,
     r"l_freq \(1000000000\.0\) must be below h_freq \(10\.0\)"),
    (EEGPreprocessor, {"sfreq": 200}, "h_freq", 0, ValueError, r"h_freq must be"),
    (EEGPreprocessor, {"sfreq": 200}, "line_freq", "60", TypeError, r"line_freq must be"),
    (EEGPreprocessor, {"sfreq": 200}, "notch_quality", float("inf"), ValueError,
     r"notch_quality must be"),
    (EEGPreprocessor, {"sfreq": 200}, "scaling", -100.0, ValueError, r"scaling must be"),
    (EEGPreprocessor, {"sfreq": 200}, "scale_quantile", 0, ValueError, r"scale_quantile"),
    (EEGPreprocessor, {"sfreq": 200}, "scale_quantile", 1e9, ValueError, r"scale_quantile"),
    (EEGPreprocessor, {"sfreq": 200}, "partial_patch", None, TypeError, r"partial_patch"),
    *[(cls, TINY, param, value, error, param)
      for cls in (ViewMaskPretrainer, CRIAClassifier)
      for param, value, error in [
          ("lr", 0, ValueError), ("lr", -1.0, ValueError), ("lr", "fast", TypeError),
          ("max_epochs", -1, ValueError), ("max_epochs", 1.5, TypeError),
          ("batch_size", 0, ValueError), ("random_state", -1, ValueError),
          ("random_state", "0", TypeError), ("device", "gpu", ValueError),
          ("config", "huge", ValueError), ("config", {"d_model": 0}, ValueError),
          ("config", {"d_model": -32}, ValueError), ("verbose", "yes", TypeError),
          ("encoder", "/nonexistent/encoder", FileNotFoundError),
          ("encoder", __file__, FileNotFoundError),
      ]],
    # Sizes and rates without an upper bound failed inside torch: d_model=10**9 asked
    # for 1.4 TB, projection_dim=10**9 for 128 GB, lr=1e300 overflowed in the optimizer
    # after training had started.
    *[(cls, TINY, "config", {"d_model": 10**9}, ValueError,
       r"CRIAConfig\.d_model=1000000000 is too large: .* parameters .* Lower d_model")
      for cls in (ViewMaskPretrainer, CRIAClassifier)],
    *[(cls, TINY, "config", {"n_layers": 10**6}, ValueError, r"Lower n_layers")
      for cls in (ViewMaskPretrainer, CRIAClassifier)],
    *[(cls, TINY, "lr", value, ValueError, r"lr must be a number in \(0, 10\.0\]")
      for cls in (ViewMaskPretrainer, CRIAClassifier) for value in (1e300, 11.0)],
    (ViewMaskPretrainer, TINY, "projection_dim", 10**9, ValueError,
     r"projection_dim must be an integer in \[1, 65536\]"),
    (ViewMaskPretrainer, TINY, "batch_size", 1, ValueError, r"batch_size"),
    (ViewMaskPretrainer, TINY, "checkpoint_dir", __file__, ValueError, r"is a file"),
    (ViewMaskPretrainer, TINY, "checkpoint_dir", 3, TypeError, r"checkpoint_dir"),
    (ViewMaskPretrainer, TINY, "temperature", 0.0, ValueError, r"temperature"),
    (ViewMaskPretrainer, TINY, "mask_ratio", 2.0, ValueError, r"mask_ratio"),
    (CRIAClassifier, TINY, "class_weight", {0: -1.0, 1: 1.0}, ValueError, r"class_weight"),
    (CRIAClassifier, TINY, "validation_fraction", 1.0, ValueError, r"validation_fraction"),
    (CRIAClassifier, TINY, "n_threads", 0, ValueError, r"n_threads"),
    (RiemannianRecentering, {}, "metric", "nope", ValueError, r"metric must be one of"),
    (RiemannianAlignment, {}, "metric", 3, ValueError, r"metric must be one of"),
    (GroupStandardScaler, {}, "with_mean", "no", TypeError, r"with_mean must be True or False"),
    (GroupStandardScaler, {}, "with_std", None, TypeError, r"with_std must be True or False"),
    # The baselines' transformers take sfreq as EEGPreprocessor does (one check):
    # 0.5 Hz failed deep in scipy, 1e9 made MNE allocate 24.6 GiB, "200" gave a
    # TypeError comparing str and int.
    *[(cls, {}, "sfreq", value, error, r"sfreq must be a number in \[32")
      for cls in (baselines.BandPassFilter, baselines.LogBandPower, baselines.LogVariance)
      for value, error in [(-1, ValueError), (0, ValueError), (float("nan"), ValueError),
                           (0.5, ValueError), (1e9, ValueError), (None, TypeError),
                           ("200", TypeError)]],
    # l_freq above h_freq was silently MNE's band-stop.
    (baselines.BandPassFilter, {"sfreq": 200, "h_freq": 10}, "l_freq", 50, ValueError,
     r"l_freq \(50\) must be below h_freq \(10\)"),
    # l_freq at or above Nyquist failed inside scipy.
    (baselines.BandPassFilter, {"sfreq": 200, "h_freq": None}, "l_freq", 150, ValueError,
     r"l_freq \(150\) must be below the Nyquist frequency \(100 Hz\)"),
    (baselines.BandPassFilter, {"sfreq": 200}, "h_freq", -40, ValueError,
     r"h_freq must be a number > 0"),
    (baselines.BandPassFilter, {"sfreq": 200}, "method", "FIR", ValueError,
     r"method must be one of"),
    (baselines.LogBandPower, {"sfreq": 200}, "window_seconds", 0, ValueError,
     r"window_seconds must be a number > 0"),
]
# Defects in files outside this change.
KNOWN_PARAMS = {}


def _param_cases():
    for case in PARAMS:
        if hasattr(case, "marks"):  # a pytest.param already
            yield case
            continue
        cls, fixed, param, value, error, match = case
        key = (cls.__name__, param, repr(value))
        marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_PARAMS[key])]
                 if key in KNOWN_PARAMS else [])
        yield pytest.param(cls, fixed, param, value, error, match, marks=marks,
                           id=f"{cls.__name__}-{param}={value!r}")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("cls, fixed, param, value, error, match", list(_param_cases()))
def test_hostile_parameters(cls, fixed, param, value, error, match):
    est = cls(**{**fixed, param: value})  # stored as given; checked at fit
    refused(_fit(est), error, match, est)


@pytest.mark.parametrize("make", [
    lambda: ViewMaskPretrainer(**TINY), lambda: CRIAClassifier(**TINY),
])
def test_sample_weight_is_refused_at_once(make):
    est = make()
    for method in (est.fit, est.partial_fit):
        refused(lambda: method(WINDOWS, Y, sample_weight=np.ones(len(Y))), TypeError,
                r"does not take sample_weight", est)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sfreq": "200"}, TypeError, r"sfreq must be a number"),
    ({"sfreq": 0}, ValueError, r"sfreq must be a number > 0"),
    ({"n_valid_times": -1}, ValueError, r"n_valid_times must be an integer in \[0, 400\]"),
    ({"n_valid_times": 10**6}, ValueError, r"n_valid_times must be an integer in \[0, 400\]"),
])
def test_hostile_eeg_array_metadata(kwargs, error, match):
    refused(lambda: EEGArray(WINDOWS, **kwargs), error, match)


# ------------------------------------------------------------------ functions
def test_public_names_are_all_walked():
    # A new public estimator must get its hostile cases here.
    walked = set(ESTIMATORS) | {"EEGArray", "GroupScorer", "__version__"}
    assert set(sk_cria.__all__) <= walked, set(sk_cria.__all__) - walked


@pytest.mark.parametrize("call, error, match", [
    (lambda data, tmp: load_eegmat(subjects=[0], path=tmp / "nothing", download=False),
     FileNotFoundError, r"not found in .*download=False"),
    (lambda data, tmp: load_eegmat(subjects=[-1], path=data, download=False), ValueError,
     r"numbered 0 to 35"),
    (lambda data, tmp: load_eegmat(subjects=[0], path=data, window=float("nan"),
                                   download=False), ValueError, r"window must be a number > 0"),
    (lambda data, tmp: load_eegmat(subjects=[0], path=data, sfreq=-1, download=False),
     ValueError, r"sfreq must be"),
    (lambda data, tmp: find_recordings(tmp / "nothing"), FileNotFoundError, r"does not exist"),
    (lambda data, tmp: find_recordings(3), TypeError, r"paths must be a file or folder"),
    (lambda data, tmp: EEGWindowsDataset(tmp / "nothing"), FileNotFoundError,
     r"does not exist"),
    (lambda data, tmp: EEGWindowsDataset(data, window=0), ValueError,
     r"window must be an integer"),
    (lambda data, tmp: EEGWindowsDataset(data, window="10"), TypeError,
     r"window must be an integer"),
    # path=3 failed in pathlib; a file was reported as a folder without the data.
    (lambda data, tmp: load_eegmat(subjects=[0], path=3, download=False), TypeError,
     r"path must be None, a str or a path-like, got 3"),
    (lambda data, tmp: load_eegmat(subjects=[0], path=data / "README.md", download=False),
     ValueError, r"path=.*README\.md' is a file; give a folder"),
    (lambda data, tmp: get_data_home(data / "README.md"), ValueError,
     r"path=.*README\.md' is a file; give a folder"),
    # 0.5 resampled to 0.5 Hz without a word; 1e7 asked for 271 GiB.
    *[(lambda data, tmp, value=value: load_eegmat(subjects=[0], path=data, sfreq=value,
                                                  download=False),
       ValueError, r"sfreq must be a number in \[32\.0, 100000\.0\] or None")
      for value in (0.5, 1e7)],
    (lambda data, tmp: load_eegbci_imagery(1, runs=[4], path=data, sfreq=0.5), ValueError,
     r"sfreq must be a number in \[32\.0, 100000\.0\] or None"),
    # A channel named twice failed inside MNE ("sel is not unique").
    (lambda data, tmp: load_eegmat(subjects=[0], path=data, download=False,
                                   channels=["EEG Fz", "EEG Cz", "EEG Fz"]),
     ValueError, r"channels: channel name\(s\) \['EEG Fz'\] appear more than once"),
    # tmax=1e6 failed inside numpy (every trial dropped by MNE).
    (lambda data, tmp: load_eegbci_imagery(1, runs=[4], path=data, tmax=1e6), ValueError,
     r"tmax=1000000\.0 s runs past the recording of run 4 \(125\.0 s\) for all its 15"),
])
def test_hostile_loader_arguments(tmp_path, data_path, call, error, match):
    refused(lambda: call(data_path, tmp_path), error, match)


# ------------------------------------------------------------------------ CLI
def _cli_actions():
    """Every option of ``sk-cria pretrain`` and ``benchmark``, read from the parser."""
    parsers = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        parsers["root"] = self
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture
    try:
        cli.main(["--help"])
    except SystemExit:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    commands = next(a for a in parsers["root"]._actions
                    if isinstance(a, argparse._SubParsersAction)).choices
    for command, parser in commands.items():
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                yield command, action


def _hostile_values(action):
    if action.nargs == 0:  # a switch
        return [f"{action.option_strings[0]}=yes"]
    if action.choices is not None:
        return ["bogus"]
    if action.type is None:
        return []  # a free string (a name): checked when the command runs
    if action.type is cli.path:
        return [""]  # any other text names a path ('' was taken as the current folder)
    return ["-1", "nan", "inf", "abc", ""]


# Defects in cli.py (outside this change).
KNOWN_FLAGS = {}


def _cli_cases():
    for command, action in _cli_actions():
        for value in _hostile_values(action):
            flag = action.option_strings[-1]
            marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_FLAGS[command, flag, value])]
                     if (command, flag, value) in KNOWN_FLAGS else [])
            yield pytest.param(command, action, value, marks=marks,
                               id=f"{command}-{flag}={value}")


REQUIRED = {"pretrain": ["PATH", "--out", "OUT"], "benchmark": []}


@pytest.mark.parametrize("command, action, value", list(_cli_cases()))
def test_hostile_cli_flags_are_refused_at_parsing(monkeypatch, capsys, tmp_path, command,
                                                  action, value):
    def must_not_run(args):
        pytest.fail(f"{command} {action.option_strings} {value!r} passed parsing and ran")

    monkeypatch.setattr(cli, "_run_pretrain", must_not_run)
    monkeypatch.setattr(cli, "_run_benchmark", must_not_run)
    required = [str(tmp_path) if part in ("PATH", "OUT") else part
                for part in REQUIRED[command]]
    flag = action.option_strings[-1]
    given = [value] if value.startswith("--") else [flag] + [value] * max(
        1, action.nargs if isinstance(action.nargs, int) else 1)
    with pytest.raises(SystemExit) as info:
        cli.main([command, *required, *given])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument {'/'.join(action.option_strings)}" in err or flag in err, err


@pytest.mark.parametrize("argv, match", [
    # '' was Path('') == '.': the current folder searched, or trained into.
    (["benchmark", "--data", ""], r"argument --data: got an empty path"),
    (["pretrain", "", "--out", "{out}"], r"argument PATH: got an empty path"),
    (["pretrain", "{file}", "--out", ""], r"argument --out: got an empty path"),
    (["benchmark", "--out", ""], r"argument --out: got an empty path"),
    (["benchmark", "--data", "{file}"], r"argument --data: .* is not a folder"),
    (["benchmark", "--data", "{missing}"], r"argument --data: .* is not a folder"),
    (["pretrain", "{missing}", "--out", "{out}"], r"does not exist|holds no EEG recording"),
    (["pretrain", "{file}", "--out", "{out}"], r"error: None of the 1 file\(s\) holds usable "
                                                r"EEG \(notes\.txt"),
    # MNE's EDF reader stops on a bare assert: the reason was "AssertionError: ."
    (["pretrain", "{zeros}", "--out", "{out}"], r"zeros\.edf: AssertionError: not a valid "
                                                 r"\.edf file"),
])
def test_hostile_cli_paths(monkeypatch, capsys, tmp_path, argv, match):
    (tmp_path / "notes.txt").write_text("not EEG")
    (tmp_path / "zeros.edf").write_text("0" * 256)
    values = {"file": str(tmp_path / "notes.txt"), "zeros": str(tmp_path / "zeros.edf"),
              "missing": str(tmp_path / "missing"),
              "out": str(tmp_path / "out")}
    monkeypatch.setattr(cli, "_run_benchmark", lambda args: pytest.fail("benchmark ran"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # argparse exits; a command's own refusal is its return code
            code = cli.main([part.format(**values) for part in argv])
        except SystemExit as exit:
            code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert re.search(match, err), err
