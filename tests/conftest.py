"""Shared fixtures: the real recordings in ../shared/data, read where they lie."""

import os
from pathlib import Path

import pytest

DATA_PATH = Path(
    os.environ.get("SK_CRIA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def data_path():
    """The folder that holds eegmat/ and MNE-eegbci-data/ (fails loudly if absent)."""
    if not (DATA_PATH / "eegmat").is_dir():
        pytest.fail(
            f"Real EEG data not found at {DATA_PATH}: clone the repo next to ../shared "
            "or set SK_CRIA_DATA to the folder holding eegmat/ and MNE-eegbci-data/."
        )
    return DATA_PATH


@pytest.fixture(scope="session")
def eegmat_small(data_path):
    """Four eegmat subjects at 500 Hz, 5 s windows."""
    from sk_cria.datasets import load_eegmat

    return load_eegmat(subjects=[0, 1, 32, 33], path=data_path, download=False)


@pytest.fixture(scope="module")
def balanced_windows(eegmat_small):
    """Raw eegmat windows, 6 rest and 6 arithmetic of each of 4 subjects, and a preprocessor."""
    import numpy as np

    from sk_cria import EEGPreprocessor

    b = eegmat_small
    rows = np.concatenate([
        np.flatnonzero((b.groups == s) & (b.target == c))[:6]
        for s in np.unique(b.groups) for c in (0, 1)
    ])
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    return pre, b.data[rows], b.target[rows], b.groups[rows]


@pytest.fixture(scope="module")
def balanced_eeg(balanced_windows):
    """``balanced_windows`` preprocessed: ``(X, y, groups)``."""
    pre, X, y, g = balanced_windows
    return pre.fit_transform(X), y, g
