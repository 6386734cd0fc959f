"""Lazy windows over EEG recordings on disk, for pre-training on more data than fits in memory.

:class:`EEGWindowsDataset` reads a list of files, a folder (recursively, by
extension) or a BIDS root with MNE's readers, without preloading: at
construction it reads each file's header, keeps its EEG channels and counts
its windows; a window is read from disk only when it is asked for, and goes
through the same :class:`~sk_cria.EEGPreprocessor` as in-memory arrays.
Recordings with different montages, sampling rates and units go into one
dataset; :class:`~sk_cria.sampling.MontageBatchSampler` then batches windows
that share a montage.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import lru_cache
import os
from pathlib import Path
import re
import sys
import warnings

import numpy as np
import torch
from sklearn.base import clone

from .._check import check_number
from .._net import channel_pairs
from ..channels import normalize_channel_name
from ..preprocessing import PATCH_SIZE, TARGET_SFREQ, EEGPreprocessor

__all__ = ["EEG_EXTENSIONS", "EEGWindowsDataset", "NoUsableDataError", "Recording",
           "find_recordings"]

#: File extensions read by default: the formats of MNE's ``read_raw`` that
#: hold continuous EEG (BrainVision is found by its ``.vhdr`` header).
EEG_EXTENSIONS = (".edf", ".bdf", ".gdf", ".vhdr", ".set", ".fif", ".fif.gz", ".cnt")

# Names of channels that are not EEG even when a reader types them as EEG
# (EDF has no channel types, so everything in it is "eeg" to MNE).
_NON_EEG_NAME = re.compile(
    r"^(ECG|EKG|EOG|HEOG|VEOG|EMG|RESP|STI|STATUS|TRIG|PHOTIC|SPO2|PULSE|PLETH|"
    r"BURSTS|IBI|SUPPR|EVENT|MARK|ANNOT|EDF ANNOT|DC\d|X|Y|Z|ND)\b",
    re.IGNORECASE,
)
# Folders of a BIDS root that do not hold its raw recordings.
_BIDS_NOT_RAW = ("sourcedata", "derivatives")
# Tolerance on counts of samples computed in floating point (0.1 s * 160 Hz).
_EPS = 1e-9
# A reader warning that means the file on disk is shorter than its header says.
_TRUNCATED = re.compile(r"does not match the file size|file is truncated|unexpected end",
                        re.IGNORECASE)


class NoUsableDataError(ValueError):
    """None of the files given holds a usable recording."""


@dataclass(frozen=True)
class Recording:
    """One readable recording of an :class:`EEGWindowsDataset`.

    Attributes
    ----------
    path : pathlib.Path
    picks : tuple of int
        Indices of the kept EEG channels in the file.
    ch_names : tuple of str
        Their canonical names (:func:`~sk_cria.channels.normalize_channel_name`).
    sfreq : float
        Sampling frequency of the file.
    n_times : int
        Samples in the file.
    n_windows : int
    montage : int
        Index of ``ch_names`` in :attr:`EEGWindowsDataset.montages`.
    """

    path: Path
    picks: tuple
    ch_names: tuple
    sfreq: float
    n_times: int
    n_windows: int
    montage: int

    @property
    def hours(self):
        return self.n_times / self.sfreq / 3600.0


def find_recordings(paths, extensions=EEG_EXTENSIONS):
    """List the recording files of ``paths``, in a fixed order, without duplicates.

    Parameters
    ----------
    paths : str, path-like or list of them
        Files, folders (searched recursively) or BIDS roots (folders holding
        ``dataset_description.json``: their ``sourcedata/`` and
        ``derivatives/`` are left out).
    extensions : str or sequence of str, default=EEG_EXTENSIONS
        Which files of a folder count as recordings (case-insensitive); a
        single string is one extension. Files given explicitly are always
        taken.

    Returns
    -------
    files : list of pathlib.Path

    Raises
    ------
    FileNotFoundError
        If a path does not exist, or if the paths hold no recording.
    """
    message = ("paths must be a file or folder (str or path-like) or a list of them, "
               f"got {paths!r}.")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    try:
        paths = list(paths)  # also a generator, e.g. Path.glob's
    except TypeError:
        raise TypeError(message) from None
    if not all(isinstance(path, (str, os.PathLike)) for path in paths):
        raise TypeError(message)
    if not paths:
        raise ValueError("paths is empty; give files or folders of EEG recordings.")
    extensions = _check_extensions(extensions)
    files = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist; give files or folders of EEG recordings "
                f"({', '.join(extensions)})."
            )
        if path.is_file():
            files.append(path)
            continue
        skip = _BIDS_NOT_RAW if (path / "dataset_description.json").is_file() else ()
        found = sorted(
            p for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(extensions)
            and not any(part.startswith(".") or part in skip
                        for part in p.relative_to(path).parts)
        )
        if not found:
            raise FileNotFoundError(
                f"{path} holds no EEG recording (no file ending in "
                f"{', '.join(extensions)}, searched recursively)."
            )
        files.extend(found)
    # Given order, each folder's files sorted, duplicates dropped: the same
    # command lists the same windows in the same order (a resume relies on it).
    return list(dict.fromkeys(p.resolve() for p in files))


class EEGWindowsDataset(torch.utils.data.Dataset):
    """Fixed-length windows of EEG recordings, read from disk on demand.

    Item ``i`` is ``({"x": window, "channels": pairs}, 0)``: ``window`` is a
    float32 tensor ``(n_channels, window * 200)``, preprocessed exactly as
    :class:`~sk_cria.EEGPreprocessor` does for arrays, and ``pairs`` the
    vocabulary index pairs of its channels (:func:`sk_cria.channels.lookup_channels`
    of its montage in :attr:`montages`; :attr:`montage_ids` says which one);
    the trailing 0 stands for the absent label, as skorch expects. Give the dataset to
    :meth:`ViewMaskPretrainer.fit <sk_cria.ViewMaskPretrainer.fit>` or
    :meth:`~sk_cria.ViewMaskPretrainer.transform`.

    Parameters
    ----------
    paths : str, path-like or list of them
        Recording files, folders (searched recursively by extension) or a
        BIDS root.
    window : int, default=10
        Window length in seconds: a whole number, since CRIA's patches are
        one second long.
    stride : float or None, default=None
        Seconds between the starts of consecutive windows; None means
        ``window`` (no overlap). At least one sample at the fastest rate of
        the recordings; window starts are rounded to the nearest sample.
    preprocessor : EEGPreprocessor or None, default=None
        Settings of the preprocessing (its ``sfreq`` and ``ch_names`` are set
        per recording). None is ``EEGPreprocessor()``; pass
        ``EEGPreprocessor(line_freq=50)`` for recordings made on 50 Hz mains.
    extensions : str or sequence of str, default=EEG_EXTENSIONS
        File endings that count as recordings when searching folders.
    unknown_channels : {"drop", "keep"}, default="drop"
        EEG channels whose names are not 10-05 electrodes: dropped (the model
        cannot place them), or kept with the shared "unknown" embedding.
        Non-EEG channels (by type, or by name: ECG, EOG, EMG, stim, ``X``,
        ``Y``, ``nd``, ...) are always dropped.
    cache_size : int, default=64
        Open recordings (headers only, well under a megabyte each) kept per
        process: opening an EDF costs about as much as preprocessing a
        window, so a batch drawn from many recordings should find them open.
        Memory does not grow with the number of recordings beyond it; 0
        opens the recording again for every window.
    verbose : bool, default=True
        Print the summary (files and hours used and skipped, channels
        dropped) to stderr.

    Attributes
    ----------
    recordings : list of Recording
        The recordings that are used.
    skipped : list of (pathlib.Path, str)
        Files that were not used, each with the reason (also warned).
    dropped_channels : collections.Counter
        ``(name, reason)`` -> number of recordings it was dropped from.
    montages : list of tuple of str
        The distinct channel lists (canonical names), in order of appearance.
    montage_ids : ndarray of shape (n_windows,)
        The montage of each window.
    recording_ids : ndarray of shape (n_windows,)
        The recording (index into :attr:`recordings`) of each window.

    Examples
    --------
    >>> from sk_cria.datasets import EEGWindowsDataset  # doctest: +SKIP
    >>> ds = EEGWindowsDataset("recordings/", window=10)  # doctest: +SKIP
    >>> ViewMaskPretrainer(max_epochs=10).fit(ds)  # doctest: +SKIP
    """

    def __init__(self, paths, window=10, stride=None, preprocessor=None,
                 extensions=EEG_EXTENSIONS, unknown_channels="drop", cache_size=64,
                 verbose=True):
        # A dataset is not an estimator: it reads the files here, so its
        # arguments are checked here, before any file is opened.
        window = check_number(window, "window", integer=True, low=1,
                              fix="Give a whole number of seconds (CRIA's patches are 1 s long).")
        stride = check_number(stride, "stride", low=0, low_open=True, allow_none=True,
                              fix="Give the seconds between window starts, or None for "
                                  "non-overlapping windows.")
        if not (isinstance(unknown_channels, str) and unknown_channels in ("drop", "keep")):
            raise ValueError(
                f"unknown_channels must be 'drop' or 'keep', got {unknown_channels!r}."
            )
        if preprocessor is not None and not isinstance(preprocessor, EEGPreprocessor):
            raise TypeError(
                "preprocessor must be an EEGPreprocessor (its settings are applied to "
                f"every recording), got {type(preprocessor).__name__}."
            )
        self.window = window
        self.stride = float(window if stride is None else stride)
        self.preprocessor = EEGPreprocessor() if preprocessor is None else preprocessor
        # Its settings would otherwise be checked at the first window read.
        clone(self.preprocessor)._check_params()
        if self.preprocessor.scaling == "group":
            raise ValueError(
                "EEGWindowsDataset preprocesses each window on its own, so "
                "EEGPreprocessor(scaling='group') would scale each window by itself; give "
                "scaling='window' or a fixed unit in microvolts, e.g. scaling=100.0."
            )
        self.unknown_channels = unknown_channels
        self.cache_size = check_number(
            cache_size, "cache_size", integer=True, low=0,
            fix="Give how many recordings to keep open per process (0 keeps none).")
        self.files = find_recordings(paths, extensions)
        self.recordings, self.skipped = [], []
        self.dropped_channels = Counter()
        self.montages = []
        for path in self.files:
            self._index(path)
        self._check_stride()
        # Each window carries its channels as vocabulary index pairs, the way
        # the estimators send arrays to the model.
        self._channel_pairs = [torch.from_numpy(channel_pairs(names)) for names in self.montages]
        counts = np.array([rec.n_windows for rec in self.recordings], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self.montage_ids = np.repeat(
            np.array([rec.montage for rec in self.recordings], dtype=np.int64), counts
        )
        self.recording_ids = np.repeat(np.arange(len(self.recordings)), counts)
        self._cache = OrderedDict()
        self._preprocessors = {}
        if verbose:
            print(self.summary(), file=sys.stderr)
        if not self.recordings:
            reasons = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:5])
            raise NoUsableDataError(
                f"None of the {len(self.files)} file(s) holds usable EEG ({reasons}"
                f"{'; ...' if len(self.skipped) > 5 else ''}). Check the paths, the "
                f"window length ({self.window} s) and the channel names."
            )

    # ------------------------------------------------------------ indexing
    def _index(self, path):
        try:
            raw = _open_raw(path)
            picks, names, dropped = self._select_channels(raw)
            n_times = raw.n_times
            if picks:
                # Reading the last sample catches data files shorter than their
                # headers (a missing .fdt/.eeg, a cut-off transfer).
                raw.get_data(picks=list(picks[:1]), start=n_times - 1, stop=n_times)
        except Exception as error:  # any reader failure means: skip this file
            return self._skip(path, f"{type(error).__name__}: {error}")
        if not picks:
            return self._skip(path, "no EEG channel with a 10-05 name")
        sfreq = float(raw.info["sfreq"])
        size = int(round(self.window * sfreq))
        if n_times < size:
            return self._skip(
                path, f"{n_times / sfreq:.1f} s long, shorter than one {self.window} s window"
            )
        self.dropped_channels.update(dropped)
        if names not in self.montages:
            self.montages.append(names)
        self.recordings.append(Recording(
            path=path, picks=picks, ch_names=names, sfreq=sfreq, n_times=n_times,
            n_windows=1 + int(np.floor((n_times - size) / (self.stride * sfreq) + _EPS)),
            montage=self.montages.index(names),
        ))

    def _check_stride(self):
        """Refuse a stride shorter than one sample: its windows would repeat."""
        if not self.recordings:
            return
        fastest = max(rec.sfreq for rec in self.recordings)
        if self.stride * fastest < 1 - _EPS:
            raise ValueError(
                f"stride={self.stride!r} s is shorter than one sample at {fastest:g} Hz, "
                f"the fastest rate of the recordings, so windows would repeat; give "
                f"stride >= {1 / fastest:g} s (one sample)."
            )

    def _select_channels(self, raw):
        """Indices and canonical names of the EEG channels kept; (name, why) dropped."""
        picks, names, dropped = [], [], []
        for index, (name, kind) in enumerate(zip(raw.ch_names, raw.get_channel_types())):
            canonical = normalize_channel_name(name)
            if kind != "eeg" or _NON_EEG_NAME.match(name.strip()):
                dropped.append((name, kind if kind != "eeg" else "non-EEG"))
            elif canonical is None and self.unknown_channels == "drop":
                dropped.append((name, "not a 10-05 name"))
            elif canonical is not None and canonical in names:
                dropped.append((name, f"duplicate of {canonical}"))
            else:
                picks.append(index)
                names.append(canonical if canonical is not None else name)
        return tuple(picks), tuple(names), dropped

    def _skip(self, path, reason):
        reason = reason.rstrip(".")
        self.skipped.append((path, reason))
        warnings.warn(f"Skipped {path}: {reason}.", UserWarning, stacklevel=3)

    # ------------------------------------------------------------- reading
    def __len__(self):
        return int(self._offsets[-1])

    def __getitem__(self, index):
        recording, first = self._first_sample(index)
        raw = self._raw(recording)
        size = int(round(self.window * recording.sfreq))
        data = raw.get_data(picks=list(recording.picks), start=first, stop=first + size,
                            units="uV")
        if not np.isfinite(data).all():
            # Said here, with the file and the time span, not deep in the model.
            start = first / recording.sfreq
            raise ValueError(
                f"Window {index} of the dataset ({recording.path}, "
                f"{start:.3f}-{start + self.window:.3f} s) holds NaN or infinite "
                "samples. Replace that stretch of the recording (interpolate it, or "
                "crop it out with mne and save the parts as separate files), or leave "
                "the file out."
            )
        window = self._preprocessor(recording).transform(data[np.newaxis])
        x = torch.from_numpy(np.ascontiguousarray(window[0], dtype=np.float32))
        return {"x": x, "channels": self._channel_pairs[recording.montage]}, 0

    def locate(self, index):
        """Return the recording of window ``index`` and its start in seconds."""
        recording, first = self._first_sample(index)
        return recording, first / recording.sfreq

    def _first_sample(self, index):
        """The recording of window ``index`` and its first sample in that file."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"A window index is an integer, got {index!r}.")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"window {index} is out of range for {n} windows.")
        index %= n
        which = int(np.searchsorted(self._offsets, index, side="right")) - 1
        recording = self.recordings[which]
        # The k-th start is k strides from the first, rounded once: a stride
        # that is not a whole number of samples does not accumulate rounding.
        k = int(index - self._offsets[which])
        return recording, int(round(k * self.stride * recording.sfreq))

    def _raw(self, recording):
        raw = self._cache.pop(recording.path, None)
        if raw is None:
            raw = _open_raw(recording.path)
        self._cache[recording.path] = raw
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return raw

    def _preprocessor(self, recording):
        key = (recording.sfreq, recording.montage)
        if key not in self._preprocessors:
            prep = clone(self.preprocessor).set_params(
                sfreq=recording.sfreq, ch_names=list(recording.ch_names)
            )
            n_times = int(round(self.window * recording.sfreq))
            self._preprocessors[key] = prep.fit(
                np.zeros((1, len(recording.picks), n_times))
            )
        return self._preprocessors[key]

    def __getstate__(self):
        # Open files stay with the process that opened them (DataLoader
        # workers open their own).
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    # ------------------------------------------------------------- reports
    @property
    def n_windows_per_montage(self):
        return np.bincount(self.montage_ids, minlength=len(self.montages))

    @property
    def hours(self):
        """Hours of recording used."""
        return float(sum(rec.hours for rec in self.recordings))

    def summary(self):
        """One paragraph: files and hours used and skipped, channels dropped."""
        lines = [
            f"EEGWindowsDataset: {len(self.recordings)} of {len(self.files)} file(s) used, "
            f"{self.hours:.2f} h, {len(self)} windows of {self.window} s at "
            f"{TARGET_SFREQ:g} Hz ({self.window * TARGET_SFREQ // PATCH_SIZE:.0f} patches), "
            f"{len(self.montages)} montage(s), {len(self.skipped)} file(s) skipped."
        ]
        if self.dropped_channels:
            dropped = ", ".join(
                f"{name} ({why}, {count} file{'s' if count > 1 else ''})"
                for (name, why), count in sorted(self.dropped_channels.items())
            )
            lines.append(f"Dropped channels: {dropped}.")
        for path, reason in self.skipped:
            lines.append(f"Skipped {path}: {reason}.")
        return "\n".join(lines)

    def __repr__(self):
        return (f"EEGWindowsDataset({len(self.recordings)} recordings, {len(self)} windows "
                f"of {self.window} s, {len(self.montages)} montage(s))")


