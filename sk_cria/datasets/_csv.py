"""Recordings in the CSV layout of the muse-lsl recorder (Muse, OpenBCI and other LSL headsets).

The layout: a ``timestamps`` column in seconds, one column per channel named by
its electrode (``TP9``, ``AF7``, ...) in microvolts, then marker and
auxiliary columns (``Marker0``, ``Right AUX``, ...). A CSV has no channel
types, so the rule is by name: a column is EEG when its name is a 10-05
electrode (:func:`~sk_cria.channels.normalize_channel_name` knows it); every
other column is left out, and reported as non-EEG.

The rate and the gaps come from the timestamps. LSL time stamps are jittered
(recorders that stamp chunks of samples leave steps of tens of milliseconds
back and forth) and rounded (to the millisecond in muse-lsl's files), so
neither a single interval nor the median interval gives the rate: 256 Hz
stamped to the millisecond has a median interval of 4 ms, 250 Hz. Instead:

* a **gap** is where the timestamps jump ahead (or back) of the count of
  samples by more than :data:`CSV_GAP` seconds and stay there: the median
  offset of the second after a long interval is compared with that of the
  second before, which jitter does not move;
* the **rate** is the samples per second of the gap-free stretches
  (segments), rounded to a whole number of Hz when within
  :data:`CSV_RATE_TOLERANCE` of one (the headset's nominal rate; the rest is
  clock drift between the headset and the computer);
* the timestamps are **regular** when no sample of a segment lies more than
  :data:`CSV_MAX_JITTER` seconds off the straight line of its segment;
  otherwise the file is refused.

The recording is split at its gaps: no window spans one.
"""

import numpy as np

from ..channels import normalize_channel_name

__all__ = ["CSV_GAP", "CSV_MAX_JITTER", "CSV_RATE_TOLERANCE", "read_csv_recording"]

#: Seconds the timestamps may jump ahead (or back) of the samples before the
#: recording is split there. Chunk jitter of muse-lsl moves the local offset by
#: up to 0.021 s in the eeg-notebooks recordings; real gaps there are minutes.
CSV_GAP = 0.05
#: Largest distance (s) of a timestamp from the regular grid of its segment.
CSV_MAX_JITTER = 0.25
#: Relative distance to a whole number of Hz within which the rate is rounded to it.
CSV_RATE_TOLERANCE = 1e-3
#: The column of sample times, in seconds (muse-lsl's name; matched case-insensitively).
TIME_COLUMN = "timestamps"
# Samples per block of the first rate estimate, made before the gaps are known.
_BLOCK = 1024
# A rate this low means the timestamps are not in seconds (milliseconds, sample counts).
_MIN_RATE = 10.0


def read_csv_recording(path, non_eeg_name=None):
    """Read a muse-lsl CSV recording.

    Parameters
    ----------
    path : pathlib.Path
    non_eeg_name : re.Pattern or None
        Names that are not EEG even though they name an electrode-like token.

    Returns
    -------
    raw : mne.io.RawArray
        The EEG columns (in volts, as MNE keeps them), typed "eeg".
    segments : tuple of (int, int)
        Sample ranges ``[start, stop)`` between the gaps of the timestamps.
    dropped : list of (str, str)
        The other columns, each with why it is not EEG.

    Raises
    ------
    ValueError
        If the file is not a CSV with a ``timestamps`` column in seconds and
        electrode columns of numbers, or if its timestamps are irregular.
    """
    import mne
    import pandas as pd

    try:
        table = pd.read_csv(path, sep=",", low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"not a CSV table ({error})") from None
    columns = [str(name).strip() for name in table.columns]
    table.columns = columns
    time = [name for name in columns if name.lower() == TIME_COLUMN]
    if not time:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise ValueError(
            f"not an EEG recording: no '{TIME_COLUMN}' column (columns: {shown}); a "
            f"recording CSV has a '{TIME_COLUMN}' column in seconds and one column per "
            "electrode (TP9, AF7, ...), as muse-lsl writes"
        )
    eeg, dropped = [], []
    for name in columns:
        if name == time[0]:
            continue
        is_eeg = normalize_channel_name(name) is not None and not (
            non_eeg_name is not None and non_eeg_name.match(name))
        if is_eeg:
            eeg.append(name)
        else:
            dropped.append((name, "non-EEG"))
    if not eeg:
        return None, (), dropped  # the dataset says "no EEG channel with a 10-05 name"
    times = _numbers(table[time[0]], time[0])
    data = np.stack([_numbers(table[name], name, finite=False) for name in eeg])
    sfreq, segments = regular_segments(times)
    info = mne.create_info(eeg, sfreq, "eeg")
    # muse-lsl writes microvolts; MNE keeps volts (get_data(units="uV") gives them back).
    raw = mne.io.RawArray(data * 1e-6, info, verbose="error")
    return raw, segments, dropped


