import pickle
import warnings

import joblib
import mne
import numpy as np
import pytest
from scipy import signal
import sklearn
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.preprocessing import FunctionTransformer

from sk_cria import EEGArray, EEGPreprocessor


@parametrize_with_checks([EEGPreprocessor(sfreq=200.0)])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        # sklearn's checks use signals shorter than one patch: warned about, by design.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def _spectrum(x, sfreq):
    freqs, psd = signal.welch(x, fs=sfreq, nperseg=int(2 * sfreq), axis=-1)
    return freqs, psd


def test_real_eegmat_output_shape_rate_and_names(eegmat_small):
    b = eegmat_small
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    Xt = pre.fit_transform(b.data[:6])
    assert isinstance(Xt, EEGArray)
    assert Xt.shape == (6, 20, 1000)  # 5 s at 200 Hz = 5 patches
    assert Xt.dtype == np.float32
    assert Xt.sfreq == 200.0 and Xt.n_valid_times == 1000
    assert Xt.ch_names == b.ch_names
    assert pre.ch_names_ == b.ch_names and pre.n_channels_in_ == 20


def test_notch_removes_50hz_line_from_real_recording(eegmat_small):
    x = eegmat_small.data[:4].astype(np.float64)
    t = np.arange(x.shape[-1]) / 500.0
    noisy = x + 40.0 * np.sin(2 * np.pi * 50.0 * t)  # 40 uV of mains, far above the EEG
    kept = EEGPreprocessor(sfreq=500.0, line_freq=None).fit_transform(noisy)
    notched = EEGPreprocessor(sfreq=500.0, line_freq=50.0).fit_transform(noisy)
    freqs, p_kept = _spectrum(kept, 200.0)
    _, p_notched = _spectrum(notched, 200.0)
    at50 = np.argmin(np.abs(freqs - 50.0))
    neighbours = (np.abs(freqs - 50.0) > 3) & (np.abs(freqs - 50.0) < 8)
    # Without the notch the line dominates its neighbourhood; with it, it is gone.
    assert np.median(p_kept[..., at50] / p_kept[..., neighbours].mean(-1)) > 100
    assert np.median(p_notched[..., at50] / p_notched[..., neighbours].mean(-1)) < 0.1


def test_band_pass_removes_drift(eegmat_small):
    x = eegmat_small.data[:2].astype(np.float64)
    t = np.arange(x.shape[-1]) / 500.0
    drifting = x + 40.0 * t  # electrode drift: 200 uV over the window, 10 times the EEG
    out = EEGPreprocessor(sfreq=500.0, line_freq=50.0).fit_transform(drifting)
    ref = EEGPreprocessor(sfreq=500.0, line_freq=50.0).fit_transform(x)
    # Drift removal: the output is (almost) that of the drift-free signal.
    corr = np.corrcoef(out[..., 100:-100].ravel(), ref[..., 100:-100].ravel())[0, 1]
    assert corr > 0.95


def test_scaling_is_per_channel_and_per_example(eegmat_small):
    x = eegmat_small.data[:3].astype(np.float64)
    gains = x.copy()
    gains[0, 4] *= 1000.0  # one channel of one example recorded with another gain
    gains[2] *= 1e-6  # one example in volts instead of microvolts
    pre = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="window")
    out, out_gains = pre.fit_transform(x), pre.fit_transform(gains)
    np.testing.assert_allclose(out_gains, out, rtol=1e-4, atol=1e-5)
    q95 = np.percentile(np.abs(out), 95, axis=-1)
    np.testing.assert_allclose(q95, 1.0, rtol=0.02)


def test_epochs_and_array_give_the_same_output(eegmat_small):
    b = eegmat_small
    names = ["Fp1", "Fp2", "F3", "F4", "Cz"]
    x = b.data[:5, :5].astype(np.float64)
    info = mne.create_info(names, b.sfreq, ch_types="eeg")
    epochs = mne.EpochsArray(x * 1e-6, info, verbose="error")  # MNE stores volts
    from_epochs = EEGPreprocessor(line_freq=50.0).fit_transform(epochs)
    from_array = EEGPreprocessor(sfreq=b.sfreq, ch_names=names, line_freq=50.0).fit_transform(x)
    np.testing.assert_allclose(from_epochs, from_array, rtol=1e-5, atol=1e-6)
    assert from_epochs.ch_names == names


