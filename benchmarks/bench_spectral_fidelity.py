"""Spectral fidelity of CRIA embeddings: decode an added oscillation's frequency.

Real eegmat windows (5 s, 500 Hz, 20 channels) get a sinusoid at one of six
frequencies (9 to 29 Hz, 4 Hz apart; chance 1/6) added to five parietal and
occipital channels (P3, P4, O1, O2, Pz), at a fixed signal-to-noise ratio
(sinusoid power over the channel's power, per window), and go through
``EEGPreprocessor``. A standardised logistic-regression probe (5-fold
stratified CV) then decodes the frequency

* from the Welch log power spectrum (1 Hz bins, 1-45 Hz, all channels) of
  the preprocessed windows: the reference, what CRIA's own input shows;
* from the embeddings of the small CRIA encoder, random weights
  (``ViewMaskPretrainer(config=..., max_epochs=0)``), several seeds, for the
  small preset as it was before issue 21 (``LEGACY_DEFAULTS``: boxcar patch
  FFT, random spectral projection, mean pooling, one LayerNorm over the
  three views, random readout; and ``embed_dim=64``, ``k_c=k_t=0.5``) and
  as it is now, and for ablations that each turn one change back (at
  ``--ablation-snr``);
* optionally from the "before" and "after" small encoders pre-trained for
  ``--pretrain EPOCHS`` epochs (``ViewMaskPretrainer``, seed 0, defaults
  otherwise) on eegmat subjects 0-27 (rest and arithmetic windows, labels
  unused), and from saved encoders (``--pretrained NAME=DIR``).

``--scaling`` sets ``EEGPreprocessor(scaling=...)`` of every window, the
pre-training's too ("group": per eegmat subject); ``--after-only`` keeps the
current small preset only (no "before", purification or ablation rows).

The table is printed and written to
``benchmarks/results/spectral_fidelity.md``. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_spectral_fidelity.py \\
        [--subjects 0-7] [--seeds 3] [--pretrain 3] [--pretrained NAME=DIR ...]
        [--scaling window|group|UV] [--after-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.datasets import load_eegmat
from sk_cria.model import CRIAConfig
from sk_cria.model.config import LEGACY_DEFAULTS
from sk_cria.spectral_fidelity import add_sinusoids, log_power_spectrum, probe_accuracy

FREQUENCIES = (9, 13, 17, 21, 25, 29)
CHANNELS = ("EEG P3", "EEG P4", "EEG O1", "EEG O2", "EEG Pz")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "spectral_fidelity.md"

#: Encoder variants of the random-weight curves, as CRIAConfig.small overrides.
BEFORE = dict(LEGACY_DEFAULTS, embed_dim=64, k_c=0.5, k_t=0.5)
VARIANTS = {
    "before (main f39fa11: small preset as it was)": BEFORE,
    "after (small preset)": {},
    "after, purification on (k_c=k_t=0.5)": dict(k_c=0.5, k_t=0.5),
}
#: One change turned back at a time, and the purification setting, at one SNR.
ABLATIONS = {
    **{f"after, {name}={value!r}": {name: value} for name, value in BEFORE.items()},
    "after, pool_top_channels=1 (max)": dict(pool_top_channels=1),
    "after, pool_top_channels=5": dict(pool_top_channels=5),
    "before, purification off": dict(BEFORE, k_c=None, k_t=None),
}


def preprocess(data, X, scaling):
    """EEGPreprocessor with ``scaling``; "group" scales each subject on its own windows."""
    return EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names,
                           scaling=scaling).fit_transform(X, groups=data.groups)


def noisy_windows(data, snr_db, random_state=0, scaling="window"):
    """Add the sinusoids at ``snr_db`` and preprocess; return (windows, labels).

    Parameters
    ----------
    data : sklearn.utils.Bunch
        :func:`load_eegmat` output at 500 Hz.
    snr_db : float
    random_state : int, default=0
        Frequencies and phases (the same for every encoder).
    scaling : str or float, default="window"
        EEGPreprocessor's ``scaling``.

    Returns
    -------
    Xp : EEGArray of shape (n_windows, n_channels, n_times)
        Preprocessed windows at 200 Hz.
    y : ndarray of int
        Index of each window's frequency in :data:`FREQUENCIES`.
    """
    picks = [data.ch_names.index(name) for name in CHANNELS]
    X, y = add_sinusoids(data.data, data.sfreq, FREQUENCIES, snr_db, picks, random_state)
    return preprocess(data, X, scaling), y


def embedding_accuracy(Xp, y, pretrainer):
    """Probe accuracy on the embeddings of a fitted or to-be-fitted pretrainer."""
    if not hasattr(pretrainer, "montages_"):
        pretrainer.fit(Xp)
    return probe_accuracy(pretrainer.transform(Xp), y)


def random_encoder(overrides, seed):
    """The small encoder with random weights, built through the estimator."""
    return ViewMaskPretrainer(
        config=CRIAConfig.small(**overrides), max_epochs=0, random_state=seed, device="cpu"
    )


def pretrained_encoders(epochs, data_path, scaling="window", after_only=False):
    """The before/after small encoders pre-trained on eegmat subjects 0-27."""
    data = load_eegmat(subjects=range(28), path=data_path, download=False)
    X = preprocess(data, data.data, scaling)
    encoders = {}
    for name, overrides in (("before", BEFORE), ("after", {}))[after_only:]:
        started = time.time()
        encoders[f"{name}, {epochs} epochs on eegmat 0-27"] = ViewMaskPretrainer(
            config=CRIAConfig.small(**overrides), max_epochs=epochs, random_state=0, device="cpu"
        ).fit(X)
        print(f"pre-trained {name} in {time.time() - started:.0f} s", flush=True)
    return encoders


def random_weight_accuracy(Xp, y, overrides, seeds):
    """``"mean ± sd"`` of the probe accuracy over random-weight encoders of ``seeds``."""
    accs = [embedding_accuracy(Xp, y, random_encoder(overrides, seed)) for seed in seeds]
    return f"{np.mean(accs):.3f} ± {np.std(accs):.3f}"


def _scaling(text):
    return text if text in ("window", "group") else float(text)


def _parse_subjects(text):
    start, _, stop = text.partition("-")
    return list(range(int(start), int(stop or start) + 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", default="0-7", help="eegmat subjects, e.g. 0-7")
    parser.add_argument("--snrs", default="-25,-20,-15,-10,-5", help="dB, comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="random-weight seeds")
    parser.add_argument("--ablation-snr", type=float, default=-15.0)
    parser.add_argument("--pretrain", type=int, default=0, metavar="EPOCHS",
                        help="also pre-train the before/after encoders this many epochs")
    parser.add_argument(
        "--pretrained", nargs="*", default=[], metavar="NAME=DIR",
        help="saved encoders (save_pretrained folders) to probe as well",
    )
    parser.add_argument("--scaling", type=_scaling, default="window",
                        help='EEGPreprocessor scaling: "window", "group" or a unit in uV')
    parser.add_argument("--after-only", action="store_true",
                        help="only the current small preset: no before/ablation rows")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.time()
    data = load_eegmat(subjects=_parse_subjects(args.subjects), path=DATA, download=False)
    snrs = [float(value) for value in args.snrs.split(",")]
    seeds = range(args.seeds)
    pretrained = {
        name: ViewMaskPretrainer.from_pretrained(directory, device="cpu")
        for name, directory in (item.split("=", 1) for item in args.pretrained)
    }
    if args.pretrain:
        pretrained.update(pretrained_encoders(args.pretrain, DATA, args.scaling,
                                              args.after_only))
    variants = {"after (small preset)": {}} if args.after_only else VARIANTS
    ablations = {} if args.after_only else ABLATIONS

    reference = "log power spectrum (reference)"
    rows = {reference: {}}
    rows.update({name: {} for name in variants})
    rows.update({f"pre-trained: {name}": {} for name in pretrained})
    ablation_rows = {}
    for snr in snrs:
        Xp, y = noisy_windows(data, snr, scaling=args.scaling)
        rows[reference][snr] = f"{probe_accuracy(log_power_spectrum(Xp, Xp.sfreq), y):.3f}"
        for name, overrides in variants.items():
            rows[name][snr] = random_weight_accuracy(Xp, y, overrides, seeds)
        for name, encoder in pretrained.items():
            rows[f"pre-trained: {name}"][snr] = f"{embedding_accuracy(Xp, y, encoder):.3f}"
        if snr == args.ablation_snr:
            for name, overrides in ablations.items():
                ablation_rows[name] = random_weight_accuracy(Xp, y, overrides, seeds)
        print(f"SNR {snr:+.0f} dB done ({time.time() - started:.0f} s)", flush=True)

    command = "OMP_NUM_THREADS=1 python benchmarks/bench_spectral_fidelity.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    lines = [
        "# Spectral fidelity of CRIA embeddings",
        "",
        f"Command: `{command.strip()}` "
        f"(took {(time.time() - started) / 60:.1f} min, 1 torch thread).",
        "",
        f"eegmat subjects {args.subjects} ({len(data.data)} windows of 5 s, 20 channels); "
        f"a sinusoid at one of {FREQUENCIES} Hz (chance {1 / len(FREQUENCIES):.3f}) added to "
        f"{', '.join(CHANNELS)} at the SNR of the column (sinusoid power / channel power), then "
        f"`EEGPreprocessor(scaling={args.scaling!r})`. Accuracy of a standardised "
        "logistic-regression probe, 5-fold "
        "stratified CV, on the Welch log power spectrum (1 Hz bins, 1-45 Hz, all channels) or on "
        f"the small encoder's embeddings (random weights: mean ± sd over {args.seeds} seeds).",
        "",
        "| features | " + " | ".join(f"{snr:+.0f} dB" for snr in snrs) + " |",
        "|---|" + "---|" * len(snrs),
    ]
    lines += [
        f"| {name} | " + " | ".join(row[snr] for snr in snrs) + " |" for name, row in rows.items()
    ]
    if ablation_rows:
        lines += [
            "",
            f"Ablations at {args.ablation_snr:+.0f} dB (random weights), one setting changed from "
            "the row's base:",
            "",
            "| encoder | accuracy |",
            "|---|---|",
        ]
        lines += [f"| {name} | {value} |" for name, value in ablation_rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
