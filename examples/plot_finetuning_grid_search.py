"""
Fine-tuning CRIA inside GridSearchCV, with its learning curves
==============================================================

:class:`~sk_cria.CRIAClassifier` is a skorch classifier, so scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV` tunes it like any other estimator,
with subjects kept apart by :class:`~sklearn.model_selection.GroupKFold`. The
training history of the refitted best model (skorch's ``history``) gives the
learning curves: training loss, and the loss on the stratified validation split
that early stopping watches.

Small on purpose (6 training subjects, the ``small`` encoder, a few epochs) so that
it runs in a minute or two on a laptop CPU.
"""

# %%
# Load, preprocess and align each subject
# ---------------------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, GroupKFold

from sk_cria import CRIAClassifier, EEGPreprocessor, EuclideanAlignment
from sk_cria.datasets import load_eegmat

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run line by line: sphinx-gallery and IDEs start in examples/
    HERE = Path.cwd()
DATA = Path(os.environ.get("SK_CRIA_DATA", HERE.parent.parent / "shared" / "data"))

train_subjects, test_subjects = list(range(6)), [32, 33, 34, 35]
eegmat = load_eegmat(subjects=train_subjects + test_subjects, path=DATA, sfreq=200.0,
                     download=False)
X = EEGPreprocessor(sfreq=eegmat.sfreq, ch_names=eegmat.ch_names,
                    line_freq=50.0).fit_transform(eegmat.data)
# Each subject is whitened on its own windows, without labels (see the user guide).
with sklearn.config_context(enable_metadata_routing=True):
    X = EuclideanAlignment().fit_transform(X, groups=eegmat.groups)
y, groups = eegmat.target, eegmat.groups
train = np.isin(groups, train_subjects)

# %%
# Search the learning rate with subject-wise folds
# ------------------------------------------------
clf = CRIAClassifier(config="small", max_epochs=6, batch_size=32, random_state=0)
search = GridSearchCV(clf, {"lr": [1e-3, 3e-4]}, cv=GroupKFold(n_splits=2),
                      scoring="balanced_accuracy")
search.fit(X[train], y[train], groups=groups[train])
for lr, score in zip(search.cv_results_["param_lr"], search.cv_results_["mean_test_score"]):
    print(f"lr={lr:g}: balanced accuracy {score:.3f} on held-out training subjects")
best = search.best_estimator_
test_bacc = balanced_accuracy_score(y[~train], best.predict(X[~train]))
print(f"best lr={search.best_params_['lr']:g}; test subjects 32-35: {test_bacc:.3f}")

# %%
# Learning curves of the refitted model
# -------------------------------------
history = best.history
epochs = history[:, "epoch"]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(epochs, history[:, "train_loss"], "o-", label="training loss")
ax.plot(epochs, history[:, "valid_loss"], "o-", label="validation loss")
ax.set_xlabel("epoch")
ax.set_ylabel("cross-entropy (class-balanced)")
ax.set_title(f"CRIAClassifier, lr={search.best_params_['lr']:g}")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# These curves show the mechanics (the search, the subject-wise folds, skorch's
# history), not what fine-tuning can reach: six training subjects and six epochs
# from random weights are a tiny budget, so read the test score printed above as
# that budget's. With all 28 training subjects, ``sk-cria benchmark`` measures
# fine-tuning against the floors with no model under one recipe, and the floors are
# ahead (README, "CRIA's contribution, measured";
# :ref:`sphx_glr_auto_examples_plot_linear_probing.py` shows the comparison for the
# linear probe).