def test_eegbci_at_160hz_is_resampled_to_200hz(data_path):
    from sk_cria.datasets import load_eegbci_imagery

    b = load_eegbci_imagery(path=data_path, return_epochs=True)
    Xt = EEGPreprocessor().fit_transform(b.epochs)
    assert Xt.shape == (45, 64, 800)
    assert Xt.ch_names == b.ch_names


def test_partial_patch_pad_or_drop():
    x = np.random.default_rng(0).normal(size=(2, 3, 250))  # 1.25 s at 200 Hz
    padded = EEGPreprocessor(sfreq=200).fit_transform(x)
    dropped = EEGPreprocessor(sfreq=200, partial_patch="drop").fit_transform(x)
    assert padded.shape == (2, 3, 400) and padded.n_valid_times == 250
    assert np.all(padded[..., 250:] == 0)
    assert dropped.shape == (2, 3, 200) and dropped.n_valid_times == 200


def test_short_erp_epoch_is_padded_with_one_warning():
    x = np.random.default_rng(0).normal(size=(5, 4, 100))  # 0.5 s at 200 Hz
    with pytest.warns(UserWarning, match="shorter than one 200-sample patch") as record:
        Xt = EEGPreprocessor(sfreq=200).fit_transform(x)
    assert sum("shorter than one" in str(w.message) for w in record) == 1
    assert Xt.shape == (5, 4, 200) and Xt.n_valid_times == 100


def test_explicit_cutoff_above_nyquist_is_clamped_with_warning():
    x = np.random.default_rng(0).normal(size=(2, 2, 1000))
    with pytest.warns(UserWarning, match="Nyquist"):
        EEGPreprocessor(sfreq=200, h_freq=120).fit_transform(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default h_freq is capped silently
        EEGPreprocessor(sfreq=200).fit_transform(x)


def test_flat_channel_gives_zeros_not_nan():
    x = np.random.default_rng(0).normal(size=(2, 3, 600))
    x[:, 1] = 7.0
    x[0, 2] = 0.0
    Xt = EEGPreprocessor(sfreq=200).fit_transform(x)
    assert np.isfinite(Xt).all()
    assert np.all(Xt[:, 1] == 0) and np.all(Xt[0, 2] == 0)
    assert np.abs(Xt[1, 2]).max() > 0


@pytest.mark.parametrize(
    "kwargs, X, match",
    [
        ({"sfreq": 200}, np.full((2, 3, 400), np.nan), "NaN or infinity"),
        ({"sfreq": 200}, np.zeros((2, 3, 4, 400)) + 1, "3-D array"),
        ({"sfreq": 200}, np.zeros((2, 0, 400)), "empty"),
        ({"sfreq": 200}, np.zeros((0, 3, 400)), "minimum of 1 is required"),
        ({"sfreq": 200}, np.zeros((2, 3, 0)), "empty"),
        ({}, np.ones((2, 3, 400)), "sfreq is required"),
        ({"sfreq": 200, "ch_names": ["Cz", "Pz"]}, np.ones((2, 3, 400)), "ch_names has 2"),
    ],
)
def test_bad_input_is_refused_with_a_fix(kwargs, X, match):
    with pytest.raises(ValueError, match=match):
        EEGPreprocessor(**kwargs).fit(X)


def test_channel_count_change_at_transform_is_refused():
    rng = np.random.default_rng(0)
    pre = EEGPreprocessor(sfreq=200).fit(rng.normal(size=(2, 3, 400)))
    with pytest.raises(ValueError, match="X has 4 features.*expecting 3"):
        pre.transform(rng.normal(size=(2, 4, 400)))


def test_constructor_stores_params_only():
    pre = EEGPreprocessor(sfreq=-1, partial_patch="nonsense")  # validated at fit, not here
    assert pre.get_params()["partial_patch"] == "nonsense"
    with pytest.raises(ValueError, match="partial_patch"):
        pre.fit(np.ones((1, 1, 400)))


def test_eeg_array_survives_slicing_pickle_joblib_and_pipelines(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 2, 400))
    pipe = Pipeline([
        ("pre", EEGPreprocessor(sfreq=200, ch_names=["C3", "C4"])),
        ("identity", FunctionTransformer(lambda X: X)),
    ])
    Xt = clone(pipe).fit_transform(x)
    for obj in (Xt[1:3], pickle.loads(pickle.dumps(Xt))):
        assert obj.ch_names == ["C3", "C4"] and obj.n_valid_times == 400
    joblib.dump(Xt, tmp_path / "x.joblib")
    assert joblib.load(tmp_path / "x.joblib").ch_names == ["C3", "C4"]


