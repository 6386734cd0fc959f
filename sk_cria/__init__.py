"""sk_cria: the CRIA self-supervised EEG model as scikit-learn estimators."""

from .preprocessing import EEGArray, EEGPreprocessor

__version__ = "0.1.0.dev0"

__all__ = ["EEGArray", "EEGPreprocessor", "__version__"]
