"""What EEGWindowsDataset reads of the pre-training corpus of issue 26, per kind.

For each kind of recording (eegmat subjects 00-27 and eegmmidb subjects 1-11
from ../shared/data; the eegmmidb runs and the Muse CSV recordings that
``../shared/tools/corpus.sh`` writes), with 10 s windows: files read and
skipped (with the reasons), hours, recordings split at gaps in their
timestamps, windows, and the windows and channels the loose-electrode rule
leaves out (against the same data read with the rule disabled).

    OMP_NUM_THREADS=1 python benchmarks/bench_corpus_reading.py --data ../shared/data \
        --corpus /work/corpus --out benchmarks/results/corpus_reading_figures.md
"""

import argparse
from collections import Counter
from pathlib import Path
import warnings

import numpy as np
import pandas as pd

from sk_cria.datasets import EEGWindowsDataset
from sk_cria.datasets._csv import CSV_GAP
from sk_cria.datasets._quality import FLAT_SD, LOOSE_SD


def kinds(data, corpus):
    eegmat = data / "eegmat/files/eegmat/1.0.0"
    return {
        "eegmat 00-27 (shared)": [eegmat / f"Subject{s:02d}_{r}.edf"
                                  for s in range(28) for r in (1, 2)],
        "eegmmidb 1-11 runs 4, 8, 12 (shared)": [
            data / f"MNE-eegbci-data/files/eegmmidb/1.0.0/S{s:03d}/S{s:03d}R{r:02d}.edf"
            for s in range(1, 12) for r in (4, 8, 12)],
        "eegmmidb 2-11 runs 3, 6, 7, 11 (corpus)": [corpus / "MNE-eegbci-data"],
        "Muse CSV (corpus)": [corpus / "eeg-notebooks"],
    }


def measure(paths, **rule):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EEGWindowsDataset(paths, window=10, verbose=False, **rule)


def row(name, ds, off):
    left = ds.left_out
    bad = Counter()
    for entry in left.values():
        bad.update(entry["bad"])
    return (
        f"| {name} | {len(ds.files)} | {len(ds.recordings)} | {len(ds.skipped)} | "
        f"{ds.hours:.2f} | {sum(len(r.segments) > 1 for r in ds.recordings)} | {len(off)} | "
        f"{len(ds)} ({len(ds) * ds.window / 3600:.2f} h) | {len(off) - len(ds)} | "
        f"{sum(len(e['channels']) for e in left.values())} | {len(left)} | "
        f"{', '.join(f'{c} {k} {n}' for (c, k), n in sorted(bad.items())) or '-'} |"
    )


def _gaps(rec):
    """Where each gap of a split CSV recording is, and how long, from its timestamps."""
    times = pd.read_csv(rec.path)["timestamps"].to_numpy()
    return "; ".join(
        f"gap of {times[b] - times[b - 1]:.1f} s after {(b - a) / rec.sfreq:.1f} s of samples"
        for a, b in rec.segments[:-1]) + \
        f"; segments of {', '.join(str(b - a) for a, b in rec.segments)} samples"


def _jitter(csvs):
    """How jittered the timestamps are, and the largest offset move that is not a gap."""
    median_rates, jittered, backward, longest, moves = Counter(), 0, 0, 0.0, 0.0
    for rec in csvs:
        times = pd.read_csv(rec.path)["timestamps"].to_numpy()
        step = np.diff(times)
        median_rates[round(1 / np.median(step), 1)] += 1
        jittered += bool((step <= 0).any())
        backward = max(backward, int((step <= 0).sum()))
        longest = max(longest, step.max() * rec.sfreq if len(rec.segments) == 1 else 0)
        offsets = times - np.arange(len(times)) / rec.sfreq
        second = int(rec.sfreq)
        for i in np.flatnonzero(np.abs(step - 1 / rec.sfreq) > CSV_GAP / 2):
            move = abs(np.median(offsets[i + 1:i + 1 + second])
                       - np.median(offsets[max(0, i - second + 1):i + 1]))
            moves = max(moves, move if move <= CSV_GAP else 0)
    return [
        "- 1 / median interval: "
        + ", ".join(f"{r:g} Hz ({n} files)" for r, n in median_rates.items()),
        f"- files with backward (or zero) steps in their timestamps: {jittered}; at most "
        f"{backward} such steps in one file; longest interval of an unsplit file "
        f"{longest:.1f} sample intervals",
        f"- largest move of the one-second median offset at a long interval that is not a "
        f"gap: {moves:.3f} s (CSV_GAP = {CSV_GAP} s)",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lines = [
        f"Rule: flat SD < {FLAT_SD} uV, loose SD > {LOOSE_SD} uV (per window and channel, "
        "after a 0.5 Hz high-pass); a channel bad in more than half of a file's windows is "
        "left out of the file, then each window with a bad channel. 10 s windows, no overlap.",
        "",
        "| kind | files | used | skipped | hours of the files used | split at gaps | "
        "windows (rule off) | windows (hours) | windows left out | channels left out | "
        "files with a bad channel | windows per (channel, kind) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    skipped, timing = [], []
    for name, paths in kinds(args.data, args.corpus).items():
        ds = measure(paths)
        off = measure(paths, flat_sd=None, loose_sd=None)
        lines.append(row(name, ds, off))
        skipped += [f"- {path}: {reason}" for path, reason in ds.skipped]
        print(lines[-1], flush=True)
        csvs = [rec for rec in off.recordings if rec.path.suffix == ".csv"]
        if csvs:
            rates = Counter(rec.sfreq for rec in csvs)
            timing.append(f"- {name}: rates from the timestamps "
                          f"{', '.join(f'{r:g} Hz ({n} files)' for r, n in rates.items())}")
            timing += [f"- {rec.path}: {gap}" for rec in csvs if len(rec.segments) > 1
                       for gap in [_gaps(rec)]]
            timing += _jitter(csvs)
    lines += ["", "CSV timing (rule off, so that every readable CSV counts):", *timing,
              "", "Skipped files (reasons as files.csv gives them):", *skipped, ""]
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
