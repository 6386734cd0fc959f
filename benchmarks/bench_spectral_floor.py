"""What the spectral floor (issue 37) changed in the motor-imagery probe (issue 35's drift).

The frozen per-region probe of ``cria-small`` on motor imagery (eegmmidb-mi,
subjects 1-11, recipe ``ra/subject``, CRIA's input 8-30 Hz at 100 uV) scored
.581 before ``CRIAConfig.spectral_floor_db=30`` and .556 after. This script
measures why, on the benchmark's own CRIA input (``bench_geometry._motor_imagery``)
and with the shipped encoder's own tokenizer (``PatchTokenizer``: Hann window,
FFT magnitudes of 1 s patches, the floor ``magnitude_floor``):

- where in the spectrum the floor acts: per frequency bin, the median FFT
  magnitude in dB relative to its patch's RMS magnitude (the floor sits at -30
  dB), and the share of bins the floor dominates;
- what the bins it flattens say about the label: the benchmark's probe (per-subject
  z-scoring, balanced logistic regression, GroupKFold(6) over subjects) on the log
  magnitudes of the in-band bins (8-30 Hz) and of the bins outside it, read as
  the tokenizer read them before the floor (``log(|X| + eps)``) and after;
- what it moves in the shipped encoder's per-region features (``embedding="regions"``),
  view by view: how far each window's features move (``noise.relative_change``) and
  the same probe on each view's features, without and with the floor.

    python benchmarks/bench_spectral_floor.py ../shared/data \
        --out benchmarks/results/spectral-floor-eegmmidb-mi/spectrum.md

``benchmark --floor-db DB`` runs ``sk-cria benchmark`` (the other arguments
are its own) with every encoder's tokenizer floored ``DB`` dB below the patch's
RMS, shipped and random weights alike, or with no floor (``off``: as before
issue 37), and notes the floor in ``spectral_floor.md`` beside the results::

    python benchmarks/bench_spectral_floor.py benchmark --floor-db off \
        --task eegmmidb-mi --data ../shared/data --seeds 3 --encoder small \
        --input-scaling 100 --pipelines cria_probe_shipped_regions \
        cria_probe_random_regions csp_lda_recentered \
        --out benchmarks/results/spectral-floor-eegmmidb-mi/floor-off

(``benchmarks/results/geometry.md``, last section, has the commands and results).
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from bench_geometry import _motor_imagery, _probe_score
from sk_cria import ViewMaskPretrainer
from sk_cria.atomic import open_atomic
from sk_cria.model import CRIA
from sk_cria.model.views import PatchTokenizer
from sk_cria.noise import relative_change

#: The floors' band, CRIA's input band in the motor-imagery runs (Hz).
BAND = (8.0, 30.0)


def log_magnitudes(X, tokenizer, floor):
    """Per window, channel and bin: the log FFT magnitude the tokenizer reads, averaged
    over the window's patches, and the magnitude in dB relative to its patch's RMS.

    ``floor`` False reads ``log(|X| + spectral_eps)`` (before issue 37), True adds the
    tokenizer's floor (``magnitude_floor``).
    """
    size = tokenizer.window.shape[-1]
    x = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    patches = x.unfold(-1, size, size)  # (windows, channels, patches, size), as encode
    magnitude = torch.fft.rfft(patches * tokenizer.window, dim=-1).abs()
    added = tokenizer.magnitude_floor(magnitude) if floor else tokenizer.spectral_eps
    rms = torch.linalg.vector_norm(magnitude, dim=-1, keepdim=True) / magnitude.shape[-1] ** 0.5
    relative_db = 20 * torch.log10(magnitude / rms.clamp_min(1e-30) + 1e-30)
    return torch.log(magnitude + added).mean(dim=2).numpy(), relative_db


def region_features(X, floor):
    """``cria-small``'s frozen per-region features of X, with or without the floor."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the scaling is the benchmark's
        pretrainer = ViewMaskPretrainer.from_pretrained("cria-small", embedding="regions")
        pretrainer.fit(X)
    if not floor:
        pretrainer.encoder_.tokenizer.spectral_floor_db = None
    return pretrainer.transform(X), pretrainer.get_feature_names_out()


def _hz(freqs, rows):
    """Runs of selected bins as "a-b, c-d Hz"."""
    selected = np.flatnonzero(rows)
    runs = np.split(selected, np.flatnonzero(np.diff(selected) > 1) + 1)
    return ", ".join(f"{freqs[r[0]]:g}-{freqs[r[-1]]:g}" for r in runs if len(r)) + " Hz"


