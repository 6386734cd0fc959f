"""sk_cria: the CRIA self-supervised EEG model as scikit-learn estimators."""

import os as _os
import sys as _sys

# torch's CPU threads come from GNU OpenMP, whose idle threads spin for a while before
# they sleep. On cores shared with other processes a spinning thread takes the core from
# the thread it waits for: training steps on 2 cores beside two CPU-bound processes ran
# 4-6x slower with 2 threads than with 1 (benchmarks/results/shared_cores.md). Passive
# waiting puts idle threads to sleep at once. libgomp reads the variable once, when torch
# loads, so it is set only before torch is imported, and never over the user's own value.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .alignment import (
    EuclideanAlignment,
    GroupScorer,
    GroupStandardScaler,
    RiemannianAlignment,
    RiemannianRecentering,
)
from .classification import CRIAClassifier
from .preprocessing import EEGArray, EEGPreprocessor
from .pretraining import ViewMaskPretrainer

__version__ = "0.1.0.dev0"

__all__ = [
    "CRIAClassifier",
    "EEGArray",
    "EEGPreprocessor",
    "EuclideanAlignment",
    "GroupScorer",
    "GroupStandardScaler",
    "RiemannianAlignment",
    "RiemannianRecentering",
    "ViewMaskPretrainer",
    "__version__",
]
