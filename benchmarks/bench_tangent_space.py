"""Why tangent space + LR trailed MDM on eegmat, and why pyRiemann's means warned (issue 36).

Part 1, on the benchmark's recipe ``ra/subject`` (1-40 Hz microvolt windows, each subject
whitened by the Riemannian mean of its own covariances, OAS covariances, tangent space at
the training mean, features z-scored per subject): the logistic regression's
regularisation, the feature scaling, the solver's iterations, the reference point, and
the C that grouped 4-fold cross-validation over the training subjects picks, on protocol
(a) (train 0-27, test 32-35) and on each fold of protocol (c) (test two of 28-35, train
on the other 34). Part 2: how many iterations pyRiemann's Riemannian mean needs, per
subject, on the covariances that RiemannianAlignment averages (sample covariances of
1-40 Hz windows) and on the floors' OAS covariances, and how far its 50-iteration mean
(pyRiemann's default limit) is from the converged one.

    OMP_NUM_THREADS=1 python benchmarks/bench_tangent_space.py --data ../shared/data \
        --out benchmarks/results/tangent_space.md
"""

import argparse
import time
import warnings

import numpy as np
import sklearn
from pyriemann.classification import MDM
from pyriemann.estimation import Covariances
from pyriemann.geometry.distance import distance_riemann
from pyriemann.geometry.mean import mean_riemann
from pyriemann.tangentspace import TangentSpace
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from sk_cria.alignment import GroupStandardScaler
from sk_cria.baselines import BandPassFilter
from sk_cria.benchmark import BenchmarkConfig, _aligned_inputs
from sk_cria.tasks import TASKS
from sk_cria.tasks.eegmat import PROTOCOL_C


def _lr(C):
    return LogisticRegression(C=C, class_weight="balanced", max_iter=1000)


