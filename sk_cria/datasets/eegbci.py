"""PhysioNet EEG Motor Movement/Imagery (eegmmidb): imagined (or executed) left vs right fist."""

import warnings

import mne
import numpy as np
from sklearn.utils import Bunch

from .._check import check_number
from ..preprocessing import sfreq_check
from ._paths import get_data_home, missing_file_error

IMAGERY_RUNS = (4, 8, 12)
#: The same left/right fist task, executed instead of imagined.
EXECUTION_RUNS = (3, 7, 11)
#: ``movement`` -> the runs of that kind of left/right fist trials.
MOVEMENT_RUNS = {"imagined": IMAGERY_RUNS, "executed": EXECUTION_RUNS}
_DESCR = """PhysioNet eegmmidb 1.0.0 (Schalk et al. 2004; ODC-By 1.0), {movement}
opening and closing of the left (label 0, T1) or right (label 1, T2) fist in runs
{runs}; 64 channels at 160 Hz, names standardised by MNE. Data in
microvolts."""


def load_eegbci_imagery(
    subject=1,
    runs=None,
    path=None,
    *,
    movement="imagined",
    tmin=0.0,
    tmax=4.0,
    sfreq=None,
    return_epochs=False,
):
    """Load imagined (or executed) left vs right fist trials of one eegmmidb subject.

    Parameters
    ----------
    subject : int, default=1
        Subject number (1-109).
    runs : sequence of int or None, default=None
        Runs to load, among those of ``movement``; None loads all of them.
    movement : {"imagined", "executed"}, default="imagined"
        Which left vs right fist trials: imagined (runs 4, 8, 12) or
        executed (runs 3, 7, 11; the same cues and labels, the fist really
        opened and closed). Runs of the other kind are refused, so that
        executed trials never enter an imagery data set unasked.
    path : str or path-like or None, default=None
        Folder holding the data sets (see :func:`get_data_home`); files are
        looked up by :func:`mne.datasets.eegbci.load_data` under
        ``<path>/MNE-eegbci-data/``, and downloaded there if missing.
    tmin, tmax : float, default=0.0, 4.0
        Trial window in seconds relative to the cue (``tmax`` excluded). A
        trial whose window runs past the recording is left out with a
        warning; a window that leaves a run no trial is refused.
    sfreq : float or None, default=None
        Resample the continuous recordings to this rate first, 32 to 100 000
        Hz; None keeps 160 Hz.
    return_epochs : bool, default=False
        Also return the :class:`mne.Epochs` under the key ``epochs``.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` (n_trials, 64, n_times) float32 microvolts, ``target`` 0
        left / 1 right, ``groups`` (the run of each trial), ``sfreq``,
        ``ch_names``, ``DESCR`` (and ``epochs`` if asked).
    """
    subject = check_number(subject, "subject", integer=True, low=1, high=109,
                           fix="eegmmidb subjects are numbered 1 to 109.")
    if movement not in MOVEMENT_RUNS:
        raise ValueError(f"movement must be one of {tuple(MOVEMENT_RUNS)}; got {movement!r}.")
    allowed = MOVEMENT_RUNS[movement]
    runs = np.atleast_1d(np.asarray(allowed if runs is None else runs, dtype=object)).tolist()
    # A run is an integer: int(4.5) would silently load run 4.
    bad = [r for r in runs if isinstance(r, bool) or not isinstance(r, (int, np.integer))
           or r not in allowed]
    if bad or not runs:
        other = {"imagined": "executed", "executed": "imagined"}[movement]
        hint = (f" (runs {MOVEMENT_RUNS[other]} are left/right fist {other}: give "
                f"movement={other!r})" if set(bad) & set(MOVEMENT_RUNS[other]) else "")
        raise ValueError(
            f"Runs {bad or 'none'} are not left/right fist "
            f"{'imagery' if movement == 'imagined' else 'execution'}; use runs from "
            f"{allowed}{hint}."
        )
    runs = [int(r) for r in runs]
    tmin = check_number(tmin, "tmin", fix="Give the trial start in seconds from the cue.")
    tmax = check_number(tmax, "tmax", low=tmin, low_open=True,
                        fix="Give the trial end in seconds from the cue, after tmin.")
    sfreq_check(none=True, hint="Give a rate in Hz to resample to, or None to keep "
                "160 Hz.")("sfreq", sfreq)
    sfreq = None if sfreq is None else float(sfreq)
    home = get_data_home(path)
    try:
        files = mne.datasets.eegbci.load_data(
            subject, runs, path=home, update_path=False, verbose="error"
        )
    except Exception as exc:  # no network or a server error while fetching
        folder = home / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0" / f"S{subject:03d}"
        names = ", ".join(f"S{subject:03d}R{r:02d}.edf" for r in runs)
        raise missing_file_error(folder, names, f"{type(exc).__name__}: {exc}") from exc
    epochs, groups = [], []
    for run, file in zip(runs, files):
        raw = mne.io.read_raw_edf(file, preload=True, verbose="error")
        mne.datasets.eegbci.standardize(raw)
        if sfreq is not None and sfreq != raw.info["sfreq"]:
            raw.resample(sfreq, verbose="error")
        events, _ = mne.events_from_annotations(
            raw, event_id={"T1": 0, "T2": 1}, verbose="error"
        )
        rate = raw.info["sfreq"]
        run_epochs = mne.Epochs(
            raw, events, event_id={"left": 0, "right": 1}, tmin=tmin,
            tmax=tmax - 1.0 / rate, baseline=None, picks="eeg", preload=True,
            verbose="error",
        )
        _check_trials_kept(run_epochs, len(events), run, raw, tmin, tmax)
        epochs.append(run_epochs)
        groups.append(np.full(len(run_epochs), run))
    epochs = mne.concatenate_epochs(epochs, verbose="error")
    bunch = Bunch(
        data=epochs.get_data(units="uV").astype(np.float32),
        target=epochs.events[:, 2].copy(),
        groups=np.concatenate(groups),
        sfreq=float(epochs.info["sfreq"]),
        ch_names=list(epochs.ch_names),
        DESCR=_DESCR.format(movement=movement, runs=", ".join(map(str, allowed))),
    )
    if return_epochs:
        bunch.epochs = epochs
    return bunch


def _check_trials_kept(run_epochs, n_trials, run, raw, tmin, tmax):
    """Refuse a trial window that leaves a run no trial; warn when it drops some.

    MNE drops a trial whose window runs past the recording without a word; all
    of them dropped failed later inside numpy.
    """
    lost = n_trials - len(run_epochs)
    if not lost:
        return
    where = (f"the trial window tmin={tmin} s to tmax={tmax} s runs past the recording "
             f"of run {run} ({raw.times[-1]:.1f} s)")
    if not len(run_epochs):
        raise ValueError(f"{where} for all its {n_trials} trials, so it has none; give a "
                         "window of a few seconds around the cue, e.g. tmin=0, tmax=4 "
                         "(the default: the cue lasts about 4 s).")
    warnings.warn(f"{where} for {lost} of its {n_trials} trials; they are left out.",
                  UserWarning, stacklevel=3)
