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