@pytest.fixture(scope="module")
def epochs_with_non_eeg(data_path):
    """Real eegmmidb epochs with a stim channel, an EOG channel and a bad channel."""
    file = data_path / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf"
    raw = mne.io.read_raw_edf(file, preload=True, verbose="error")
    mne.datasets.eegbci.standardize(raw)
    events, _ = mne.events_from_annotations(raw, event_id={"T1": 1, "T2": 2}, verbose="error")
    stim = mne.io.RawArray(np.zeros((1, raw.n_times)),
                           mne.create_info(["STI"], raw.info["sfreq"], "stim"), verbose="error")
    raw.add_channels([stim], force_update_info=True)
    raw.add_events(events, stim_channel="STI")
    raw.set_channel_types({"Fp1": "eog"})
    raw.info["bads"] = ["T7"]
    return mne.Epochs(raw, mne.find_events(raw, "STI", verbose="error"), tmin=0.0,
                      tmax=2.0 - 1.0 / raw.info["sfreq"], baseline=None, preload=True,
                      verbose="error")


def test_epochs_keep_good_eeg_channels_only(epochs_with_non_eeg):
    epochs = epochs_with_non_eeg
    pre = EEGPreprocessor(line_freq=60.0)
    with pytest.warns(UserWarning, match=r"62 good EEG channels.*leaves out 3: "
                                         r"Fp1 \(eog\), T7 \(bad\), STI \(stim\)"):
        Xt = pre.fit_transform(epochs)
    kept = [n for n in epochs.ch_names if n not in ("Fp1", "T7", "STI")]
    assert pre.ch_names_ == kept and Xt.ch_names == kept and pre.n_channels_in_ == 62
    # The kept channels are preprocessed exactly as the same channels given as an array.
    array = epochs.get_data(picks=kept, units="uV")
    expected = EEGPreprocessor(sfreq=epochs.info["sfreq"], ch_names=kept).fit_transform(array)
    np.testing.assert_allclose(Xt, expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, at fit
        pre.transform(epochs)
    other = epochs.copy()
    other.info["bads"] = []
    with pytest.raises(ValueError, match=r"not seen at fit: \['T7'\]"):
        pre.transform(other)


def test_epochs_without_good_eeg_are_refused(epochs_with_non_eeg):
    epochs = epochs_with_non_eeg.copy().pick(["Fp1", "T7", "STI"])
    with pytest.raises(ValueError, match="no good EEG channel.*set_channel_types"):
        EEGPreprocessor().fit(epochs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"sfreq": "500"}, TypeError, r"sfreq must be a number in \[32\.0, 100000\.0\].*got '500'"),
        ({"sfreq": np.inf}, ValueError, r"sfreq must be a number in \[32.*got inf"),
        ({"sfreq": np.nan}, ValueError, r"sfreq must be a number in \[32.*got nan"),
        ({"sfreq": -200}, ValueError, r"sfreq must be a number in \[32.*got -200"),
        # Implausible rates failed deep in scipy (0.5 Hz even passed, all invented).
        ({"sfreq": 0.5}, ValueError, r"sfreq must be a number in \[32\.0, 100000\.0\].*got 0\.5"),
        ({"sfreq": 1e7}, ValueError, r"sfreq must be a number in \[32.*got 10000000\.0"),
        ({"line_freq": 0}, ValueError, r"line_freq must be a number > 0 or None.*50 or 60"),
        ({"line_freq": -50}, ValueError, r"line_freq must be a number > 0 or None"),
        ({"h_freq": -40}, ValueError, r"h_freq must be a number > 0 or None"),
        ({"h_freq": "40"}, TypeError, r"h_freq must be a number > 0 or None"),
        ({"l_freq": "1"}, TypeError, r"l_freq must be a number > 0 or None"),
        ({"notch_quality": 0}, ValueError, r"notch_quality must be a number > 0"),
        ({"notch_quality": -1}, ValueError, r"notch_quality must be a number > 0"),
        ({"filter_order": 2.5}, TypeError, r"filter_order must be an integer in \[1, 100\], got 2\.5"),
        ({"filter_order": 0}, ValueError, r"filter_order must be an integer in \[1, 100\]"),
        ({"filter_order": -4}, ValueError, r"filter_order must be an integer in \[1, 100\]"),
        # Returned all-NaN windows with only numpy warnings.
        ({"filter_order": 200}, ValueError, r"filter_order must be an integer in \[1, 100\], got 200"),
        ({"scaling": "subject"}, ValueError,
         r'scaling must be "window", "group" or a fixed unit in microvolts \(a number > 0, '
         r"e\.g\. 100\.0\), got 'subject'"),
        ({"scaling": 0.0}, ValueError, r"scaling must be .*got 0\.0"),
        ({"scaling": np.nan}, ValueError, r"scaling must be .*got nan"),
        ({"scaling": True}, TypeError, r"scaling must be .*got True \(bool\)"),
        ({"scaling": None}, TypeError, r"scaling must be .*got None"),
        ({"scale_quantile": "95"}, TypeError, r"scale_quantile must be a number in \(0, 100\]"),
        ({"scale_quantile": 150}, ValueError, r"scale_quantile must be a number in \(0, 100\], got 150"),
        ({"partial_patch": ["pad"]}, TypeError, r"partial_patch must be one of \('pad', 'drop'\)"),
        ({"partial_patch": "Pad"}, ValueError, r"partial_patch must be one of \('pad', 'drop'\), got 'Pad'"),
        ({"ch_names": "Fz"}, TypeError, r"got the string 'Fz'.*ch_names=\['Fz'\]"),
        ({"ch_names": ["Fz", 3]}, TypeError, r"ch_names must hold str channel names, got 3"),
        ({"ch_names": ["Fz", "Cz", "Fz"]}, ValueError, r"ch_names: channel name\(s\) \['Fz'\] appear more than once"),
    ],
)
def test_bad_parameters_are_refused_at_fit(eegmat_small, kwargs, error, match):
    X = eegmat_small.data[:2, :3]
    params = {"sfreq": 500.0, "ch_names": ["Fz", "Cz", "Pz"], **kwargs}
    pre = EEGPreprocessor(**params)  # stored as given, checked at fit
    assert pre.get_params()[next(iter(kwargs))] is kwargs[next(iter(kwargs))]
    with pytest.raises(error, match=match):
        pre.fit(X)


