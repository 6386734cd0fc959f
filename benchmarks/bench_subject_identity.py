"""Where the embeddings carry the subject: subject-identity decoding and effective rank.

Cross-subject EEG fails when features say more about *who* is recorded than
about *what* they do. This script measures, on eegmat (36 subjects, input
whitened per subject by ``RiemannianAlignment``), for CRIA embeddings of
the small encoder pre-trained with negatives from the whole batch (the
default) and from one subject at a time (``negatives="group"``), with random
weights, and for the log band power floor:

- how well a linear probe decodes subject identity (36 classes, chance
  1/36 = .028), 5-fold stratified over windows, before and after per-subject
  z-scoring (``GroupStandardScaler``);
- the same probe's balanced accuracy on the task (rest vs arithmetic), with
  the same folds, for contrast;
- the effective rank of the features (exp of the entropy of the normalised
  singular values of the centred feature matrix; Roy and Vetterli 2007).

The encoders are pre-trained (or initialised) on subjects 00-27 only, without
labels.

    python benchmarks/bench_subject_identity.py --data ../shared/data \
        --out benchmarks/results/subject_identity.md
"""

import argparse
from pathlib import Path
import time
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.alignment import GroupStandardScaler, RiemannianAlignment
from sk_cria.baselines import BandPassFilter, LogBandPower
from sk_cria.benchmark import PROTOCOL_A
from sk_cria.datasets import load_eegmat


def effective_rank(features):
    """exp(entropy) of the normalised singular values of the centred features."""
    singular = np.linalg.svd(features - features.mean(axis=0), compute_uv=False)
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def decode(features, target, groups, *, per_subject):
    """Out-of-fold predictions of ``target`` by a linear probe, folds stratified by subject.

    With ``per_subject``, each subject's rows are z-scored on that subject's
    own rows of the same fold (train and test alike), as in the benchmark.
    """
    predictions = np.empty_like(target)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(features, groups):
        scaler = GroupStandardScaler() if per_subject else StandardScaler()
        probe = make_pipeline(scaler, LogisticRegression(max_iter=3000, class_weight="balanced"))
        fit_groups = {"groups": groups[train]} if per_subject else {}
        probe.fit(features[train], target[train], **fit_groups)
        test_groups = {"groups": groups[test]} if per_subject else {}
        predictions[test] = probe.predict(features[test], **test_groups)
    return predictions


def feature_sets(data, epochs, seed):
    """Name -> (n_windows, n_features) features of every window."""
    X = EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0).fit_transform(
        data.data)
    X = RiemannianAlignment().fit_transform(X, groups=data.groups)
    train = np.isin(data.groups, PROTOCOL_A["train"])
    sets = {}
    for name, max_epochs, negatives in (
            (f"CRIA small, pre-trained {epochs} epochs", epochs, "batch"),
            (f"CRIA small, pre-trained {epochs} epochs, negatives within subject", epochs,
             "group"),
            ("CRIA small, random weights", 0, "batch")):
        encoder = ViewMaskPretrainer(config="small", max_epochs=max_epochs, random_state=seed,
                                     negatives=negatives)
        sets[name] = encoder.fit(X[train], groups=data.groups[train]).transform(X)
    signals = BandPassFilter(data.sfreq).fit_transform(data.data)
    signals = RiemannianAlignment().fit_transform(signals, groups=data.groups)
    sets["log band power (floor)"] = LogBandPower(data.sfreq).fit_transform(signals)
    return sets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding eegmat (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/subject_identity.md"))
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    sklearn.set_config(enable_metadata_routing=True)
    # Decoding the subject after per-subject z-scoring is this script's point, not a mistake.
    warnings.filterwarnings("ignore", message=".*constant within every group")
    data = load_eegmat(path=args.data, sfreq=200.0, download=False)
    lines = [
        "| features | dim | effective rank | subject id acc. | subject id acc., per-subject "
        "z-scored | task BAcc | task BAcc, per-subject z-scored |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, features in feature_sets(data, args.pretrain_epochs, args.seed).items():
        cells = [str(features.shape[1]), f"{effective_rank(features):.1f}"]
        subject = [accuracy_score(data.groups, decode(features, data.groups, data.groups,
                                                      per_subject=z)) for z in (False, True)]
        task = [balanced_accuracy_score(data.target, decode(features, data.target, data.groups,
                                                            per_subject=z))
                for z in (False, True)]
        cells += [f"{v:.3f}" for v in subject + task]
        lines.append(f"| {name} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    minutes = (time.perf_counter() - start) / 60
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Where the embeddings carry the subject (eegmat, 36 subjects, RA input)\n\n"
        f"`python benchmarks/bench_subject_identity.py --data ../shared/data --pretrain-epochs "
        f"{args.pretrain_epochs} --seed {args.seed}`; took {minutes:.1f} min. Linear probes, "
        "5-fold stratified over windows (every subject in every fold); subject identity has 36 "
        "classes (chance .028). Encoders pre-trained or initialised on subjects 00-27 without "
        "labels.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
