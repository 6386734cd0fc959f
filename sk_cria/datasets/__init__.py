"""Loaders of public EEG data sets, returned as scikit-learn Bunches."""

from ._paths import get_data_home
from .eegbci import load_eegbci_imagery
from .eegmat import EEGMAT_CHANNELS, load_eegmat
from .recordings import EEG_EXTENSIONS, EEGWindowsDataset, find_recordings

__all__ = [
    "EEGMAT_CHANNELS",
    "EEG_EXTENSIONS",
    "EEGWindowsDataset",
    "find_recordings",
    "get_data_home",
    "load_eegbci_imagery",
    "load_eegmat",
]