def test_all_zero_examples_warn_that_they_become_zeros(eegmat_small):
    X = eegmat_small.data[:3].astype(np.float64)
    X[1] = 0.0
    with pytest.warns(UserWarning, match="1 of 3 example.*no signal at all"):
        Xt = EEGPreprocessor(sfreq=500.0, line_freq=50.0).fit_transform(X)
    assert np.all(Xt[1] == 0) and np.abs(Xt[0]).max() > 0


# ---------------------------------------------------------------- scaling scopes
def _two_subjects(eegmat_small, per_subject=4):
    """Windows of two real subjects (500 Hz, 20 channels) and their groups."""
    rows = np.concatenate([np.flatnonzero(eegmat_small.groups == g)[:per_subject]
                           for g in (0, 1)])
    return eegmat_small.data[rows].astype(np.float64), eegmat_small.groups[rows]


def _power(X):
    return (np.asarray(X, dtype=np.float64) ** 2).mean(axis=-1)


def test_fixed_unit_divides_by_the_unit_and_window_by_each_windows_percentile(eegmat_small):
    X, _ = _two_subjects(eegmat_small)
    microvolts = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling=1.0).fit_transform(X)
    unit = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling=100.0).fit_transform(X)
    window = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="window").fit_transform(X)
    default = EEGPreprocessor(sfreq=500.0, line_freq=50.0).fit_transform(X)
    assert (unit.scaling, window.scaling, default.scaling) == (100.0, "window", "window")
    np.testing.assert_array_equal(default, window)
    np.testing.assert_allclose(unit, microvolts / 100.0, rtol=1e-5, atol=1e-7)
    q95 = np.percentile(np.abs(microvolts), 95, axis=-1, keepdims=True)
    np.testing.assert_allclose(window, microvolts / q95, rtol=1e-4, atol=1e-5)
    # Real EEG of tens of microvolts: the unit keeps it near 1, and keeps its power.
    assert 0.05 < np.abs(unit).max() < 10
    assert not np.allclose(_power(unit), _power(unit)[0, 0], rtol=0.5)


