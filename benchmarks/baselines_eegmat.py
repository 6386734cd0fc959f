"""Baselines of sk_cria.baselines on eegmat, protocol (a) of the field.

Train on subjects 0-27, test on 32-35 (28-31, the validation subjects, are
not used: the baselines have no hyper-parameter to tune); 5 s windows of the
20 channels resampled to 200 Hz. The aligned pipelines get each subject's
windows as ``groups`` at fit and at predict, train and test subjects alike,
without labels. Deterministic, so one run per pipeline.

    python benchmarks/baselines_eegmat.py [--data ../shared/data] [--subjects-train 0-27]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score
from sklearn.utils.metadata_routing import get_routing_for_object

from sk_cria.baselines import get_baselines
from sk_cria.datasets import load_eegmat

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _span(text):
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def _groups_kwargs(pipeline, method, groups):
    consumes = get_routing_for_object(pipeline).consumes(method, ["groups"])
    return {"groups": groups} if consumes else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--subjects-train", default="0-27")
    parser.add_argument("--subjects-test", default="32-35")
    parser.add_argument("--sfreq", type=float, default=200.0)
    args = parser.parse_args(argv)
    sklearn.set_config(enable_metadata_routing=True)

    train, test = _span(args.subjects_train), _span(args.subjects_test)
    data = load_eegmat(train + test, path=args.data, sfreq=args.sfreq, download=False)
    is_train = np.isin(data.groups, train)
    X_tr, y_tr, g_tr = data.data[is_train], data.target[is_train], data.groups[is_train]
    X_te, y_te, g_te = data.data[~is_train], data.target[~is_train], data.groups[~is_train]
    print(f"train {len(X_tr)} windows ({len(train)} subjects), test {len(X_te)} windows "
          f"({len(test)} subjects), {data.sfreq:g} Hz, {X_tr.shape[1]} channels")
    print(f"{'pipeline':<26} {'bacc':>6} {'auroc':>6} {'auprc':>6} {'fit_s':>7} {'win/s':>8}")
    for name, pipeline in get_baselines(data.sfreq).items():
        start = time.perf_counter()
        pipeline.fit(X_tr, y_tr, **_groups_kwargs(pipeline, "fit", g_tr))
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        proba = pipeline.predict_proba(X_te, **_groups_kwargs(pipeline, "predict_proba", g_te))
        throughput = len(X_te) / (time.perf_counter() - start)
        y_pred = pipeline.classes_[proba.argmax(axis=1)]
        print(f"{name:<26} {balanced_accuracy_score(y_te, y_pred):6.3f} "
              f"{roc_auc_score(y_te, proba[:, 1]):6.3f} "
              f"{average_precision_score(y_te, proba[:, 1]):6.3f} "
              f"{fit_seconds:7.2f} {throughput:8.0f}")


if __name__ == "__main__":
    main()