def report(data, folds=6):
    X, y, groups = _motor_imagery(data)
    tokenizer = CRIA.from_pretrained("cria-small").tokenizer
    floor_db = tokenizer.spectral_floor_db
    freqs = np.fft.rfftfreq(tokenizer.window.shape[-1], 1 / X.sfreq)
    in_band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    before, relative_db = log_magnitudes(X, tokenizer, floor=False)
    after, _ = log_magnitudes(X, tokenizer, floor=True)
    below = (relative_db < -floor_db).float().mean(dim=(0, 1, 2)).numpy()
    median_db = relative_db.median(dim=0).values.median(dim=0).values.median(dim=0).values

    lines = [f"Motor imagery, subjects 1-11 ({len(y)} windows), the benchmark's CRIA input "
             f"(`ra`, {BAND[0]:g}-{BAND[1]:g} Hz at 100 uV, {X.sfreq:g} Hz); `cria-small`'s "
             f"tokenizer (1 s patches, Hann window, {len(freqs)} bins of "
             f"{freqs[1]:g} Hz), floor {floor_db:g} dB below the patch's RMS magnitude.",
             "", "## Where the floor acts", "",
             "| bins (Hz) | median magnitude, dB re patch RMS | share of bins below the floor |",
             "|---|---|---|"]
    edges = [0, 4, 6, 8, 13, 20, 30, 34, 38, 45, 60, 80, 101]
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = (freqs >= lo) & (freqs < hi)
        lines.append(f"| {lo}-{hi - 1} | {np.median(median_db.numpy()[rows]):+.1f} | "
                     f"{below[rows].mean():.2f} |")
    lines += ["", "## What those bins say about the label", "",
              f"The benchmark's probe (per-subject z-scoring, balanced logistic regression, "
              f"GroupKFold({folds}) over subjects) on the log magnitudes (channels x bins, "
              "averaged over the patches), as the tokenizer reads them without and with "
              "the floor.", "",
              "| bins | features | without the floor: BAcc (fold sd) | with the floor |",
              "|---|---|---|---|"]
    flattened = below > 0.5  # bins whose magnitude is below the floor in most patches
    sets = {f"in band ({BAND[0]:g}-{BAND[1]:g} Hz)": in_band,
            f"outside the band, above the floor ({_hz(freqs, ~in_band & ~flattened)})":
                ~in_band & ~flattened,
            f"below the floor in most patches ({_hz(freqs, flattened)})": flattened,
            "all": np.ones_like(in_band)}
    for name, rows in sets.items():
        scores = [_probe_score(spectra[:, :, rows].reshape(len(y), -1), y, groups, folds)
                  for spectra in (before, after)]
        lines.append(f"| {name} | {X.shape[1]} x {rows.sum()} | "
                     + " | ".join(f"{m:.3f} ({s:.3f})" for m, s in scores) + " |")

    (before, names), (after, _) = region_features(X, False), region_features(X, True)
    lines += ["", "## What it moves in `cria-small`'s per-region features", "",
              "Frozen `embedding=\"regions\"` (14 regions x 3 views x d_model), the same "
              "probe on each view's features; the change is "
              "`||with - without|| / ||without||` per window (median, 90th percentile).", "",
              "| features | change, median (p90) | without the floor: BAcc (fold sd) | "
              "with the floor |", "|---|---|---|---|"]
    views = {"all three views": np.ones(len(names), dtype=bool)}
    views.update({f"{view} view": np.char.find(names.astype(str), f"_{view}") >= 0
                  for view in CRIA.VIEWS})
    for name, columns in views.items():
        change = relative_change(before[:, columns], after[:, columns])
        scores = [_probe_score(features[:, columns], y, groups, folds)
                  for features in (before, after)]
        lines.append(f"| {name} ({columns.sum()}) | {np.median(change):.2f} "
                     f"({np.quantile(change, 0.9):.2f}) | "
                     + " | ".join(f"{m:.3f} ({s:.3f})" for m, s in scores) + " |")
    return "\n".join(lines) + "\n"


def floored(floor_db):
    """Make every tokenizer built from now on read with ``floor_db`` (None: no floor).

    The checkpoint's own value and ``CRIAConfig``'s default are both replaced, so
    that shipped and random weights of one benchmark run read alike.
    """
    init = PatchTokenizer.__init__

    def init_with_floor(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.spectral_floor_db = floor_db

    PatchTokenizer.__init__ = init_with_floor


def benchmark(argv):
    """``sk-cria benchmark`` with the floor of ``--floor-db`` (the first two arguments)."""
    from sk_cria import cli

    if argv[:1] != ["--floor-db"] or len(argv) < 2:
        sys.exit("usage: bench_spectral_floor.py benchmark --floor-db {off,DB} "
                 "<sk-cria benchmark arguments>")
    floor_db = None if argv[1] == "off" else float(argv[1])
    floored(floor_db)
    status = cli.main(["benchmark", *argv[2:]])
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
    if not status and out is not None:
        with open_atomic(out / "spectral_floor.md") as f:
            f.write("Run with every tokenizer's spectral_floor_db = "
                    f"{floor_db} (None: no floor, as before issue 37):\n\n"
                    f"    python benchmarks/bench_spectral_floor.py benchmark {' '.join(argv)}\n")
    return status


def main():
    if sys.argv[1:2] == ["benchmark"]:
        return benchmark(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder holding MNE-eegbci-data/ (../shared/data)")
    parser.add_argument("--out", type=Path, help="markdown file to write (default: print)")
    args = parser.parse_args()
    text = report(args.data)
    if args.out is None:
        print(text)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(args.out) as f:
        f.write(f"    python benchmarks/bench_spectral_floor.py {args.data} --out {args.out}\n\n"
                + text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