def test_group_scaling_keeps_power_within_a_group_and_removes_its_gain(eegmat_small):
    X, groups = _two_subjects(eegmat_small)
    pre = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="group")
    out = pre.fit_transform(X, groups=groups)
    microvolts = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling=1.0).fit_transform(X)
    assert out.scaling == "group"
    for g in (0, 1):
        rows = groups == g
        # One scale per channel within a group: the power of any two windows
        # keeps its ratio (per window scaling would set it near 1).
        np.testing.assert_allclose(_power(out[rows]) / _power(out[rows][:1]),
                                   _power(microvolts[rows]) / _power(microvolts[rows][:1]),
                                   rtol=1e-3)
        q95 = np.percentile(np.abs(out[rows]), 95, axis=(0, 2))
        np.testing.assert_allclose(q95, 1.0, rtol=0.02)
    # A subject recorded with another gain comes out the same.
    gains = X.copy()
    gains[groups == 1] *= 1000.0
    np.testing.assert_allclose(pre.fit_transform(gains, groups=groups), out,
                               rtol=1e-4, atol=1e-5)


def test_group_scaling_with_one_window_per_group_is_window_scaling(eegmat_small):
    X, _ = _two_subjects(eegmat_small)
    window = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="window").fit_transform(X)
    group = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="group").fit_transform(
        X, groups=np.arange(len(X)))
    np.testing.assert_array_equal(group, window)


def test_group_scaling_without_groups_is_one_group_warned_after_a_grouped_fit(eegmat_small):
    X, groups = _two_subjects(eegmat_small)
    pre = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="group")
    one = pre.fit_transform(X, groups=np.zeros(len(X)))
    np.testing.assert_array_equal(pre.fit(X).transform(X), one)  # no warning: one group
    pre.fit(X, groups=groups)
    with pytest.warns(UserWarning, match=r"fitted on 2 groups but transform received "
                      r"groups=None: all 8 rows are scaled as one group"):
        np.testing.assert_array_equal(pre.transform(X), one)
    with pytest.raises(ValueError, match=r"groups must have shape \(8,\)"):
        pre.transform(X, groups=groups[:3])


