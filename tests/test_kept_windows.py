"""EEGWindowsDataset keeps preprocessed windows by default (issue 38 item 2), on real EEG.

Pre-training reads and preprocesses each window once: later epochs and later
fits take the kept windows. These tests check that this changes no weight, that
it stays within its memory budget, and that changing the preprocessing drops
what was kept.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.datasets import recordings

EEGMAT = Path("eegmat/files/eegmat/1.0.0")


@pytest.fixture(scope="module")
def paths(data_path):
    # Two 60 s task recordings of two subjects, 500 Hz, 20 EEG channels.
    return [data_path / EEGMAT / "Subject00_2.edf", data_path / EEGMAT / "Subject01_2.edf"]


def dataset(paths, **kwargs):
    return EEGWindowsDataset(paths, window=4, verbose=False,
                             preprocessor=EEGPreprocessor(line_freq=50), **kwargs)


def test_default_pretraining_keeps_the_windows_and_trains_the_same_weights(paths):
    default = dataset(paths)
    read = dataset(paths, keep_windows=False)
    assert default.keep_windows == "auto"

    def fit(data):
        return ViewMaskPretrainer(config="small", max_epochs=2, batch_size=8,
                                  random_state=0).fit(data)

    cached, uncached = fit(default), fit(read)
    # Every window was read once and kept; the run without them read each twice.
    assert len(default._kept) == len(default) and not read._kept
    assert default._kept_bytes == default.nbytes
    for (name, a), b in zip(cached.module_.state_dict().items(),
                            uncached.module_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    np.testing.assert_array_equal(cached.history[:, "train_loss"],
                                  uncached.history[:, "train_loss"])
    # A second fit on the same dataset reads nothing from disk.
    default._cache.clear()
    default.cache_size = 0
    opened = []
    default._raw = lambda path: opened.append(path)
    fit(default)
    assert opened == []


def test_changing_the_preprocessing_drops_the_kept_windows(paths):
    data = dataset(paths)
    before = data[3][0]["x"]
    assert len(data._kept) == 1
    data.preprocessor.set_params(scaling=100.0)
    after = data[3][0]["x"]
    expected = EEGWindowsDataset(paths, window=4, verbose=False, keep_windows=False,
                                 preprocessor=EEGPreprocessor(line_freq=50, scaling=100.0))
    np.testing.assert_array_equal(after.numpy(), expected[3][0]["x"].numpy())
    assert not torch.equal(before, after)
    assert list(data._kept) == [3]
    # A new preprocessor object with other settings, too.
    data.preprocessor = EEGPreprocessor(line_freq=50, l_freq=1.0)
    expected = EEGWindowsDataset(paths, window=4, verbose=False, keep_windows=False,
                                 preprocessor=EEGPreprocessor(line_freq=50, l_freq=1.0))
    np.testing.assert_array_equal(data[3][0]["x"].numpy(), expected[3][0]["x"].numpy())


def test_auto_keeps_within_its_budget_and_only_in_the_main_process(paths, monkeypatch):
    data = dataset(paths)
    one = data[0][0]["x"].nbytes
    data._kept, data._kept_bytes = {}, 0
    monkeypatch.setattr(recordings, "KEEP_WINDOWS_BYTES", int(2.5 * one))
    read = dataset(paths, keep_windows=False)
    for i in range(5):
        np.testing.assert_array_equal(data[i][0]["x"].numpy(), read[i][0]["x"].numpy())
    assert sorted(data._kept) == [0, 1] and data._kept_bytes == 2 * one
    # keep_windows=True keeps all, whatever the budget.
    data.keep_windows = True
    data[4]
    assert sorted(data._kept) == [0, 1, 4]
    # In a DataLoader worker "auto" keeps nothing: the worker's copy would die with it.
    worker = dataset(paths)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())
    np.testing.assert_array_equal(worker[0][0]["x"].numpy(), read[0][0]["x"].numpy())
    assert not worker._kept


def test_keep_windows_refuses_other_values(paths):
    with pytest.raises(ValueError, match=r"keep_windows must be one of \('auto',\) or a bool, "
                                         r"got 'yes'"):
        dataset(paths, keep_windows="yes")