def part1(data_path, lines):
    task = TASKS["eegmat"]
    data = task.load(None, data_path)
    config = BenchmarkConfig(task="eegmat", data=data_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Convergence not reached")  # as before the fix
        X = _aligned_inputs(config, task, data, kinds=("baseline",))["ra"]["baseline"]
    covs = Covariances("oas").fit_transform(X)
    g, y = data.groups, data.target

    def score(model, train, test, features_train, features_test, **fit):
        model.fit(features_train, y[train], **fit)
        p = model.predict_proba(features_test)[:, 1]
        return (f"{balanced_accuracy_score(y[test], p >= 0.5):.3f} / "
                f"{roc_auc_score(y[test], p):.3f}")

    train, test = g < 28, g >= 32
    T = TangentSpace(metric="riemann").fit(covs[train]).transform(covs)
    z = GroupStandardScaler().fit_transform(T, groups=g)
    lines += ["## Protocol (a): train 0-27, test 32-35", "",
              f"Tangent vectors: {T.shape[1]} features, {train.sum()} training windows of "
              f"28 subjects. BAcc / AUROC on the test subjects.", "",
              "| pipeline | BAcc / AUROC | LR iterations |", "|---|---|---|"]
    mdm = MDM(metric="riemann").fit(covs[train], y[train])
    p = mdm.predict_proba(covs[test])[:, 1]
    lines.append(f"| MDM, same covariances | {balanced_accuracy_score(y[test], p >= .5):.3f} / "
                 f"{roc_auc_score(y[test], p):.3f} | |")
    for C in (1.0, 0.1, 0.01, 0.001):
        model = _lr(C)
        lines.append(f"| tangent space, z-scored per subject, C={C:g} | "
                     f"{score(model, train, test, z[train], z[test])} | {model.n_iter_[0]} |")
    model = _lr(1.0).fit(z[train], y[train])
    lines.append(f"| (C=1: training BAcc {balanced_accuracy_score(y[train], model.predict(z[train])):.3f}) | | |")
    scaler = StandardScaler().fit(T[train])
    for C in (1.0, 0.01):
        lines.append(f"| tangent space, z-scored over the training set, C={C:g} | "
                     f"{score(_lr(C), train, test, scaler.transform(T[train]), scaler.transform(T[test]))} | |")
        lines.append(f"| tangent space, not scaled, C={C:g} | "
                     f"{score(_lr(C), train, test, T[train], T[test])} | |")
    diagonal = [i for i, (a, b) in enumerate(zip(*np.triu_indices(covs.shape[1]))) if a == b]
    lines.append(f"| tangent space, diagonal only (20 features), z-scored per subject, C=1 | "
                 f"{score(_lr(1.0), train, test, z[train][:, diagonal], z[test][:, diagonal])} | |")
    reference = TangentSpace(metric="riemann").fit(covs[train]).reference_
    lines += ["", f"Reference point (the training mean) at Riemannian distance "
              f"{distance_riemann(reference, np.eye(len(reference))):.3f} from the identity.",
              "", "## C chosen by grouped 4-fold CV over the training subjects", "",
              "| split | C=1: BAcc / AUROC | chosen C | BAcc / AUROC |", "|---|---|---|---|"]
    splits = [("(a) test 32-35", g < 28, g >= 32)] + [
        (f"(c) test {s['test'][0]}-{s['test'][1]}", ~np.isin(g, s["test"]), np.isin(g, s["test"]))
        for s in PROTOCOL_C]
    for name, train, test in splits:
        T = TangentSpace(metric="riemann").fit(covs[train]).transform(covs)
        z = GroupStandardScaler().fit_transform(T, groups=g)
        inner = LogisticRegressionCV(Cs=[1e-4, 1e-3, 1e-2, 1e-1, 1.0], cv=GroupKFold(4),
                                     scoring="neg_log_loss", class_weight="balanced",
                                     max_iter=1000, l1_ratios=(0.0,),
                                     use_legacy_attributes=False)
        with sklearn.config_context(enable_metadata_routing=True):
            chosen = score(inner, train, test, z[train], z[test], groups=g[train])
        lines.append(f"| {name} | {score(_lr(1.0), train, test, z[train], z[test])} | "
                     f"{inner.C_:g} | {chosen} |")


def part2(data_path, lines):
    data = TASKS["eegmat"].load(tuple(range(0, 36, 3)), data_path)
    X = BandPassFilter(data.sfreq, 1.0, 40.0).fit_transform(data.data).astype(np.float64)

    def mean(covs, maxiter):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            M = mean_riemann(covs, maxiter=maxiter)
        return M, any("Convergence not reached" in str(w.message) for w in caught)

    lines += ["", "## Iterations of pyRiemann's Riemannian mean (tolerance 1e-8)", "",
              "Every third eegmat subject, 48 windows each; 'needs': the least of 10, 20, "
              "50, 100, 200, 500, 1000 iterations without the warning.", "",
              "| covariances | subject | warns at 50 | needs | distance(50 iterations, "
              "converged) | median distance of the windows to the mean |",
              "|---|---|---|---|---|---|"]
    for kind in ("scm", "oas"):
        for subject in np.unique(data.groups):
            covs = Covariances(kind).fit_transform(X[data.groups == subject])
            covs += (1e-6 * np.trace(covs, axis1=1, axis2=2) / covs.shape[-1])[:, None, None] \
                * np.eye(covs.shape[-1])
            converged, _ = mean(covs, 2000)
            needs = next((m for m in (10, 20, 50, 100, 200, 500, 1000)
                          if not mean(covs, m)[1]), "> 1000")
            at50, warns = mean(covs, 50)
            lines.append(f"| {kind} | {subject} | {'yes' if warns else 'no'} | {needs} | "
                         f"{distance_riemann(at50, converged):.1e} | "
                         f"{np.median(distance_riemann(covs, converged)):.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="benchmarks/results/tangent_space.md")
    args = parser.parse_args()
    start, cpu = time.perf_counter(), time.process_time()
    lines = ["# The tangent-space floor and pyRiemann's means (issue 36)", "",
             "Command: `OMP_NUM_THREADS=1 python benchmarks/bench_tangent_space.py --data "
             f"{args.data} --out {args.out}`", ""]
    part1(args.data, lines)
    part2(args.data, lines)
    lines += ["", f"Took {(time.perf_counter() - start) / 60:.1f} min wall, "
              f"{(time.process_time() - cpu) / 60:.1f} min CPU (2-core machine shared with "
              "other jobs)."]
    with open(args.out, "w") as file:
        file.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
