"""sk_cria: the CRIA self-supervised EEG model as scikit-learn estimators."""

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
