"""Lazy windows over EEG recordings on disk, for pre-training on more data than fits in memory.

:class:`EEGWindowsDataset` reads a list of files, a folder (recursively, by
extension) or a BIDS root with MNE's readers, without preloading: at
construction it reads each file's header, keeps its EEG channels and counts
its windows; a window is read from disk only when it is asked for, and goes
through the same :class:`~sk_cria.EEGPreprocessor` as in-memory arrays.
Recordings with different montages, sampling rates and units go into one
dataset; :class:`~sk_cria.sampling.MontageBatchSampler` then batches windows
that share a montage.

Readers are chosen by file extension: ``.csv`` files are read as the
muse-lsl recorder writes them (:mod:`sk_cria.datasets._csv`: rate and gaps
from the timestamps), every other format by :func:`mne.io.read_raw`. Windows
never span a gap; windows and channels with a flat or loose electrode, or with
NaN or infinite samples, are left out (:mod:`sk_cria.datasets._quality`), and
so are the channels a file marks bad (FIF's ``info["bads"]``, ``status`` bad
in a BIDS ``channels.tsv``). Every window has ``window`` one-second patches,
whatever the sampling rate.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache, partial
import hashlib
import os
from pathlib import Path
import re
import sys
import warnings

import numpy as np
import torch
from sklearn.base import clone

from .._check import check_number, one_of
from .._net import channel_pairs
from ..channels import normalize_channel_name
from ..preprocessing import PATCH_SIZE, TARGET_SFREQ, EEGPreprocessor
from ._csv import read_csv_recording
from ._quality import FLAT_SD, KINDS, LOOSE_SD, check_thresholds, judge_windows, window_sd

__all__ = ["EEG_EXTENSIONS", "KEEP_WINDOWS_BYTES", "EEGWindowsDataset", "NoUsableDataError",
           "Recording", "find_recordings"]

#: Most bytes of preprocessed windows that ``keep_windows="auto"`` keeps in memory.
KEEP_WINDOWS_BYTES = 4 * 2**30

#: File extensions read by default: the formats of MNE's ``read_raw`` that
#: hold continuous EEG (BrainVision is found by its ``.vhdr`` header), and
#: CSV recordings in the layout of the muse-lsl recorder.
EEG_EXTENSIONS = (".edf", ".bdf", ".gdf", ".vhdr", ".set", ".fif", ".fif.gz", ".cnt", ".csv")

# Names of channels that are not EEG even when a reader types them as EEG
# (EDF has no channel types, so everything in it is "eeg" to MNE).
_NON_EEG_NAME = re.compile(
    r"^(ECG|EKG|EOG|HEOG|VEOG|EMG|RESP|STI|STATUS|TRIG|PHOTIC|SPO2|PULSE|PLETH|"
    r"BURSTS|IBI|SUPPR|EVENT|MARK|ANNOT|EDF ANNOT|DC\d|X|Y|Z|ND)\b",
    re.IGNORECASE,
)
# Why a channel the file itself marks bad is left out (files.csv, left_out, summary).
MARKED_BAD = "marked bad in the file"
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
    segments : tuple of (int, int)
        Sample ranges ``[start, stop)`` without a gap (one for a file whose
        reader knows of no gap); no window spans two.
    starts : tuple of int
        First sample of each window used (after the windows left out for flat
        or loose channels).
    """

    path: Path
    picks: tuple
    ch_names: tuple
    sfreq: float
    n_times: int
    n_windows: int
    montage: int
    segments: tuple = field(default=(), repr=False)
    starts: tuple = field(default=(), repr=False)

    @property
    def hours(self):
        return self.n_times / self.sfreq / 3600.0