def _check_extensions(extensions):
    """A tuple of lower-case extensions; a single string is one extension."""
    message = f"extensions must be a file ending such as '.edf' or a list of them, got {extensions!r}."
    if isinstance(extensions, str):
        extensions = (extensions,)
    if not isinstance(extensions, (list, tuple)) or not all(
            isinstance(ext, str) for ext in extensions):
        raise TypeError(message)
    if not extensions or not all(extensions):
        raise ValueError(message)
    return tuple(ext.lower() for ext in extensions)


def _open_raw(path):
    """Open a recording without loading its data; a truncated file is an error.

    A recording of a BIDS tree is read with mne-bids when it is installed (the
    ``bids`` extra), so that the channel types of its ``channels.tsv`` apply.
    """
    import mne

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bids = _bids_reader(path)
        if bids is not None:
            raw = bids(path)
        else:
            raw = mne.io.read_raw(path, preload=False, verbose="warning")
    for warning in caught:
        if _TRUNCATED.search(str(warning.message)):
            raise OSError(f"truncated file ({warning.message})")
    return raw


def _bids_reader(path):
    """A function reading ``path`` with mne-bids, if it is a BIDS recording and mne-bids is here."""
    path = Path(path)
    if path.parent.name not in ("eeg", "ieeg", "meg") or not path.parent.parent.name.startswith(
            ("sub-", "ses-")) or _bids_root(path.parent) is None:
        return None
    try:
        import mne_bids
    except ImportError:
        _warn_no_mne_bids()
        return None

    def read(fname):
        bids_path = mne_bids.get_bids_path_from_fname(fname)
        bids_path.update(root=_bids_root(Path(fname).parent))
        return mne_bids.read_raw_bids(bids_path, verbose="warning")

    return read


@lru_cache(maxsize=1024)
def _bids_root(folder):
    for parent in (folder, *folder.parents):
        if (parent / "dataset_description.json").is_file():
            return parent
    return None


@lru_cache(maxsize=1)
def _warn_no_mne_bids():
    warnings.warn(
        "Reading a BIDS tree without mne-bids: channel types from channels.tsv are not "
        "applied (non-EEG channels are then recognised by name only). Install it with "
        "pip install 'sk_cria[bids]'.",
        UserWarning,
    )