def test_group_scaling_gets_groups_through_a_pipeline_as_the_aligners(eegmat_small):
    from sk_cria.alignment import RiemannianAlignment

    X, groups = _two_subjects(eegmat_small)
    pre = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="group")
    expected = clone(pre).fit_transform(X, groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        # Requested by default, as RiemannianAlignment's: no set_*_request needed.
        pipe = Pipeline([("pre", clone(pre)), ("align", RiemannianAlignment())])
        pipe.fit(X, groups=groups)
        by_pipe = pipe.named_steps["pre"].transform(X, groups=groups)
        np.testing.assert_array_equal(by_pipe, expected)
        aligned = pipe.transform(X, groups=groups)
        np.testing.assert_allclose(
            aligned, RiemannianAlignment().fit_transform(expected, groups=groups), rtol=1e-5)
        assert aligned.scaling == "group" and aligned.ch_names is None
        # Opting out, as for the aligners: the windows are then one group, with a warning.
        pipe.named_steps["pre"].set_transform_request(groups=False)
        with pytest.warns(UserWarning, match="EEGPreprocessor was fitted on 2 groups"):
            pipe.transform(X, groups=groups)


@pytest.mark.parametrize("scaling", ["group", 100.0])
def test_flat_channels_stay_zeros_with_every_scaling(scaling):
    x = np.random.default_rng(0).normal(size=(2, 3, 600)) * 30.0
    x[:, 1] = 7.0
    x[0, 2] = 0.0
    Xt = EEGPreprocessor(sfreq=200, scaling=scaling).fit_transform(x, groups=[0, 0])
    assert np.isfinite(Xt).all()
    assert np.all(Xt[:, 1] == 0) and np.all(Xt[0, 2] == 0)
    assert np.abs(Xt[1, 2]).max() > 0


def test_windows_read_one_at_a_time_refuse_group_scaling(tmp_path):
    from sk_cria.datasets import EEGWindowsDataset

    with pytest.raises(ValueError, match=r"preprocesses each window on its own, so "
                       r"EEGPreprocessor\(scaling='group'\) would scale each window by itself"):
        EEGWindowsDataset(tmp_path, preprocessor=EEGPreprocessor(scaling="group"))


@pytest.mark.parametrize("factor, unit", [(1e-6, "volts"), (1e-3, "millivolts")])
def test_fixed_unit_refuses_eeg_in_volts(eegmat_small, factor, unit):
    """Real microvolts pass; the same windows in volts or mV would be silence: refused."""
    X, _ = _two_subjects(eegmat_small)
    pre = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling=100.0)
    assert np.isfinite(pre.fit_transform(X)).all()
    with pytest.raises(ValueError, match=r"scaling=100\.0\) divides by a fixed unit in "
                       r"microvolts, but the typical amplitude of X is .*X looks like volts or "
                       r"millivolts.*X \* 1e6.*or use scaling='window'"):
        pre.fit_transform(X * factor)
    # Per-window scaling does not depend on the unit.
    window = EEGPreprocessor(sfreq=500.0, line_freq=50.0, scaling="window")
    np.testing.assert_allclose(window.fit_transform(X * factor), window.fit_transform(X),
                               rtol=1e-4, atol=1e-5)


# ------------------------------------------- issue 37: hostile input, silent results
NAMES3 = ["Fz", "Cz", "Pz"]


def _named_windows(n_valid_times=300):
    rng = np.random.default_rng(0)
    return EEGArray(rng.normal(size=(4, 3, 400)).astype(np.float32),
                    ch_names=["Fz", "Cz", "Pz"], n_valid_times=n_valid_times)


@pytest.mark.parametrize("index, names", [
    (np.s_[:, ::-1], ["Pz", "Cz", "Fz"]),
    (np.s_[:, [2, 0]], ["Pz", "Fz"]),
    (np.s_[:, 1:2], ["Cz"]),
    (np.s_[:, np.array([False, True, True])], ["Cz", "Pz"]),
    (np.s_[1:3, [1, 0], :], ["Cz", "Fz"]),
    (np.s_[[0, 1], :, :], ["Fz", "Cz", "Pz"]),
])
def test_eeg_array_indexing_carries_the_names_of_the_channels_it_selects(index, names):
    # A reordered EEGArray kept the old names and was embedded under the wrong ones.
    X = _named_windows()
    out = X[index]
    assert isinstance(out, EEGArray) and out.ch_names == names
    np.testing.assert_array_equal(out, np.asarray(X)[index])
    assert X.take([2, 0], axis=1).ch_names == np.take(X, [2, 0], axis=1).ch_names == ["Pz", "Fz"]
    rolled = np.roll(X, 1, axis=1)  # numpy fills a copy slice by slice: no indexing
    assert rolled.ch_names == ["Pz", "Fz", "Cz"] and np.roll(X, 1, axis=0).ch_names == NAMES3
    np.testing.assert_array_equal(rolled, np.roll(np.asarray(X), 1, axis=1))


@pytest.mark.parametrize("index, n_valid", [
    (np.s_[..., :200], 200), (np.s_[..., 200:], 100), (np.s_[..., 350:], 0),
    (np.s_[:, :, 100:300], 200),
])
def test_eeg_array_time_crops_keep_the_padding_count(index, n_valid):
    assert _named_windows()[index].n_valid_times == n_valid