def _numbers(column, name, finite=True):
    """A column as float64; refuse text (and missing values in the timestamps)."""
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    text = np.isnan(values) & column.notna().to_numpy()
    missing = ~np.isfinite(values) if finite else text
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(f"column '{name}' holds {column.iloc[row]!r} at data row {row + 1}, "
                         "not a number")
    return values


def regular_segments(times):
    """The rate of ``times`` (seconds) and its gap-free sample ranges.

    Returns
    -------
    sfreq : float
    segments : tuple of (int, int)

    Raises
    ------
    ValueError
        Fewer than two samples, a rate under 10 Hz (timestamps not in
        seconds), or timestamps farther than :data:`CSV_MAX_JITTER` from a
        regular grid.
    """
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n < 2:
        raise ValueError(f"{n} sample(s): too short to give a sampling rate")
    rough = _rough_rate(times)
    if not rough >= _MIN_RATE:
        raise ValueError(
            f"the '{TIME_COLUMN}' column gives {rough:.3g} samples per second; it must "
            "hold each sample's time in seconds (not milliseconds or sample numbers)"
        )
    cuts = _gaps(times, rough)
    bounds = [0, *cuts, n]
    segments = tuple((a, b) for a, b in zip(bounds[:-1], bounds[1:]))
    spans = [(b - a - 1, times[b - 1] - times[a]) for a, b in segments if b - a > 1]
    sfreq = sum(k for k, _ in spans) / sum(t for _, t in spans)
    if abs(sfreq - round(sfreq)) <= CSV_RATE_TOLERANCE * sfreq:
        sfreq = float(round(sfreq))
    for a, b in segments:
        if b - a < 3:
            continue
        # Offsets from the straight line through the segment (its own rate:
        # clock drift is not jitter).
        offsets = times[a:b] - np.linspace(times[a], times[b - 1], b - a)
        offsets -= np.median(offsets)
        worst = int(np.argmax(np.abs(offsets)))
        if abs(offsets[worst]) > CSV_MAX_JITTER:
            raise ValueError(
                f"irregular timestamps: sample {a + worst + 1} is {offsets[worst]:+.3f} s off "
                f"the regular {sfreq:g} Hz grid of its stretch (more than "
                f"CSV_MAX_JITTER={CSV_MAX_JITTER} s), so the samples are not equally spaced"
            )
    return float(sfreq), segments


def _rough_rate(times):
    """Samples per second, robust to a few gaps: the median over blocks of samples."""
    block = min(_BLOCK, len(times) - 1)
    starts = np.arange(0, len(times) - block, block)
    spans = times[starts + block] - times[starts]
    span = np.median(spans)
    return block / span if span > 0 else 0.0


def _gaps(times, rate):
    """Indices where a new segment starts: the local offset moves by more than CSV_GAP."""
    n = len(times)
    offsets = times - np.arange(n) / rate
    step = np.diff(times)
    # Only a long (or backward) interval can start a gap; most such are jitter.
    candidates = np.flatnonzero(np.abs(step - 1 / rate) > CSV_GAP / 2)
    second = max(1, int(round(rate)))
    jumps = [int(i) for i in candidates
             if abs(np.median(offsets[i + 1:i + 1 + second])
                    - np.median(offsets[max(0, i - second + 1):i + 1])) > CSV_GAP]
    # Jitter within a second of a gap passes the test too (its second holds the
    # gap): of intervals closer than a second, the longest jump is the gap.
    cuts, cluster = [], []
    for i in jumps:
        if cluster and i - cluster[-1] >= second:
            cuts.append(_longest(cluster, step, rate))
            cluster = []
        cluster.append(i)
    if cluster:
        cuts.append(_longest(cluster, step, rate))
    return cuts


def _longest(cluster, step, rate):
    return max(cluster, key=lambda i: abs(step[i] - 1 / rate)) + 1
