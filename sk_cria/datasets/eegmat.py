"""PhysioNet "EEG During Mental Arithmetic Tasks" (eegmat), as used by EEG foundation models."""

import numpy as np
from sklearn.utils import Bunch

from .._check import check_ch_names, check_number
from ..preprocessing import sfreq_check
from ._paths import get_data_home, missing_file_error
from ._windows import read_edf_windows

#: The 20 channels of the field's protocol: the 19 EEG channels of the 10-20
#: system (old names T3-T6) plus the A2-A1 reference derivation; ECG is left out.
EEGMAT_CHANNELS = (
    "EEG Fp1", "EEG Fp2", "EEG F3", "EEG F4", "EEG F7", "EEG F8", "EEG T3",
    "EEG T4", "EEG C3", "EEG C4", "EEG T5", "EEG T6", "EEG P3", "EEG P4",
    "EEG O1", "EEG O2", "EEG Fz", "EEG Cz", "EEG Pz", "EEG A2-A1",
)
N_SUBJECTS = 36
_FOLDER = ("eegmat", "files", "eegmat", "1.0.0")
_URL = "https://physionet.org/files/eegmat/1.0.0/"

_DESCR = """PhysioNet eegmat 1.0.0: EEG During Mental Arithmetic Tasks (Zyma et al.
2019, Data 4(1):14; ODC-By 1.0). 36 subjects, 500 Hz. File 1 is rest (label 0),
file 2 is serial subtraction (label 1). Windows are non-overlapping; a trailing
part shorter than a window is dropped. Data in microvolts. The field's protocol:
subjects 0-27 train, 28-31 validation, 32-35 test; balanced accuracy, AUROC,
AUC-PR."""


def load_eegmat(
    subjects=None,
    path=None,
    *,
    window=5.0,
    sfreq=None,
    channels=EEGMAT_CHANNELS,
    download=True,
):
    """Load eegmat as windows labelled rest (0) or mental arithmetic (1).

    Parameters
    ----------
    subjects : int or sequence of int or None, default=None
        Subject numbers 0-35; None loads all 36.
    path : str or path-like or None, default=None
        Folder holding the data sets (see :func:`get_data_home`); the files
        are expected under ``<path>/eegmat/files/eegmat/1.0.0/``.
    window : float, default=5.0
        Window length in seconds (the field uses 5 s).
    sfreq : float or None, default=None
        Resample each whole recording to this rate before cutting windows
        (cleaner than resampling short windows), 32 to 100 000 Hz; None keeps
        500 Hz.
    channels : sequence of str, default=EEGMAT_CHANNELS
        Channels to keep, by their names in the EDF files, each once.
    download : bool, default=True
        Fetch missing files from PhysioNet; when False, or when the download
        fails, a missing file raises an error naming the folder and file.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (n_windows, n_channels, n_times) float32 in microvolts,
        ``target`` (n_windows,) 0 rest / 1 arithmetic, ``groups``
        (n_windows,) subject numbers, ``sfreq``, ``ch_names``, ``DESCR``.

    Examples
    --------
    >>> from sk_cria.datasets import load_eegmat
    >>> eegmat = load_eegmat(subjects=[0, 1])  # doctest: +SKIP
    >>> eegmat.data.shape  # doctest: +SKIP
    (96, 20, 2500)
    """
    subjects = _check_subjects(subjects)
    window = check_number(window, "window", low=0, low_open=True,
                          fix="Give the window length in seconds, e.g. 5.0.")
    sfreq_check(none=True, hint="Give a rate in Hz to resample to, or None to keep "
                "500 Hz.")("sfreq", sfreq)
    sfreq = None if sfreq is None else float(sfreq)
    # A channel named twice failed inside MNE ("sel is not unique").
    check_ch_names("channels", channels, none=False)
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}.")
    folder = get_data_home(path).joinpath(*_FOLDER)
    data, target, groups = [], [], []
    rate = None
    for subject in subjects:
        for label in (0, 1):
            name = f"Subject{subject:02d}_{label + 1}.edf"
            file = _ensure_file(folder, name, download)
            windows, rate = read_edf_windows(file, channels, window, sfreq)
            data.append(windows)
            target.append(np.full(len(windows), label))
            groups.append(np.full(len(windows), subject))
    return Bunch(
        data=np.concatenate(data),
        target=np.concatenate(target),
        groups=np.concatenate(groups),
        sfreq=rate,
        ch_names=list(channels),
        DESCR=_DESCR,
    )


def _check_subjects(subjects):
    if subjects is None:
        return list(range(N_SUBJECTS))
    given = np.atleast_1d(np.asarray(subjects, dtype=object)).tolist()
    # A subject number is an integer: int(0.7) would silently load subject 0.
    bad = [s for s in given if isinstance(s, bool) or not isinstance(s, (int, np.integer))
           or not 0 <= s < N_SUBJECTS]
    if bad or not given:
        raise ValueError(
            f"eegmat subjects are numbered 0 to {N_SUBJECTS - 1} (integers); got "
            f"{bad or 'none'}."
        )
    if len(set(given)) < len(given):
        raise ValueError(
            f"subjects lists a subject more than once ({given}); each would be loaded "
            "twice. Give each subject once."
        )
    return [int(s) for s in given]


def _ensure_file(folder, name, download):
    file = folder / name
    if file.exists():
        return file
    if not download:
        raise missing_file_error(folder, name, "download=False")
    import pooch  # deferred: only a download needs it (installed with mne)

    try:
        pooch.retrieve(_URL + name, known_hash=None, fname=name, path=folder, progressbar=False)
    except Exception as exc:  # no network, server error, disk full: all mean "missing"
        raise missing_file_error(folder, name, f"{type(exc).__name__}: {exc}") from exc
    return file