@pytest.mark.parametrize("make", [
    lambda X: X[0], lambda X: X[:, 0], lambda X: X[..., ::2], lambda X: X[..., ::-1],
    lambda X: X[np.asarray(X) > 0], lambda X: X[:, :, None], lambda X: X.transpose(0, 2, 1),
    lambda X: X.T, lambda X: X.swapaxes(1, 2), lambda X: np.moveaxis(X, 1, 2),
    lambda X: np.roll(X, 1, axis=2), lambda X: np.roll(X, 1),
])
def test_eeg_array_that_is_no_longer_a_batch_of_channels_drops_its_names(make):
    out = make(_named_windows())
    assert not isinstance(out, EEGArray) and getattr(out, "ch_names", None) is None


def test_eeg_array_refuses_names_that_do_not_fit():
    with pytest.raises(ValueError, match=r"'Fp1', 'FP1' and 'EEG Fp1-REF' are one channel"):
        EEGArray(np.zeros((2, 3, 200)), ch_names=["Fp1", "FP1", "EEG Fp1-REF"])
    with pytest.raises(ValueError, match=r"ch_names has 2 names but data of shape \(2, 3, 200\)"):
        EEGArray(np.zeros((2, 3, 200)), ch_names=["Fz", "Cz"])


def test_channel_spellings_of_one_electrode_are_refused_as_duplicates():
    X = np.random.default_rng(0).normal(size=(2, 3, 400))
    with pytest.raises(ValueError, match=r"ch_names: channel names 'Fp1', 'FP1' and "
                                         r"'EEG Fp1-REF' are one channel, Fp1"):
        EEGPreprocessor(sfreq=200, ch_names=["Fp1", "FP1", "EEG Fp1-REF"]).fit(X)
    with pytest.raises(ValueError, match=r"'T3' and 'T7' are one channel, T7"):
        EEGPreprocessor(sfreq=200, ch_names=["T3", "Cz", "T7"]).fit(X)
    info = mne.create_info(["Fp1", "FP1", "Cz"], 200.0, "eeg")  # MNE takes them
    epochs = mne.EpochsArray(X * 1e-6, info, verbose="error")
    with pytest.raises(ValueError, match=r"EEG channels of the mne.Epochs: channel names "
                                         r"'Fp1' and 'FP1' are one channel"):
        EEGPreprocessor().fit(epochs)


def test_half_precision_input_is_computed_in_float64_with_a_warning():
    X = (20 * np.random.default_rng(0).normal(size=(2, 3, 400))).astype(np.float16)
    pre = EEGPreprocessor(sfreq=200, ch_names=["Fz", "Cz", "Pz"])
    with pytest.warns(UserWarning, match=r"X is float16 .*computed in float64.*float32 or "
                                         r"float64"):
        Xt = pre.fit_transform(X)
    expected = clone(pre).fit_transform(X.astype(np.float64))
    np.testing.assert_array_equal(Xt, expected)
    assert Xt.dtype == np.float32


def test_a_band_pass_floating_point_cannot_hold_is_refused_with_valid_orders():
    # At 100 kHz a 1e-5 Hz edge has poles within 1e-9 of the unit circle.
    X = np.random.default_rng(0).normal(size=(1, 2, 2000))
    pre = EEGPreprocessor(sfreq=100_000.0, l_freq=1e-5, h_freq=90.0, filter_order=100)
    with pytest.raises(ValueError, match=r"filter_order=100 cannot be designed as a "
                                         r"Butterworth band-pass of 1e-05-90 Hz at 100000 Hz"
                                         r".*give filter_order in \[1, 1\] or a higher l_freq"):
        pre.fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # shorter than a patch at 200 Hz
        assert np.isfinite(pre.set_params(filter_order=1).fit_transform(X)).all()


def test_non_finite_output_of_any_step_is_refused(monkeypatch):
    # Whatever the cause, a NaN or inf never leaves the preprocessor.
    import sk_cria.preprocessing as module

    X = np.random.default_rng(0).normal(size=(2, 3, 400))
    monkeypatch.setattr(module, "_resample", lambda data, *_: data * np.inf)
    with pytest.raises(ValueError, match=r"resampling to 200 Hz turned finite input into NaN "
                                         r"or infinite values.*nothing is returned"):
        EEGPreprocessor(sfreq=250).fit_transform(X)
