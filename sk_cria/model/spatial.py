"""Learned spatial filters before the encoder: montage channels to virtual channels.

S-JEPA's "pre-local" spatial filter and the first layer of TSMNet-like
networks: a linear map ``W`` of shape ``(n_filters, n_channels)`` turns each
window's ``n_channels`` electrodes into ``n_filters`` virtual channels (as CSP
does, but trained with the classifier). What reads the virtual channels:

- the CRIA encoder (``"pooled"``, ``"channels"``): the encoder codes a channel
  by the embedding of its electrode name, and a virtual channel has none. It
  gets the **energy-weighted mean of its electrodes' embeddings**: ``e_k =
  sum_c W_kc**2 e_c / sum_c W_kc**2``, so that a filter that looks at C3 is
  coded near C3, the pre-trained embeddings are used as they are, and the
  code follows the filter as it learns (differentiable). The encoder itself
  keeps accepting any montage: only the filter is tied to the montage it was
  built for.
- no encoder (``"covariance"``): the tangent vector of the virtual channels'
  covariance over time, ``upper(log(C))`` (:mod:`sk_cria.model.tangent`), the
  core of TSMNet (learned filters, covariance, per-subject re-centring,
  matrix logarithm); its per-subject re-centring is the classifier's per-group
  standardisation. This head is a Riemannian pipeline with learned filters,
  not a readout of CRIA: it measures what the filters alone give.
"""

from __future__ import annotations

import torch
from torch import nn

from .tangent import tangent_features

__all__ = ["SpatialFilter", "SPATIAL_EMBEDDINGS"]

#: What can read the virtual channels (see the module's docstring).
SPATIAL_EMBEDDINGS = ("pooled", "channels", "covariance")


class SpatialFilter(nn.Module):
    """A learned linear map from ``n_channels`` electrodes to ``n_filters`` virtual channels.

    Parameters
    ----------
    n_channels : int
        Channels of the montage the filter is built for.
    n_filters : int
        Virtual channels.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (n_filters, n_channels)
        Initialised with orthonormal rows (or columns when ``n_filters >
        n_channels``): on an input whitened per subject (the benchmark's
        alignment) each virtual channel then has the input's scale, which the
        encoder's input scaling expects.
    """

    def __init__(self, n_channels, n_filters):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_filters, n_channels))
        nn.init.orthogonal_(self.weight)

    def forward(self, x):
        """Virtual channels of ``x`` (batch, n_channels, n_times): (batch, n_filters, n_times)."""
        return torch.einsum("kc,bct->bkt", self.weight.to(x.dtype), x)

    def embed(self, embeddings):
        """Channel embeddings of the virtual channels, from the electrodes' ``embeddings``.

        Parameters
        ----------
        embeddings : torch.Tensor of shape (..., n_channels, d)

        Returns
        -------
        torch.Tensor of shape (..., n_filters, d)
            Each filter's energy-weighted mean of the electrodes' embeddings.
        """
        energy = self.weight.square()
        energy = energy / energy.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return energy.to(embeddings.dtype) @ embeddings

    def features(self, encoder, x, channels, embedding):
        """What a head reads from the virtual channels of ``x``.

        Parameters
        ----------
        encoder : sk_cria.model.CRIA
        x : torch.Tensor of shape (batch, n_channels, n_times)
        channels : LongTensor of shape (n_channels, 2) or (batch, n_channels, 2)
            The electrodes' vocabulary index pairs.
        embedding : {"pooled", "channels", "covariance"}

        Returns
        -------
        torch.Tensor of shape (batch, n_features)
            ``embed_dim``, ``n_filters * 3 * d_model`` or ``n_filters *
            (n_filters + 1) / 2`` features.
        """
        if embedding not in SPATIAL_EMBEDDINGS:
            raise ValueError(f"embedding must be one of {SPATIAL_EMBEDDINGS} with spatial "
                             f"filters; got {embedding!r}.")
        virtual = self(x)
        if embedding == "covariance":
            return tangent_features(virtual)
        coded = self.embed(encoder.channel_embedding(channels.to(x.device)))
        return encoder.features(virtual, coded, embedding)
