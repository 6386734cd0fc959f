"""What CRIA's frozen features hold beside the tangent space (issue 35: why random
weights add more to it than the shipped encoder on motor imagery).

The hybrid readout (``cria_probe_<encoder>_hybrid``, ``benchmarks/results/geometry.md``)
puts CRIA's per-region features beside the re-centred tangent space of the same input in
one logistic regression. On motor imagery random weights added more to the tangent space
than the shipped ``cria-small`` did (hybrid .611 against .566). This script measures, on
the same windows and the same per-subject feature scaling as the benchmark, properties of
each encoder's features that could explain it:

- **shared structure with the tangent space**: linear CKA (centred kernel alignment,
  Kornblith et al. 2019) between the feature block and the tangent vectors, over all
  trials (1: the same geometry up to rotation and scale; 0: nothing linear in common);
- **left/right information beyond the tangent space**: each feature's univariate AUC for
  the class, as ``|AUC - 0.5|`` (mean of the top 10 % of features), on the features and
  on their residuals after a ridge regression on the tangent space's first 32 principal
  components, fitted on the other subjects (leave one subject out), is regressed out;
- **effective dimension**: the participation ratio ``(sum l)^2 / sum l^2`` of the
  eigenvalues of the features' covariance (1: one direction; the feature count: all
  directions equal).

The AUCs are descriptive; no classifier is fitted on labels. Motor imagery subjects 1-11
(eegmmidb runs 4, 8, 12), CRIA's input as the hybrid run used it (8-30 Hz, a fixed
100 uV unit, 200 Hz, each subject whitened on its own windows), the tangent space of that
input re-centred per subject, every block z-scored per subject. The shipped encoder was
pre-trained on per-window scaled input (its model card), so it is also read on the same
windows scaled per window (the tangent space stays on the 100 uV input). Run from the
repository root (about 3 minutes on 2 cores)::

    python benchmarks/bench_feature_complementarity.py ../shared/data \
        --out benchmarks/results/geometry_complementarity.md
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from bench_geometry import _motor_imagery
from sk_cria import GroupStandardScaler, ViewMaskPretrainer
from sk_cria.baselines import make_tangent_space_pipeline


def tangent_vectors(X, groups):
    """The hybrid's tangent-space block (the floor's steps up to its tangent vectors)."""
    floor = make_tangent_space_pipeline(200.0, recenter=True, align=True, l_freq=None,
                                        h_freq=None)
    return floor[:-2].fit_transform(X, groups=groups)


def encoders(seeds):
    """(name, unfitted ViewMaskPretrainer, input scaling)."""
    shipped = lambda: ViewMaskPretrainer(encoder="cria-small", max_epochs=0)  # noqa: E731
    out = [("cria-small (shipped)", shipped(), 100.0),
           ("cria-small (shipped), per-window scaling as pre-trained", shipped(), "window")]
    out += [(f"random weights, seed {seed}",
             ViewMaskPretrainer(config="small", max_epochs=0, random_state=seed), 100.0)
            for seed in seeds]
    return out


def participation_ratio(F):
    eigenvalues = np.clip(np.linalg.eigvalsh(np.cov(F, rowvar=False)), 0, None)
    return eigenvalues.sum() ** 2 / (eigenvalues ** 2).sum()


def linear_cka(A, B):
    """Linear CKA of two blocks of rows (the same trials), via the small Gram matrices."""
    A, B = A - A.mean(axis=0), B - B.mean(axis=0)
    Ka, Kb = A @ A.T, B @ B.T
    return float((Ka * Kb).sum() / np.sqrt((Ka * Ka).sum() * (Kb * Kb).sum()))


def residuals_after(F, T, groups, n_components=32):
    """F less what a ridge on T's first principal components predicts, leave one subject out."""
    out = np.empty_like(F)
    for subject in np.unique(groups):
        held = groups == subject
        model = make_pipeline(PCA(n_components), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        out[held] = F[held] - model.fit(T[~held], F[~held]).predict(T[held])
    return out


def top_auc_strength(F, y, share=0.1):
    """Mean |AUC - 0.5| of the ``share`` of columns that separate the classes best."""
    strength = np.sort([abs(roc_auc_score(y, column) - 0.5) for column in F.T])
    return float(strength[-max(1, int(len(strength) * share)):].mean())


def describe(F, T, y, groups):
    return {
        "features": F.shape[1],
        "CKA with the tangent space": linear_cka(F, T),
        "|AUC - .5|, top 10 %": top_auc_strength(F, y),
        "same, beyond the tangent space": top_auc_strength(residuals_after(F, T, groups), y),
        "participation ratio": float(participation_ratio(F)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="folder holding MNE-eegbci-data/")
    parser.add_argument("--seeds", type=int, default=3, help="random-weight seeds (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="markdown report")
    args = parser.parse_args()
    sklearn.set_config(enable_metadata_routing=True)
    start = time.perf_counter()
    # The benchmark's own CRIA input (sk_cria.benchmark._aligned_inputs), as the hybrid read it.
    X, y, groups = _motor_imagery(args.data)
    T = tangent_vectors(X, groups)
    rows = {"tangent space of CRIA's input": describe(T, T, y, groups)}
    by_scaling = {100.0: X}
    for name, encoder, scaling in encoders(range(args.seeds)):
        if scaling not in by_scaling:
            by_scaling[scaling] = _motor_imagery(args.data, input_scaling=scaling)[0]
        encoder.set_params(embedding="regions")
        with warnings.catch_warnings():
            # Random weights are the point; the shipped encoder's scaling warning is
            # the reason for its second row.
            warnings.filterwarnings("ignore", "ViewMaskPretrainer: max_epochs=0")
            warnings.filterwarnings("ignore", ".*reads amplitudes unlike those it learnt")
            F = encoder.fit(by_scaling[scaling]).transform(by_scaling[scaling])
        F = GroupStandardScaler().fit_transform(F, groups=groups)
        rows[name] = describe(F, T, y, groups)
    columns = list(next(iter(rows.values())))
    lines = [
        "# What CRIA's frozen features hold beside the tangent space (motor imagery)",
        "",
        f"`python benchmarks/bench_feature_complementarity.py {args.data} --seeds {args.seeds}"
        + (f" --out {args.out}" if args.out else "") + "`: eegmmidb motor imagery, subjects "
        f"1-11 ({len(y)} trials), CRIA's input at 8-30 Hz in a fixed 100 uV unit, each "
        "subject whitened on its own windows (the hybrid run's input); per-region features "
        "of each encoder and the re-centred tangent space of the same input, each z-scored "
        "per subject. CKA: linear centred kernel alignment with the tangent vectors. "
        "|AUC - .5|: each feature's univariate left/right AUC, the mean of the best 10 % of "
        "features; beyond the tangent space: the same after a ridge on the tangent space's "
        "first 32 principal components, fitted on the other subjects, is regressed out. "
        "Participation ratio: the effective number of directions of the features. "
        f"{time.perf_counter() - start:.0f} s on {os.cpu_count()} cores.",
        "",
        "| features of | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, row in rows.items():
        cells = [f"{row[c]}" if isinstance(row[c], int) else f"{row[c]:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