def find_recordings(paths, extensions=EEG_EXTENSIONS):
    """List the recording files of ``paths``, in a fixed order, without duplicates.

    Parameters
    ----------
    paths : str, path-like or list of them
        Files, folders (searched recursively, through symbolic links to
        folders too, each folder once) or BIDS roots (folders holding
        ``dataset_description.json``: their ``sourcedata/`` and
        ``derivatives/`` are left out). Hidden files and folders (``.name``)
        are left out.
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
        found = sorted(p for p in _walk(path, skip)
                       if p.is_file() and p.name.lower().endswith(extensions))
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
        ``Y``, ``nd``, ...) are always dropped; in a CSV, whose columns have
        no type, only columns named by an electrode are EEG.
    flat_sd : float or None, default=FLAT_SD (0.5)
        A channel whose standard deviation in a window (uV, after a 0.5 Hz
        high-pass) is below this is flat (a dead electrode) there. None
        disables the test.
    loose_sd : float or None, default=LOOSE_SD (200.0)
        ... above this, loose or saturated there. None disables the test.
        A channel flat or loose in more than half of a recording's windows
        is left out of that recording; then every window in which a kept
        channel is flat or loose is left out (the rule of
        :mod:`sk_cria.datasets._quality`). Testing reads every window once
        when the dataset is made; so are windows and channels holding a NaN
        or infinite sample, whatever the thresholds.
    cache_size : int, default=64
        Open recordings kept per process (headers only, well under a
        megabyte each; a CSV recording is held whole, about 2 MB for 4
        channels over 4 minutes): opening an EDF costs about as much as
        preprocessing a window, so a batch drawn from many recordings should
        find them open. Memory does not grow with the number of recordings
        beyond it; 0 opens the recording again for every window.
    verbose : bool, default=True
        Print the summary (files and hours used and skipped, channels
        dropped) to stderr.
    keep_windows : bool or "auto", default="auto"
        Keep each window in memory once read and preprocessed, so that every
        epoch after the first skips reading and preprocessing (about 8 ms a
        10 s window, a third of a small encoder's training step:
        ``benchmarks/results/pretrain_profile.md``). Costs the windows'
        float32 bytes, ``channels x window x 800`` each (``nbytes``
        gives the total before any is read). "auto" keeps windows until they
        take ``KEEP_WINDOWS_BYTES`` (4 GiB; the windows past it are read
        from disk each time), and only in the process that made the dataset:
        a DataLoader worker (``num_workers`` > 0) would hold its own copy of
        them all, lost when the epoch ends. True keeps every window, in every
        process; False keeps none. The windows are those read without it,
        bit for bit; changing the preprocessing (``preprocessor.set_params``
        or a new ``preprocessor``) drops the kept windows, so none preprocessed
        otherwise is ever returned.
    Attributes
    ----------
    recordings : list of Recording
        The recordings that are used.
    skipped : list of (pathlib.Path, str)
        Files that were not used, each with the reason (also warned); a
        byte-for-byte copy of an earlier file is one.
    dropped_channels : collections.Counter
        ``(name, reason)`` -> number of recordings it was dropped from.
    left_out : dict
        File -> ``{"windows": n, "channels": names, "bad": Counter}`` for each
        file with a flat, loose or non-finite channel in some window, or a
        channel it marks bad: the windows and the channels left out, and
        ``(channel, "flat" | "loose" | "non-finite" | "marked bad in the
        file")`` -> windows in which it was so. A file all of whose windows
        are left out is skipped.
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
                 verbose=True, flat_sd=FLAT_SD, loose_sd=LOOSE_SD, keep_windows="auto"):
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
        one_of(("auto",), types=(bool,))("keep_windows", keep_windows)
        self.keep_windows = keep_windows
        self.cache_size = check_number(
            cache_size, "cache_size", integer=True, low=0,
            fix="Give how many recordings to keep open per process (0 keeps none).")
        self.flat_sd = check_number(
            flat_sd, "flat_sd", low=0, allow_none=True,
            fix="Give the standard deviation in uV under which a channel is flat, or None.")
        self.loose_sd = check_number(
            loose_sd, "loose_sd", low=0, low_open=True, allow_none=True,
            fix="Give the standard deviation in uV above which a channel is loose, or None.")
        check_thresholds(self.flat_sd, self.loose_sd)
        self.files = find_recordings(paths, extensions)
        self.recordings, self.skipped = [], []
        self.left_out = {}
        self.dropped_channels = Counter()
        self.montages = []
        rates = []
        copies = _copies(self.files)
        for path in self.files:
            if path in copies:  # the same windows twice would weigh them double
                self._skip(path, f"the same bytes as {copies[path]}")
                continue
            entry = self._open_file(path)
            if entry is None:
                continue
            rates.append(entry["sfreq"])
            # A stride shorter than a sample is refused below, at the fastest
            # rate of all files; its windows are never counted or read.
            if self.stride * entry["sfreq"] >= 1 - _EPS:
                self._index(**entry)
        self._check_stride(rates)
        self._cache = OrderedDict()
        self._kept = {}  # window index -> preprocessed window (keep_windows)
        self._kept_bytes = 0
        # The preprocessing the kept windows and fitted preprocessors were made with.
        self._made_with = _preprocessing_key(self.preprocessor)
        # Each window carries its channels as vocabulary index pairs, the way
        # the estimators send arrays to the model.
        self._channel_pairs = [torch.from_numpy(channel_pairs(names)) for names in self.montages]
        counts = np.array([rec.n_windows for rec in self.recordings], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self.montage_ids = np.repeat(
            np.array([rec.montage for rec in self.recordings], dtype=np.int64), counts
        )
        self.recording_ids = np.repeat(np.arange(len(self.recordings)), counts)
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
    def _open_file(self, path):
        """The header of a usable file (a dict for :meth:`_index`); None when skipped."""
        try:
            raw, segments, not_eeg = _open(path)
            picks, names, dropped = self._select_channels(raw) if raw is not None else ((), (), [])
            dropped += not_eeg
            picks, names, marked_bad = _without_marked_bad(raw, picks, names)
            dropped += [(name, MARKED_BAD) for name in marked_bad]
            if picks:
                n_times = raw.n_times
                # Reading the last sample catches data files shorter than their
                # headers (a missing .fdt/.eeg, a cut-off transfer).
                raw.get_data(picks=list(picks[:1]), start=n_times - 1, stop=n_times)
        except Exception as error:  # any reader failure means: skip this file
            why = str(error) or f"not a valid {Path(path).suffix} file (a reader's check failed)"
            return self._skip(path, f"{type(error).__name__}: {why}")
        if not picks:
            return self._skip(path, f"every EEG channel ({', '.join(marked_bad)}) is "
                                    f"{MARKED_BAD}" if marked_bad else
                                    "no EEG channel with a 10-05 name")
        return dict(path=path, raw=raw, picks=picks, names=names, dropped=dropped,
                    marked_bad=marked_bad, segments=segments, n_times=n_times,
                    sfreq=float(raw.info["sfreq"]))

    def _size(self, sfreq):
        """Samples of a window read at ``sfreq``: at least ``window`` seconds.

        Rounded up, so that the window resampled to 200 Hz holds at least
        ``window`` patches, and cut to them (:meth:`_read_window`); rounded
        to the nearest sample, a rate such as 173.61 or 199.9 Hz gave a
        patch too many or a zero-padded sample.
        """
        return int(np.ceil(self.window * sfreq - _EPS))

    def _index(self, path, raw, picks, names, dropped, marked_bad, segments, n_times, sfreq):
        """Count the windows of a file, leaving out those with a flat, loose or NaN channel."""
        size = self._size(sfreq)
        starts = self._window_starts(segments, size, sfreq)
        if not starts:
            longest = max(b - a for a, b in segments)
            return self._skip(path, (
                f"{n_times / sfreq:.1f} s long" if len(segments) == 1 else
                f"{len(segments)} stretches between gaps in its timestamps, the longest "
                f"{longest / sfreq:.1f} s") + f", shorter than one {self.window} s window")
        # Every window is read once here, also with both thresholds off: a NaN
        # or infinite sample is found now, not at the batch that reaches it.
        try:
            sd = self._window_sd(raw, picks, starts, size, sfreq,
                                 spread=self.flat_sd is not None or self.loose_sd is not None)
        except Exception as error:  # as at opening: the file is unreadable
            return self._skip(path, f"{type(error).__name__}: {error}")
        channels, windows, bad = judge_windows(sd, names, self.flat_sd, self.loose_sd)
        # Channels the file marks bad count as left out for the whole file.
        bad.update({(name, MARKED_BAD): len(starts) for name in marked_bad})
        if bad:
            self.left_out[path] = {
                "windows": int((~windows).sum()) if channels.any() else len(starts),
                "channels": marked_bad + tuple(
                    n for n, keep in zip(names, channels) if not keep),
                "bad": bad}
        if not (channels.any() and windows.any()):
            summary = ", ".join(f"{name} {kind} in {count}"
                                for (name, kind), count in sorted(bad.items())
                                if kind != MARKED_BAD)
            return self._skip(path, f"every window has a flat or loose channel, or NaN or "
                                    f"infinite samples ({summary} of {len(starts)} windows)")
        for j in np.flatnonzero(~channels):
            kind = max(KINDS, key=lambda k: bad.get((names[j], k), 0))
            dropped.append((names[j], f"{kind} in most windows"))
        picks = tuple(p for p, keep in zip(picks, channels) if keep)
        names = tuple(name for name, keep in zip(names, channels) if keep)
        starts = [start for start, keep in zip(starts, windows) if keep]
        self.dropped_channels.update(dropped)
        if names not in self.montages:
            self.montages.append(names)
        self.recordings.append(Recording(
            path=path, picks=picks, ch_names=names, sfreq=sfreq, n_times=n_times,
            n_windows=len(starts), montage=self.montages.index(names),
            segments=tuple(segments), starts=tuple(starts),
        ))

    def _window_starts(self, segments, size, sfreq):
        """First samples of the windows inside each segment, k strides from its start."""
        starts = []
        for first, stop in segments:
            if stop - first < size:
                continue
            # The k-th start is k strides from the first, rounded once: a stride
            # that is not a whole number of samples does not accumulate rounding.
            count = 1 + int(np.floor((stop - first - size) / (self.stride * sfreq) + _EPS))
            starts.extend(first + int(round(k * self.stride * sfreq)) for k in range(count))
        return starts

    @staticmethod
    def _window_sd(raw, picks, starts, size, sfreq, spread=True, chunk=32):
        """:func:`~sk_cria.datasets._quality.window_sd` of every window, a few at a time.

        With ``spread=False`` (both thresholds off) only the NaN of non-finite
        windows is computed, 0 elsewhere: the filter is most of the cost.
        """
        sd = np.empty((len(starts), len(picks)))
        for i in range(0, len(starts), chunk):
            group = starts[i:i + chunk]
            first, stop = group[0], group[-1] + size
            if stop - first <= len(group) * size:
                # Overlapping or abutting windows (a stride up to the window):
                # one read of their span, not one per window (with a stride of
                # a sample, per-window reads were most of the indexing).
                span = raw.get_data(picks=list(picks), start=first, stop=stop, units="uV")
                data = np.stack([span[:, start - first:start - first + size]
                                 for start in group])
            else:  # far apart: reading the gaps would cost more than it saves
                data = np.stack([raw.get_data(picks=list(picks), start=start,
                                              stop=start + size, units="uV")
                                 for start in group])
            sd[i:i + chunk] = (window_sd(data, sfreq) if spread else
                               np.where(np.isfinite(data).all(axis=-1), 0.0, np.nan))
        return sd

    def _check_stride(self, rates):
        """Refuse a stride shorter than one sample: its windows would repeat."""
        if not rates:
            return
        fastest = max(rates)
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
        self._drop_if_preprocessing_changed()
        if not self._keeping():
            x = self._read_window(index, recording, first)
            return {"x": x, "channels": self._channel_pairs[recording.montage]}, 0
        key = int(index) % len(self)
        x = self._kept.get(key)
        if x is None:
            x = self._read_window(index, recording, first)
            if self.keep_windows is True or (
                    self._kept_bytes + x.nbytes <= KEEP_WINDOWS_BYTES):
                self._kept[key] = x
                self._kept_bytes += x.nbytes
        # A copy: a caller that edits its batch in place leaves the kept window as read.
        return {"x": x.clone(), "channels": self._channel_pairs[recording.montage]}, 0

    def _keeping(self):
        """Whether this process keeps the windows it reads (see ``keep_windows``)."""
        if self.keep_windows == "auto":
            # A worker's copy is dropped with the worker, at the end of each epoch.
            return torch.utils.data.get_worker_info() is None
        return bool(self.keep_windows)

    def _drop_if_preprocessing_changed(self):
        """Forget kept windows and fitted preprocessors made with other settings."""
        key = _preprocessing_key(self.preprocessor)
        if key != self._made_with:
            self._kept, self._kept_bytes, self._preprocessors = {}, 0, {}
            self._made_with = key

    def _read_window(self, index, recording, first):
        """Window ``index`` read from its file and preprocessed, as a float32 tensor."""
        raw = self._raw(recording.path)
        size = self._size(recording.sfreq)
        data = raw.get_data(picks=list(recording.picks), start=first, stop=first + size,
                            units="uV")
        if not np.isfinite(data).all():
            # The scan left such windows out, so the file changed since; said
            # here, with the file and the time span, not deep in the model.
            start = first / recording.sfreq
            raise ValueError(
                f"Window {index} of the dataset ({recording.path}, "
                f"{start:.3f}-{start + self.window:.3f} s) holds NaN or infinite "
                "samples. Replace that stretch of the recording (interpolate it, or "
                "crop it out with mne and save the parts as separate files), or leave "
                "the file out."
            )
        window = self._preprocessor(recording).transform(data[np.newaxis])
        # At least window * 200 samples (see _size): exactly `window` patches.
        window = window[0, :, :int(self.window * TARGET_SFREQ)]
        return torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))

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
        return recording, recording.starts[int(index - self._offsets[which])]

    def _raw(self, path):
        raw = self._cache.pop(path, None)
        if raw is None:
            raw = _open(path)[0]
        self._cache[path] = raw
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return raw

    def _preprocessor(self, recording):
        key = (recording.sfreq, recording.montage)
        if key not in self._preprocessors:
            prep = clone(self.preprocessor).set_params(
                sfreq=recording.sfreq, ch_names=list(recording.ch_names)
            )
            n_times = self._size(recording.sfreq)
            self._preprocessors[key] = prep.fit(
                np.zeros((1, len(recording.picks), n_times))
            )
        return self._preprocessors[key]

    def __getstate__(self):
        # Open files stay with the process that opened them (DataLoader
        # workers open their own).
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        state["_kept"] = {}  # kept windows are re-read where they are needed
        state["_kept_bytes"] = 0
        return state

    # ------------------------------------------------------------- reports
    @property
    def n_windows_per_montage(self):
        return np.bincount(self.montage_ids, minlength=len(self.montages))

    @property
    def nbytes(self):
        """Bytes of all windows as float32 (what ``keep_windows`` holds once all are read)."""
        per_second = TARGET_SFREQ * np.dtype(np.float32).itemsize
        return int(sum(rec.n_windows * len(rec.picks) * self.window * per_second
                       for rec in self.recordings))

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
        split = [rec for rec in self.recordings if len(rec.segments) > 1]
        if split:
            lines.append("Split at gaps in the timestamps (no window spans one): " + ", ".join(
                f"{rec.path.name} ({len(rec.segments)} segments)" for rec in split) + ".")
        if self.left_out:
            windows = sum(entry["windows"] for entry in self.left_out.values())
            lines.append(
                f"Left out for flat (SD < {self.flat_sd} uV), loose (SD > {self.loose_sd} uV), "
                f"NaN/infinite or marked-bad channels: {windows} window(s) and "
                f"{sum(len(entry['channels']) for entry in self.left_out.values())} "
                f"channel(s) of {len(self.left_out)} file(s) (see left_out).")
        for path, reason in self.skipped:
            lines.append(f"Skipped {path}: {reason}.")
        return "\n".join(lines)

    def __repr__(self):
        return (f"EEGWindowsDataset({len(self.recordings)} recordings, {len(self)} windows "
                f"of {self.window} s, {len(self.montages)} montage(s))")


def _preprocessing_key(preprocessor):
    """The settings a preprocessed window depends on besides its samples.

    The dataset fits its own clones of ``preprocessor`` (see ``_preprocessor``),
    so windows depend on these settings only.
    """
    return repr(sorted(preprocessor.get_params(deep=False).items()))


def _walk(root, skip):
    """Every file under ``root``, following links to folders, each folder once.

    :meth:`pathlib.Path.rglob` does not enter a symbolic link to a folder
    (before Python 3.13), which left a linked subject folder silently out.
    Hidden entries and folders named in ``skip`` are left out; a link back
    to a folder already searched (a loop) is not entered again.
    """
    seen = set()
    for folder, folders, names in os.walk(root, followlinks=True):
        stat = os.stat(folder)
        if (stat.st_dev, stat.st_ino) in seen:
            folders[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        folders[:] = sorted(name for name in folders
                            if not name.startswith(".") and name not in skip)
        yield from (Path(folder) / name for name in names if not name.startswith("."))


def _without_marked_bad(raw, picks, names):
    """``picks`` and ``names`` less the channels the file marks bad, and those names.

    MNE reads the marks into ``info["bads"]``: FIF's own, and a BIDS
    ``channels.tsv``'s ``status`` column when mne-bids reads the recording.
    """
    bads = set(raw.info["bads"]) if raw is not None else set()
    keep = [raw.ch_names[pick] not in bads for pick in picks]
    return (tuple(p for p, k in zip(picks, keep) if k), tuple(n for n, k in zip(names, keep) if k),
            tuple(n for n, k in zip(names, keep) if not k))


def _copies(files):
    """File -> the earlier file it is a byte-for-byte copy of (only shared sizes are hashed)."""
    by_size = {}
    for path in files:
        by_size.setdefault(path.stat().st_size, []).append(path)
    copies = {}
    for same_size in by_size.values():
        if len(same_size) < 2:  # a file of a size of its own is no copy
            continue
        first = {}
        for path in same_size:
            original = first.setdefault(_digest(path), path)
            if original != path:
                copies[path] = original
    return copies


def _digest(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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


def _open(path):
    """The reader of ``path``'s extension: (raw, gap-free sample ranges, non-EEG columns)."""
    reader = _READERS.get(Path(path).suffix.lower())
    if reader is not None:
        return reader(path)
    raw = _open_raw(path)
    return raw, ((0, raw.n_times),), []


# Readers by extension; a format absent here is read by mne.io.read_raw.
_READERS = {".csv": partial(read_csv_recording, non_eeg_name=_NON_EEG_NAME)}


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
        "Reading a BIDS tree without mne-bids: channel types and bad-channel marks "
        "(status) from channels.tsv are not applied (non-EEG channels are then recognised "
        "by name only, and channels marked bad there are used). Install it with "
        "pip install 'sk_cria[bids]'.",
        UserWarning,
    )
