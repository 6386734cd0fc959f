"""Where the data sets live: an argument, SK_CRIA_DATA, or MNE's data folder."""

import os
from pathlib import Path

import mne

from .._check import optional_path

#: Environment variable naming the folder that holds the data sets.
DATA_ENV = "SK_CRIA_DATA"


def get_data_home(path=None):
    """Return the folder that holds (or will hold) the data sets.

    The folder uses the layout of the public servers and of MNE's fetchers,
    e.g. ``<home>/eegmat/files/eegmat/1.0.0/Subject00_1.edf`` and
    ``<home>/MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf``.

    Parameters
    ----------
    path : str or path-like or None, default=None
        Explicit folder. When None, the environment variable ``SK_CRIA_DATA``
        is used, then MNE's data folder (``MNE_DATA`` in MNE's configuration,
        ``~/mne_data`` by default).

    Returns
    -------
    home : pathlib.Path

    Raises
    ------
    TypeError
        ``path`` is not None, a str or a path-like.
    ValueError
        ``path`` (or ``SK_CRIA_DATA``) names a file, not a folder.
    """
    if path is not None:
        optional_path("path", path)  # a file would be reported as missing data later
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        optional_path(f"the environment variable {DATA_ENV}", os.environ[DATA_ENV])
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path(mne.get_config("MNE_DATA", str(Path("~/mne_data").expanduser()))).expanduser()


def missing_file_error(folder, name, reason):
    """The error raised when a recording is neither on disk nor downloadable."""
    return FileNotFoundError(
        f"{name} was not found in {folder} and could not be downloaded ({reason}). "
        f"Put the file there, or point the loader at the folder that holds the "
        f"data sets with path=... or the {DATA_ENV} environment variable."
    )
