"""Second-order readout of CRIA's tokens: covariance, matrix logarithm, tangent vector.

Riemannian EEG pipelines (pyRiemann's ``TangentSpace``, TSMNet) classify a
window by the matrix logarithm of a covariance matrix, flattened. This module
computes the same thing from the encoder's features, in torch, so that it can
be trained end to end:

1. :func:`covariance`: the covariance of a window's ``N`` feature rows (the
   scalp regions' features) over their ``S`` features, shrunk towards a
   multiple of the identity and lifted by a small ridge, so that it is always
   symmetric positive definite, even for constant or rank-deficient features.
2. :func:`spd_logm`: the matrix logarithm by eigendecomposition, with a
   backward pass (:class:`SymmetricMatrixLog`) that stays finite when
   eigenvalues coincide.
3. :func:`upper`: the upper triangle, off-diagonal entries times sqrt(2), in
   pyRiemann's order, so that Euclidean distances of the vectors are
   log-Euclidean distances of the matrices.

The vectors are taken at the identity (``log C``). Re-centring a group
(subject) at its log-Euclidean mean ``M`` is then a subtraction: ``log C -
log M`` with ``log M`` the mean of the group's ``log C``; the estimators do it
with their per-group standardisation (:class:`~sk_cria.alignment.GroupStandardScaler`
for frozen features, the per-group statistics of
:class:`~sk_cria.CRIAClassifier` for its head).
"""

from __future__ import annotations

import math

import torch

__all__ = ["SymmetricMatrixLog", "covariance", "spd_logm", "tangent_features", "upper",
           "SHRINKAGE", "RIDGE"]

#: Default shrinkage of :func:`covariance` towards ``trace / n`` times the identity.
SHRINKAGE = 0.1
#: Ridge added to the diagonal (features are LayerNorm'd, so of unit scale): keeps a
#: zero covariance (constant features, a region without channels) positive definite.
RIDGE = 1e-4


def covariance(features, shrinkage=SHRINKAGE, ridge=RIDGE):
    """Shrunk covariance of each window's feature rows, always positive definite.

    Parameters
    ----------
    features : torch.Tensor of shape (batch, n, s)
        ``n`` variables (rows) observed over ``s`` features each.
    shrinkage : float in [0, 1], default=SHRINKAGE
        Weight of ``trace / n`` times the identity (Ledoit-Wolf's target).
    ridge : float > 0, default=RIDGE
        Added to the diagonal after shrinkage.

    Returns
    -------
    torch.Tensor of shape (batch, n, n)
        Symmetric positive definite: its smallest eigenvalue is at least
        ``ridge``.
    """
    centred = features - features.mean(dim=-1, keepdim=True)
    cov = centred @ centred.transpose(-1, -2) / features.shape[-1]
    n = cov.shape[-1]
    eye = torch.eye(n, dtype=cov.dtype, device=cov.device)
    level = cov.diagonal(dim1=-2, dim2=-1).mean(dim=-1)[..., None, None]
    return (1 - shrinkage) * cov + (shrinkage * level + ridge) * eye


class SymmetricMatrixLog(torch.autograd.Function):
    """``log`` of symmetric positive definite matrices, with a finite gradient.

    Forward: ``U diag(log w) U^T`` from ``eigh``. Backward: the Daleckii-Krein
    formula ``U (K * (U^T G U)) U^T`` with ``G`` the symmetrised incoming
    gradient and ``K_ij = (log w_i - log w_j) / (w_i - w_j)``, whose limit
    ``1 / w_i`` is used wherever two eigenvalues (nearly) coincide. torch's
    own ``eigh`` backward divides by ``w_i - w_j`` and gives inf or NaN
    there (a shrunk covariance of rank-deficient features has a repeated
    eigenvalue, as the identity has).
    """

    @staticmethod
    def forward(ctx, matrices):
        """The matrix logarithm of ``matrices``, shape (..., n, n); saves the eigen pairs."""
        # float64 for the decomposition: float32 eigenvectors of near-equal
        # eigenvalues are too inexact for a stable difference quotient.
        values, vectors = torch.linalg.eigh(matrices.double())
        logs = values.log()
        ctx.save_for_backward(values, logs, vectors)
        ctx.dtype = matrices.dtype
        out = (vectors * logs.unsqueeze(-2)) @ vectors.transpose(-1, -2)
        return out.to(matrices.dtype)

    @staticmethod
    def backward(ctx, grad):
        """The gradient with respect to the matrices, by Daleckii-Krein."""
        values, logs, vectors = ctx.saved_tensors
        grad = grad.double()
        grad = (grad + grad.transpose(-1, -2)) / 2
        diff_values = values.unsqueeze(-1) - values.unsqueeze(-2)
        diff_logs = logs.unsqueeze(-1) - logs.unsqueeze(-2)
        # Where eigenvalues coincide (relative gap below 1e-6), the limit of the
        # quotient: the derivative of log at their mean.
        mean = (values.unsqueeze(-1) + values.unsqueeze(-2)) / 2
        close = diff_values.abs() <= 1e-6 * mean
        quotient = torch.where(close, 1 / mean, diff_logs / torch.where(close, 1.0, diff_values))
        inner = vectors.transpose(-1, -2) @ grad @ vectors
        out = vectors @ (quotient * inner) @ vectors.transpose(-1, -2)
        return out.to(ctx.dtype)


def spd_logm(matrices):
    """Matrix logarithm of SPD matrices (:class:`SymmetricMatrixLog`), in their dtype."""
    return SymmetricMatrixLog.apply(matrices)


def upper(matrices):
    """Upper triangles, off-diagonal entries times sqrt(2), as pyRiemann's ``upper``.

    Parameters
    ----------
    matrices : torch.Tensor of shape (..., n, n)

    Returns
    -------
    torch.Tensor of shape (..., n * (n + 1) / 2)
        Row by row (``numpy.triu_indices`` order).
    """
    n = matrices.shape[-1]
    rows, cols = torch.triu_indices(n, n, device=matrices.device)
    weights = torch.where(rows == cols, 1.0, math.sqrt(2)).to(matrices.dtype)
    return matrices[..., rows, cols] * weights


def tangent_features(features, shrinkage=SHRINKAGE, ridge=RIDGE):
    """Tangent vectors at the identity of the shrunk covariance of ``features``.

    Parameters
    ----------
    features : torch.Tensor of shape (batch, n, s)
    shrinkage, ridge : float
        As in :func:`covariance`.

    Returns
    -------
    torch.Tensor of shape (batch, n * (n + 1) / 2)
        ``upper(log(covariance(features)))``: float64 for float64 features,
        else float32.
    """
    dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
    # Outside autocast: a bfloat16 covariance of nearly collinear rows is not SPD.
    with torch.autocast(features.device.type, enabled=False):
        return upper(spd_logm(covariance(features.to(dtype), shrinkage, ridge)))
