"""The shipped encoder on eegmat protocol (a)'s test subjects and on the spectral test.

``bench_pretext.py`` chose the shipped weights without ever loading subjects
32-35; this script scores them there once, against the floors of the same
recipe and rows (``EEGPreprocessor``, each subject whitened by
``RiemannianAlignment``, features z-scored per subject, class-balanced
logistic regression): trained on the labels of all of subjects 00-27, and of
2 of them (5 seeded draws; the rows are the same for every pipeline), tested
on 32-35. Also the sinusoid probe of ``bench_spectral_fidelity.py`` at every
SNR, against the spectrum probe.

    OMP_NUM_THREADS=1 python benchmarks/bench_shipped.py --data ../shared/data
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from bench_pretext import recipe_inputs
from bench_spectral_fidelity import noisy_windows

from sk_cria import ViewMaskPretrainer
from sk_cria.alignment import GroupStandardScaler
from sk_cria.baselines import LogBandPower
from sk_cria.benchmark import PROTOCOL_A
from sk_cria.datasets import load_eegmat
from sk_cria.spectral_fidelity import log_power_spectrum, probe_accuracy

SNRS = (-25.0, -20.0, -15.0, -10.0, -5.0)
DRAWS = 5


def scores(features, y, groups, rows, test):
    Z = GroupStandardScaler().fit_transform(features, groups=groups)
    probe = LogisticRegression(max_iter=3000, class_weight="balanced").fit(Z[rows], y[rows])
    score = probe.predict_proba(Z[test])[:, 1]
    return balanced_accuracy_score(y[test], score >= 0.5), roc_auc_score(y[test], score)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding eegmat (../shared/data)")
    parser.add_argument("--encoder", default="cria-small")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/shipped.md"))
    args = parser.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(1)
    sklearn.set_config(enable_metadata_routing=True)
    warnings.filterwarnings("ignore", message="Convergence not reached")
    subjects = [*PROTOCOL_A["train"], *PROTOCOL_A["test"]]
    data = load_eegmat(subjects, path=args.data, sfreq=200.0, download=False)
    X, signals = recipe_inputs(data)
    y, groups = data.target, data.groups
    train, test = np.isin(groups, PROTOCOL_A["train"]), np.isin(groups, PROTOCOL_A["test"])
    shipped = ViewMaskPretrainer.from_pretrained(args.encoder)
    random = ViewMaskPretrainer(config=shipped.encoder_.config, max_epochs=0, random_state=0)
    random.fit(X[:2])
    features = {
        f"CRIA probe, `{args.encoder}`": shipped.transform(X),
        "CRIA probe, same architecture, random weights": random.transform(X),
        "floor: log band power (RA input)": LogBandPower(data.sfreq).fit_transform(signals),
        "floor: log-variance (RA input)": np.log(np.asarray(signals).var(axis=-1)),
        "floor: log power spectrum of CRIA's input": log_power_spectrum(X, 200.0, 1.0, 40.0),
    }
    rng = np.random.default_rng(0)
    draws = [rng.choice(PROTOCOL_A["train"], 2, replace=False) for _ in range(DRAWS)]
    lines = ["| features + LR | BAcc / AUROC, all 28 labelled | BAcc / AUROC, 2 labelled "
             f"(mean ± sd of {DRAWS} draws) |", "|---|---|---|"]
    for name, F in features.items():
        full = scores(F, y, groups, train, test)
        two = np.array([scores(F, y, groups, np.isin(groups, d), test) for d in draws])
        lines.append(f"| {name} | {full[0]:.3f} / {full[1]:.3f} | {two[:, 0].mean():.3f} ± "
                     f"{two[:, 0].std():.3f} / {two[:, 1].mean():.3f} ± {two[:, 1].std():.3f} |")
        print(lines[-1], flush=True)
    sines = load_eegmat(subjects=range(8), path=args.data, download=False)
    fidelity = ["| sinusoid probe | " + " | ".join(f"{snr:+.0f} dB" for snr in SNRS) + " |",
                "|---|" + "---|" * len(SNRS)]
    cells = {"spectrum (reference)": [], f"`{args.encoder}`": [], "random weights": []}
    for snr in SNRS:
        Xs, ys = noisy_windows(sines, snr)
        cells["spectrum (reference)"].append(probe_accuracy(log_power_spectrum(Xs, 200.0), ys))
        cells[f"`{args.encoder}`"].append(probe_accuracy(shipped.transform(Xs), ys))
        cells["random weights"].append(probe_accuracy(random.transform(Xs), ys))
    fidelity += [f"| {k} | " + " | ".join(f"{v:.3f}" for v in vals) + " |"
                 for k, vals in cells.items()]
    minutes = (time.perf_counter() - start) / 60
    text = "\n".join([
        f"# The shipped encoder `{args.encoder}` on eegmat protocol (a) and the spectral test",
        "",
        f"`OMP_NUM_THREADS=1 python benchmarks/bench_shipped.py --data ../shared/data"
        f"{'' if args.encoder == 'cria-small' else ' --encoder ' + args.encoder}`; took "
        f"{minutes:.1f} min. Train subjects 00-27, test 32-35 (never seen by the encoder "
        "nor by its selection); recipe `ra/subject`; the 2-subject draws are the same rows "
        "for every pipeline.",
        "", *lines, "",
        "Spectral fidelity (eegmat subjects 0-7, 6 frequencies, chance .167; "
        "see `spectral_fidelity.md`):", "", *fidelity, "",
    ])
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
