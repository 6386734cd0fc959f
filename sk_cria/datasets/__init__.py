"""Loaders of public EEG data sets, returned as scikit-learn Bunches."""

from ._paths import get_data_home
from .eegbci import load_eegbci_imagery
from .eegmat import EEGMAT_CHANNELS, load_eegmat

__all__ = ["EEGMAT_CHANNELS", "get_data_home", "load_eegbci_imagery", "load_eegmat"]
