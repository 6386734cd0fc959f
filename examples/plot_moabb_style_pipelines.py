"""
sk_cria pipelines in a MOABB-style evaluation
=============================================

MOABB evaluates *pipelines*: a module defines a dictionary ``PIPELINE`` (or a YAML
file per pipeline) mapping a name to an unfitted scikit-learn pipeline, and an
evaluation such as ``CrossSubjectEvaluation`` fits each one per fold. sk_cria's
estimators are plain scikit-learn estimators, so a CRIA pipeline is defined exactly
like the pyRiemann ones next to it::

    from moabb.evaluations import CrossSubjectEvaluation
    CrossSubjectEvaluation(paradigm=..., datasets=[...]).process(PIPELINE)

MOABB downloads its datasets, which this example cannot do, so the same
cross-subject evaluation (leave one subject out, fit every pipeline on the others)
runs here on four eegmat subjects read from disk.
"""

# %%
# The pipeline definitions
# ------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.baselines import BandPassFilter
from sk_cria.datasets import load_eegmat

SFREQ = 200.0

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run line by line: sphinx-gallery and IDEs start in examples/
    HERE = Path.cwd()
DATA = Path(os.environ.get("SK_CRIA_DATA", HERE.parent.parent / "shared" / "data"))
eegmat = load_eegmat(subjects=[0, 1, 2, 3], path=DATA, sfreq=SFREQ, download=False)

PIPELINE = {
    # Pre-trained without labels inside each fold, on that fold's training subjects.
    "CRIA+LR": make_pipeline(
        EEGPreprocessor(sfreq=SFREQ, ch_names=eegmat.ch_names, line_freq=50.0),
        ViewMaskPretrainer(config="small", max_epochs=1, random_state=0),
        LogisticRegression(max_iter=1000, class_weight="balanced"),
    ),
    "TS+LR": make_pipeline(
        BandPassFilter(sfreq=SFREQ, l_freq=1.0, h_freq=40.0),
        Covariances(estimator="oas"),
        TangentSpace(),
        LogisticRegression(max_iter=1000, class_weight="balanced"),
    ),
}

# %%
# A cross-subject evaluation
# --------------------------
# Each score is the AUROC within one held-out subject, as MOABB reports it. A ranking
# within one subject ignores that subject's offset from the others, which is what the
# per-subject alignment of ``sk-cria benchmark`` corrects when subjects are pooled.
scores = {
    name: cross_val_score(pipeline, eegmat.data, eegmat.target, groups=eegmat.groups,
                          cv=LeaveOneGroupOut(), scoring="roc_auc")
    for name, pipeline in PIPELINE.items()
}
for name, values in scores.items():
    print(f"{name}: AUROC per held-out subject {np.round(values, 3)}")

fig, ax = plt.subplots(figsize=(5, 4))
ax.boxplot(list(scores.values()), tick_labels=list(scores))
ax.axhline(0.5, color="grey", lw=0.8)
ax.set_ylabel("AUROC on the held-out subject")
ax.set_title("eegmat, leave one subject out (4 subjects)")
fig.tight_layout()
plt.show()
