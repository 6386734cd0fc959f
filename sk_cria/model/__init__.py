"""The CRIA encoder in torch: configuration, modules, checkpoints.

Torch only: nothing here imports scikit-learn or skorch; the estimators of
:mod:`sk_cria` build on this package, never the other way round.
"""

from .attention import linear_attention, softmax_attention
from .config import CRIAConfig
from .cria import CRIA, EMBEDDINGS, CRIAOutput
from .io import available_pretrained

__all__ = ["CRIA", "CRIAConfig", "CRIAOutput", "EMBEDDINGS", "available_pretrained", "linear_attention",
           "softmax_attention"]
