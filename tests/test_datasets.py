import numpy as np
import pytest

from sk_cria.datasets import EEGMAT_CHANNELS, get_data_home, load_eegbci_imagery, load_eegmat


def test_eegmat_shapes_labels_and_groups(eegmat_small):
    b = eegmat_small
    assert b.data.shape == (4 * 48, 20, 2500)  # 5 s at 500 Hz
    assert b.data.dtype == np.float32
    assert b.sfreq == 500.0
    assert b.ch_names == list(EEGMAT_CHANNELS)
    for subject in (0, 1, 32, 33):
        # 182 s of rest -> 36 windows, 62 s of arithmetic -> 12 windows.
        counts = np.bincount(b.target[b.groups == subject], minlength=2)
        assert counts.tolist() == [36, 12]
    # Microvolts: scalp EEG has amplitudes of tens of uV, not 1e-5 V.
    assert 1.0 < np.median(np.abs(b.data)) < 200.0


def test_eegmat_resamples_whole_recordings(data_path):
    b = load_eegmat(subjects=3, path=data_path, sfreq=200, window=4.0, download=False)
    assert b.sfreq == 200.0
    assert b.data.shape == (45 + 15, 20, 800)


def test_eegmat_rejects_unknown_subjects(data_path):
    with pytest.raises(ValueError, match="numbered 0 to 35"):
        load_eegmat(subjects=[36], path=data_path)


def test_missing_file_names_folder_and_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Subject05_1\.edf was not found in .*eegmat"):
        load_eegmat(subjects=[5], path=tmp_path, download=False)


def test_data_home_order(monkeypatch, tmp_path):
    monkeypatch.setenv("SK_CRIA_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SK_CRIA_DATA")
    import mne

    monkeypatch.setattr(mne, "get_config", lambda key, default=None: str(tmp_path / "mne"))
    assert get_data_home() == tmp_path / "mne"


def test_data_home_that_is_a_file_is_refused(monkeypatch, tmp_path):
    # get_data_home(file) returned the file; the loaders then said the data was missing.
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    with pytest.raises(ValueError, match=r"path=.*notes\.txt' is a file; give a folder"):
        get_data_home(file)
    monkeypatch.setenv("SK_CRIA_DATA", str(file))
    with pytest.raises(ValueError, match=r"SK_CRIA_DATA=.*notes\.txt' is a file"):
        load_eegmat(subjects=[0], download=False)


def test_eegbci_says_which_trials_run_past_the_recording(data_path):
    # MNE drops a trial whose window runs past the recording without a word.
    with pytest.warns(UserWarning, match=r"runs past the recording of run 4 \(125\.0 s\) "
                                         r"for 13 of its 15 trials; they are left out"):
        b = load_eegbci_imagery(subject=1, runs=[4], path=data_path, tmin=-5.0, tmax=100.0)
    assert len(b.data) == 2


def test_eegbci_imagery(data_path):
    b = load_eegbci_imagery(subject=1, path=data_path)
    assert b.data.shape == (45, 64, 640)  # 15 trials per run, 4 s at 160 Hz
    assert b.sfreq == 160.0
    assert sorted(set(b.groups)) == [4, 8, 12]
    assert np.bincount(b.target).tolist() == [23, 22]
    assert "C3" in b.ch_names and "FC5" in b.ch_names


def test_eegbci_refuses_non_imagery_runs(data_path):
    with pytest.raises(ValueError, match="not left/right fist imagery"):
        load_eegbci_imagery(runs=(3,), path=data_path)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"subjects": [0.7]}, ValueError, r"numbered 0 to 35 \(integers\); got \[0\.7\]"),
        ({"subjects": "3"}, ValueError, r"numbered 0 to 35 \(integers\); got \['3'\]"),
        ({"subjects": [True]}, ValueError, r"numbered 0 to 35 \(integers\); got \[True\]"),
        ({"subjects": []}, ValueError, r"numbered 0 to 35 \(integers\); got none"),
        ({"subjects": [2, 2]}, ValueError, r"subjects lists a subject more than once"),
        ({"subjects": 2, "window": 0}, ValueError, r"window must be a number > 0, got 0"),
        ({"subjects": 2, "window": "5"}, TypeError, r"window must be a number > 0, got '5'"),
        ({"subjects": 2, "sfreq": -200}, ValueError,
         r"sfreq must be a number in \[32\.0, 100000\.0\] or None"),
        ({"subjects": 2, "channels": "EEG Fz"}, TypeError, r"channels=\['EEG Fz'\]"),
        ({"subjects": 2, "download": "no"}, TypeError, r"download must be True or False"),
        ({"subjects": 2, "window": 1000}, ValueError,
         r"window=1000\.0 s is longer than .*Subject02_1\.edf \(182\.0 s\).*shorter window"),
    ],
)
def test_eegmat_refuses_bad_arguments(data_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_eegmat(path=data_path, **{"download": False, **kwargs})


def test_eegmat_takes_numpy_subject_numbers(data_path):
    b = load_eegmat(subjects=np.array([3]), path=data_path, window=30.0, download=False)
    assert set(b.groups) == {3} and b.data.shape == (6 + 2, 20, 15000)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"subject": 0}, ValueError, r"subject must be an integer in \[1, 109\], got 0"),
        ({"subject": 1.5}, ValueError, r"subject must be an integer in \[1, 109\]"),
        ({"runs": [4.5]}, ValueError, r"Runs \[4\.5\] are not left/right fist imagery"),
        ({"tmin": 1.0, "tmax": 0.5}, ValueError, r"tmax must be a number > 1\.0, got 0\.5"),
        ({"sfreq": "100"}, TypeError, r"sfreq must be a number in \[32\.0, 100000\.0\] or None"),
    ],
)
def test_eegbci_refuses_bad_arguments(data_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_eegbci_imagery(path=data_path, **kwargs)
